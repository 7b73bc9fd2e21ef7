package peft

import (
	"encoding/binary"
	"math"
	"slices"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/safetensors"
	"github.com/fovea-ml/fovea/tensor"
)

// sigma64 reads numpy's singular values (F64) from svd.safetensors.
func sigma64(t *testing.T, name string) []float64 {
	t.Helper()
	f, err := safetensors.Open(testdata("svd.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	raw, info, err := f.Raw(name)
	if err != nil || info.DType != safetensors.F64 {
		t.Fatalf("%s: %v (%v)", name, err, info.DType)
	}
	out := make([]float64, len(raw)/8)
	for i := range out {
		out[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
	}
	return out
}

func svdDicts(t *testing.T) (base, tuned map[string]*tensor.Tensor) {
	f := readFixture(t, "svd")
	base, tuned = map[string]*tensor.Tensor{}, map[string]*tensor.Tensor{}
	for _, n := range []string{"low", "conv", "full"} {
		base[n+".weight"] = f.get(t, n+".weight.base")
		tuned[n+".weight"] = f.get(t, n+".weight.tuned")
	}
	return base, tuned
}

func reportOf(reps []ExtractReport, module string) ExtractReport {
	for _, r := range reps {
		if r.Module == module {
			return r
		}
	}
	return ExtractReport{}
}

// TestExtractLoRARecoversLowRank: a rank-3 (Linear) and a rank-2 (Conv2d)
// ΔW are recovered at their rank, by a fixed rank and by an energy
// threshold, with the singular values numpy computed.
func TestExtractLoRARecoversLowRank(t *testing.T) {
	base, tuned := svdDicts(t)
	for _, opt := range []ExtractOptions{
		{TargetModules: Names("low", "conv"), Energy: 0.999999},
		{TargetModules: Regex(`low|conv`), Rank: 3},
	} {
		ck, reps, err := ExtractLoRA(base, tuned, opt)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			module string
			rank   int
		}{{"low", 3}, {"conv", 2}} {
			r := reportOf(reps, c.module)
			want := sigma64(t, c.module+".sigma")
			wantRank := c.rank
			if opt.Rank > 0 {
				wantRank = min(opt.Rank, len(want))
			}
			if r.Rank != wantRank {
				t.Errorf("%s (%+v): rank %d, want %d (σ %v)", c.module, opt, r.Rank, wantRank, r.Singular)
			}
			for i := range want {
				if math.Abs(r.Singular[i]-want[i]) > 1e-9*want[0] {
					t.Errorf("%s: σ_%d = %.12g, numpy %.12g", c.module, i, r.Singular[i], want[i])
				}
			}
			if r.RelError > 2e-6 || r.Energy < 1-1e-9 {
				t.Errorf("%s rank %d: relative error %.3g, energy %.12f", c.module, r.Rank, r.RelError, r.Energy)
			}
			t.Logf("%s", r)
		}
		c := ck.Config.(*LoraConfig)
		if opt.Rank == 0 && (c.R != 3 || c.LoraAlpha != 3 || c.RankPattern["conv"] != 2 || c.AlphaPattern["conv"] != 2 || len(c.RankPattern) != 1) {
			t.Errorf("config %+v: want r = α = 3, conv at 2 by rank_pattern/alpha_pattern", c)
		}
		if !slices.Equal(c.TargetModules.Names, []string{"conv", "low"}) {
			t.Errorf("target_modules %v", c.TargetModules)
		}
	}
}

// TestExtractLoRAEnergy: on a full-rank ΔW the rank chosen for a threshold,
// the energy kept and the residual agree with numpy's singular values.
func TestExtractLoRAEnergy(t *testing.T) {
	base, tuned := svdDicts(t)
	sigma := sigma64(t, "full.sigma")
	var total float64
	for _, s := range sigma {
		total += s * s
	}
	_, reps, err := ExtractLoRA(base, tuned, ExtractOptions{TargetModules: Names("full"), Rank: 1})
	if err != nil {
		t.Fatal(err)
	}
	worst := 0.0
	for i, s := range sigma {
		worst = max(worst, math.Abs(reps[0].Singular[i]-s)/sigma[0])
	}
	if worst > 1e-12 {
		t.Errorf("full-rank ΔW: singular values differ from numpy's by %.3g (relative to σ₁)", worst)
	}
	t.Logf("full-rank ΔW: σ %v; max |σ − σ_numpy|/σ₁ = %.2g", sigma, worst)
	for _, th := range []float64{0.5, 0.8, 0.9, 0.95, 0.99, 1} {
		want, acc := len(sigma), 0.0
		for i, s := range sigma {
			acc += s * s
			if acc/total >= th-1e-12 {
				want = i + 1
				break
			}
		}
		var keep, rest float64
		for i, s := range sigma {
			if i < want {
				keep += s * s
			} else {
				rest += s * s
			}
		}
		_, reps, err := ExtractLoRA(base, tuned, ExtractOptions{TargetModules: Names("full"), Energy: th})
		if err != nil {
			t.Fatal(err)
		}
		r := reps[0]
		if r.Rank != want || math.Abs(r.Energy-keep/total) > 1e-12 {
			t.Errorf("energy %v: rank %d, energy %.12f; numpy gives rank %d, energy %.12f", th, r.Rank, r.Energy, want, keep/total)
		}
		// The residual of the best rank-r approximation is √(Σ_{i>r} σ_i²).
		if math.Abs(r.Error-math.Sqrt(rest)) > 1e-6*math.Sqrt(total) || math.Abs(r.Norm-math.Sqrt(total)) > 1e-9*r.Norm {
			t.Errorf("energy %v: ‖ΔW−BA‖ %.9g, √Σ_{i>r}σ² %.9g; ‖ΔW‖ %.9g vs %.9g", th, r.Error, math.Sqrt(rest), r.Norm, math.Sqrt(total))
		}
	}
	if _, reps, err = ExtractLoRA(base, tuned, ExtractOptions{TargetModules: Names("full"), Energy: 0.999, MaxRank: 2}); err != nil {
		t.Fatal(err)
	}
	if reps[0].Rank != 2 {
		t.Errorf("MaxRank 2: rank %d", reps[0].Rank)
	}
	for _, opt := range []ExtractOptions{{TargetModules: Names("full")}, {TargetModules: Names("full"), Energy: 1.5}, {Rank: 2}, {TargetModules: Names("nothing"), Rank: 2}} {
		if _, _, err := ExtractLoRA(base, tuned, opt); err == nil {
			t.Errorf("%+v: no error", opt)
		}
	}
	// An unchanged weight is reported at rank 0 and left out.
	_, reps, err = ExtractLoRA(base, map[string]*tensor.Tensor{"low.weight": base["low.weight"], "full.weight": tuned["full.weight"]},
		ExtractOptions{TargetModules: Names("low", "full"), Rank: 2})
	if err != nil || reportOf(reps, "low").Rank != 0 || reportOf(reps, "full").Rank != 2 {
		t.Errorf("unchanged weight: %v %+v", err, reps)
	}
}

// svdNet holds the weights of svd.safetensors as layers.
type svdNet struct {
	Low  *nn.Linear
	Conv *nn.Conv2d
	Full *nn.Linear
}

// TestExtractedCheckpointLoads: the extracted adapter saves, loads onto the
// base model, and merging it gives the fine-tuned weights.
func TestExtractedCheckpointLoads(t *testing.T) {
	base, tuned := svdDicts(t)
	ck, _, err := ExtractLoRA(base, tuned, ExtractOptions{TargetModules: Names("low", "conv"), Energy: 0.999999})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := ck.Save(dir); err != nil {
		t.Fatal(err)
	}
	net := &svdNet{
		Low:  &nn.Linear{Weight: base["low.weight"].Clone()},
		Conv: &nn.Conv2d{Weight: base["conv.weight"].Clone()},
		Full: &nn.Linear{Weight: base["full.weight"].Clone()},
	}
	pm, err := FromPretrained(net, dir, nil, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pm.MergeAndUnload(true); err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]*tensor.Tensor{"low.weight": net.Low.Weight, "conv.weight": net.Conv.Weight} {
		if d := maxAbsDiff(got.Data(), tuned[name].Data()); d > 1e-6 {
			t.Errorf("%s: base + extracted LoRA differs from the fine-tuned weight by %.3g", name, d)
		}
	}
	if d := maxAbsDiff(net.Full.Weight.Data(), base["full.weight"].Data()); d != 0 {
		t.Errorf("full (not extracted) changed by %g", d)
	}
}

// TestExtractLoRAFromModels: on two tiny models whose Embedding, Conv2d,
// MultiheadAttention (in-projection and out_proj) and Linear differ by
// low-rank updates, the extraction recovers them exactly.
func TestExtractLoRAFromModels(t *testing.T) {
	base := newTinyNet(newRng(1))
	tuned := cloneTiny(t, base)
	rng := newRng(9)
	lowRank := func(w *tensor.Tensor, rows, cols, r int) {
		u := tensor.RandNormal(rng, 0, 0.3, rows, r)
		v := tensor.RandNormal(rng, 0, 0.3, r, cols)
		d := tensor.MatMul(u, v).Data()
		for i := range w.Data() {
			w.Data()[i] += d[i]
		}
	}
	lowRank(tuned.Embed.Weight, 10, 8, 2)
	lowRank(tuned.Stem.Weight, 8, 18, 1)
	lowRank(tuned.Blocks[0].Attn.InProjWeight, 24, 8, 2)
	lowRank(tuned.Blocks[0].Attn.OutProj.Weight, 8, 8, 1)
	lowRank(tuned.Blocks[1].FC.Weight, 8, 8, 3)
	ck, reps, err := ExtractLoRAFromModels(base, tuned, ExtractOptions{TargetModules: Names("embed", "stem", "blocks.0.attn", "fc"), Energy: 0.99999})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		module string
		rank   int
	}{{"embed", 2}, {"stem", 1}, {"blocks.0.attn", 2}, {"blocks.0.attn.out_proj", 1}, {"blocks.0.fc", 0}, {"blocks.1.fc", 3}} {
		if r := reportOf(reps, c.module); r.Rank != c.rank || (c.rank > 0 && r.RelError > 1e-5) {
			t.Errorf("%s: rank %d (want %d), relative error %.3g", c.module, r.Rank, c.rank, r.RelError)
		}
	}
	// blocks.0.fc is unchanged: left out; the attention's two parts share rank 2.
	pm, err := FromCheckpoint(base, ck, nil, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	idx, img := tinyInputs()
	want := tuned.Forward(idx, img)
	if e := relErr(base.Forward(idx, img), want); e > 1e-5 {
		t.Errorf("base + extracted LoRA vs fine-tuned model: %.3g", e)
	}
	if _, err := pm.MergeAndUnload(false); err != nil {
		t.Fatal(err)
	}
	tsd := nn.StateDict(tuned)
	for k, v := range nn.StateDict(base) {
		if d := maxAbsDiff(v.Data(), tsd[k].Data()); d > 1e-5 {
			t.Errorf("%s: merged extracted LoRA differs from the fine-tuned weight by %.3g", k, d)
		}
	}
}
