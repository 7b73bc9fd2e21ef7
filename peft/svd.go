package peft

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"gonum.org/v1/gonum/mat"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/tensor"
)

// ExtractOptions configure ExtractLoRA: which layers, and the rank — a
// fixed Rank, or the smallest rank keeping a fraction Energy of ΔW's
// squared Frobenius norm (Σ_{i≤r} σ_i² / Σ σ_i² ≥ Energy).
type ExtractOptions struct {
	// TargetModules and ExcludeModules select the layers by module name, as
	// LoraConfig's.
	TargetModules, ExcludeModules Patterns
	// Rank, if positive, is every layer's rank (at most min(rows, cols)).
	Rank int
	// Energy, used when Rank is 0, is the fraction in (0, 1] of the energy
	// each layer keeps; MaxRank, if positive, caps the rank it gives.
	Energy  float64
	MaxRank int
	// TaskType and BaseModelNameOrPath are copied into the configuration.
	TaskType, BaseModelNameOrPath string
}

// ExtractReport describes one extracted layer.
type ExtractReport struct {
	Module string // module name (for nn.MultiheadAttention's out_proj, <name>.out_proj)
	Shape  []int  // the weight's shape
	// Rank is the number of singular triplets kept: 0 when ΔW is zero (the
	// layer is left out — unless the other part of its
	// nn.MultiheadAttention changed, then its factors are zero). The two
	// parts of a MultiheadAttention are saved at the larger of their ranks,
	// the smaller padded with zeros.
	Rank int
	// Energy is the fraction of ΔW's energy the rank keeps,
	// Σ_{i≤r} σ_i² / Σ σ_i² (1 for a zero ΔW).
	Energy float64
	// Norm is ‖ΔW‖_F; Error is ‖ΔW − B·A‖_F with the float32 factors
	// saved, RelError = Error / Norm (0 for a zero ΔW).
	Norm, Error, RelError float64
	// Singular holds ΔW's singular values, largest first.
	Singular []float64
}

// String formats the report as one line.
func (r ExtractReport) String() string {
	return fmt.Sprintf("%s %s: rank %d, energy %.6f, ‖ΔW−BA‖ %.3g (relative %.3g)", r.Module, tensor.FormatShape(r.Shape), r.Rank, r.Energy, r.Error, r.RelError)
}

// extraction is one weight difference to factor, in LoRA's orientation
// (rows = B's rows, cols = A's columns).
type extraction struct {
	module, key string
	group       string // layers that must share a rank (nn.MultiheadAttention and its out_proj)
	shape       []int  // the weight's shape
	aShape      []int
	bShape      []int
	rows, cols  int
	delta       []float64 // rows × cols
	embedding   bool
	sigma       []float64
	u, v        *mat.Dense
	rank        int
}

// ExtractLoRA approximates a full fine-tune by LoRA: for each selected
// weight it takes ΔW = W_tuned − W_base, its SVD in float64 (gonum), and
// keeps r singular triplets: B = U_r·S_r, A = V_rᵀ, so B·A is the best rank-r
// approximation of ΔW. base and tuned are state dicts (nn.StateDict); a
// module m is a layer when m.weight is 2-D (a Linear, (out, in)) or 4-D (a
// Conv2d, (out, in, kh, kw)) in both. Embeddings, LinearModule layers and
// nn.MultiheadAttention need the models: see ExtractLoRAFromModels.
//
// The result is a LoRA checkpoint with scaling 1 (lora_alpha = r, and
// rank_pattern/alpha_pattern for layers whose rank differs from the most
// common one), targeting the extracted modules by name; save it with Save or
// add it to a Model with AddCheckpoint. The reports give each layer's rank,
// kept energy and error. Layers whose ΔW is zero are reported with rank 0
// and left out; if none is left, it is an error.
func ExtractLoRA(base, tuned map[string]*tensor.Tensor, opt ExtractOptions) (*Checkpoint, []ExtractReport, error) {
	tm, em, err := extractPatterns(opt)
	if err != nil {
		return nil, nil, err
	}
	var xs []*extraction
	var names []string
	for _, key := range sortedKeys(base) {
		mod, ok := strings.CutSuffix(key, ".weight")
		if !ok {
			continue
		}
		bw, tw := base[key], tuned[key]
		if bw.Dim() != 2 && bw.Dim() != 4 {
			continue
		}
		names = append(names, mod)
		if em.match(mod, bw.Dim() == 2) || !tm.match(mod, bw.Dim() == 2) {
			continue
		}
		if tw == nil {
			return nil, nil, fmt.Errorf("peft: ExtractLoRA: the fine-tuned state dict has no %q", key)
		}
		k := kindLinear
		if bw.Dim() == 4 {
			k = kindConv
		}
		x, err := newExtraction(mod, mod, mod, k, false, bw, tw)
		if err != nil {
			return nil, nil, err
		}
		xs = append(xs, x)
	}
	if len(xs) == 0 {
		return nil, nil, fmt.Errorf("peft: ExtractLoRA: target_modules %s matched no 2-D or 4-D weight; modules are named like %s", opt.TargetModules, sampleNames(names, 8))
	}
	return extract(xs, opt)
}

// ExtractLoRAFromModels is ExtractLoRA on two models of the same
// architecture, which also handles Embedding (lora_embedding_A/B),
// LinearModule layers stored (in, out) and nn.MultiheadAttention (its
// packed in-projection and out_proj, at one rank). Module names are
// nn.NamedModules'; the selection rules are NewModel's.
func ExtractLoRAFromModels(base, tuned any, opt ExtractOptions) (*Checkpoint, []ExtractReport, error) {
	if _, _, err := extractPatterns(opt); err != nil {
		return nil, nil, err
	}
	targets, err := findTargets(base, opt.TargetModules, opt.ExcludeModules)
	if err != nil {
		return nil, nil, err
	}
	bnames := map[*tensor.Tensor]string{}
	for _, p := range nn.NamedParameters(base) {
		bnames[p.Tensor] = p.Name
	}
	tunedSD := nn.StateDict(tuned)
	var xs []*extraction
	for _, t := range targets {
		s := t.site
		name := bnames[s.weight]
		tw := tunedSD[name]
		if name == "" || tw == nil {
			return nil, nil, fmt.Errorf("peft: ExtractLoRAFromModels: the fine-tuned model (%T) has no %q", tuned, name)
		}
		group := s.name
		if strings.Contains(t.key, ".base_layer.") {
			group = strings.TrimSuffix(s.name, ".out_proj")
		}
		x, err := newExtraction(s.name, t.key, group, s.kind, s.inOut, s.weight, tw)
		if err != nil {
			return nil, nil, err
		}
		xs = append(xs, x)
	}
	return extract(xs, opt)
}

func extractPatterns(opt ExtractOptions) (*matcher, *matcher, error) {
	if opt.TargetModules.IsZero() {
		return nil, nil, fmt.Errorf("peft: ExtractLoRA: target_modules is empty")
	}
	if opt.Rank < 0 || (opt.Rank == 0 && !(opt.Energy > 0 && opt.Energy <= 1)) {
		return nil, nil, fmt.Errorf("peft: ExtractLoRA: rank %d, energy %v: set a positive rank or an energy in (0, 1]", opt.Rank, opt.Energy)
	}
	tm, err := compilePatterns("target_modules", opt.TargetModules)
	if err != nil {
		return nil, nil, err
	}
	em, err := compilePatterns("exclude_modules", opt.ExcludeModules)
	if err != nil {
		return nil, nil, err
	}
	if opt.ExcludeModules.IsZero() {
		em = nil
	}
	return tm, em, nil
}

// newExtraction computes ΔW in float64 in LoRA's orientation and its SVD.
func newExtraction(module, key, group string, k kind, inOut bool, bw, tw *tensor.Tensor) (*extraction, error) {
	if !tensor.SameShape(bw.Shape(), tw.Shape()) {
		return nil, fmt.Errorf("peft: ExtractLoRA: %q has shape %s in the base model and %s in the fine-tuned one",
			module, tensor.FormatShape(bw.Shape()), tensor.FormatShape(tw.Shape()))
	}
	sh := bw.Shape()
	x := &extraction{module: module, key: key, group: group, shape: slices.Clone(sh)}
	bd, td := bw.Data(), tw.Data()
	d := make([]float64, len(bd))
	for i := range d {
		d[i] = float64(td[i]) - float64(bd[i])
	}
	switch {
	case k == kindConv:
		x.rows, x.cols = sh[0], sh[1]*sh[2]*sh[3]
	case k == kindEmbedding:
		// B·A = ΔEᵀ (dim, num).
		x.rows, x.cols, x.embedding = sh[1], sh[0], true
		d = transpose64(d, sh[0], sh[1])
	case inOut:
		x.rows, x.cols = sh[1], sh[0]
		d = transpose64(d, sh[0], sh[1])
	default:
		x.rows, x.cols = sh[0], sh[1]
	}
	x.delta = d
	for _, v := range d {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("peft: ExtractLoRA: ΔW of %q is not finite", module)
		}
	}
	var svd mat.SVD
	if !svd.Factorize(mat.NewDense(x.rows, x.cols, slices.Clone(d)), mat.SVDThin) {
		return nil, fmt.Errorf("peft: ExtractLoRA: the SVD of ΔW of %q (%d×%d) did not converge", module, x.rows, x.cols)
	}
	x.sigma = svd.Values(nil)
	x.u, x.v = &mat.Dense{}, &mat.Dense{}
	svd.UTo(x.u)
	svd.VTo(x.v)
	switch {
	case k == kindConv:
		x.aShape = []int{0, sh[1], sh[2], sh[3]}
		x.bShape = []int{sh[0], 0, 1, 1}
	default:
		x.aShape = []int{0, x.cols}
		x.bShape = []int{x.rows, 0}
	}
	return x, nil
}

// chooseRank returns the rank for x: opt.Rank, or the smallest keeping
// opt.Energy; 0 for a zero ΔW.
func chooseRank(x *extraction, opt ExtractOptions) int {
	var total float64
	for _, s := range x.sigma {
		total += s * s
	}
	if total == 0 {
		return 0
	}
	if opt.Rank > 0 {
		return min(opt.Rank, len(x.sigma))
	}
	var acc float64
	r := len(x.sigma)
	for i, s := range x.sigma {
		acc += s * s
		// A relative slack of 1e-12 absorbs rounding in the sums, so that
		// Energy 1 keeps exactly the nonzero part.
		if acc >= opt.Energy*total*(1-1e-12) {
			r = i + 1
			break
		}
	}
	if opt.MaxRank > 0 {
		r = min(r, opt.MaxRank)
	}
	return r
}

func extract(xs []*extraction, opt ExtractOptions) (*Checkpoint, []ExtractReport, error) {
	groupRank := map[string]int{}
	for _, x := range xs {
		x.rank = chooseRank(x, opt)
		groupRank[x.group] = max(groupRank[x.group], x.rank)
	}
	counts := map[int]int{}
	var reports []ExtractReport
	var ts []nn.Named
	var kept []string
	rankOf := map[string]int{}
	for _, x := range xs {
		gr := groupRank[x.group]
		if gr == 0 {
			reports = append(reports, ExtractReport{Module: x.module, Shape: x.shape, Energy: 1, Singular: x.sigma})
			continue
		}
		// A layer of a group (nn.MultiheadAttention's two parts) may keep fewer
		// triplets than the group's rank: its factors are padded with zeros.
		r := x.rank
		a, b := factors(x, r)
		rep := ExtractReport{Module: x.module, Shape: x.shape, Rank: r, Singular: x.sigma}
		var total, keep float64
		for i, s := range x.sigma {
			total += s * s
			if i < r {
				keep += s * s
			}
		}
		rep.Energy = 1
		if total > 0 {
			rep.Energy = keep / total
		}
		rep.Norm = math.Sqrt(total)
		rep.Error = residual(x, a, b, r)
		if rep.Norm > 0 {
			rep.RelError = rep.Error / rep.Norm
		}
		reports = append(reports, rep)
		if r < gr {
			// Pad to the group's rank with zero rows of A and columns of B.
			a, b = padRank(x, a, b, r, gr)
		}
		aT, bT := tensor.New(a, withRank(x.aShape, gr)...), tensor.New(b, withRank(x.bShape, gr)...)
		if x.embedding {
			ts = append(ts, nn.Named{Name: keyPrefix + x.key + ".lora_embedding_A", Tensor: aT}, nn.Named{Name: keyPrefix + x.key + ".lora_embedding_B", Tensor: bT})
		} else {
			ts = append(ts, nn.Named{Name: keyPrefix + x.key + ".lora_A.weight", Tensor: aT}, nn.Named{Name: keyPrefix + x.key + ".lora_B.weight", Tensor: bT})
		}
		if !slices.Contains(kept, x.group) {
			kept = append(kept, x.group)
			rankOf[x.group] = gr
			counts[gr]++
		}
	}
	if len(kept) == 0 {
		return nil, reports, fmt.Errorf("peft: ExtractLoRA: every selected weight is unchanged (ΔW = 0)")
	}
	// The most common rank is r; the others go to rank_pattern.
	common := 0
	for r, n := range counts {
		if n > counts[common] || (n == counts[common] && r > common) {
			common = r
		}
	}
	cfg := &LoraConfig{R: common, LoraAlpha: float64(common), TargetModules: Names(kept...)}
	cfg.TaskType, cfg.BaseModelNameOrPath = opt.TaskType, opt.BaseModelNameOrPath
	for _, g := range kept {
		if r := rankOf[g]; r != common {
			if cfg.RankPattern == nil {
				cfg.RankPattern, cfg.AlphaPattern = map[string]int{}, map[string]float64{}
			}
			cfg.RankPattern[g], cfg.AlphaPattern[g] = r, float64(r)
		}
	}
	return &Checkpoint{Config: cfg, Tensors: ts}, reports, nil
}

// factors returns A = V_rᵀ (r × cols) and B = U_r·S_r (rows × r) in float32.
func factors(x *extraction, r int) (a, b []float32) {
	a = make([]float32, r*x.cols)
	b = make([]float32, x.rows*r)
	for k := 0; k < r; k++ {
		for j := 0; j < x.cols; j++ {
			a[k*x.cols+j] = float32(x.v.At(j, k))
		}
		for i := 0; i < x.rows; i++ {
			b[i*r+k] = float32(x.u.At(i, k) * x.sigma[k])
		}
	}
	return a, b
}

// residual returns ‖ΔW − B·A‖_F in float64 with the float32 factors.
func residual(x *extraction, a, b []float32, r int) float64 {
	ba := matMul64(b, a, x.rows, r, x.cols, 1)
	var s float64
	for i, v := range x.delta {
		d := v - ba[i]
		s += d * d
	}
	return math.Sqrt(s)
}

// padRank widens A (r × cols) and B (rows × r) to rank gr with zeros.
func padRank(x *extraction, a, b []float32, r, gr int) ([]float32, []float32) {
	a2 := make([]float32, gr*x.cols)
	copy(a2, a)
	b2 := make([]float32, x.rows*gr)
	for i := 0; i < x.rows; i++ {
		copy(b2[i*gr:i*gr+r], b[i*r:(i+1)*r])
	}
	return a2, b2
}

// withRank returns shape with its 0 replaced by r.
func withRank(shape []int, r int) []int {
	out := slices.Clone(shape)
	for i, v := range out {
		if v == 0 {
			out[i] = r
		}
	}
	return out
}
