package lm

import (
	"math"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/nn/functional"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/tensor"
	"github.com/fovea-ml/fovea/tensor/tensortest"
)

func tinyConfig(ffn, norm string) Config {
	c := DefaultConfig()
	c.VocabSize, c.NPositions, c.NEmbd, c.NLayer, c.NHead = 11, 16, 8, 2, 2
	c.FeedForward, c.Norm = ffn, norm
	return c
}

var variants = [][2]string{{"gelu", "layernorm"}, {"swiglu", "rmsnorm"}, {"swiglu", "layernorm"}, {"gelu", "rmsnorm"}}

// newTiny returns a small random model in evaluation mode, its weights scaled up from
// GPT-2's 0.02 so that every path carries signal.
func newTiny(t testing.TB, cfg Config, seed uint64) *Model {
	t.Helper()
	m, err := New(rand.New(rand.NewPCG(seed, 1)), cfg)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 2))
	for _, p := range nn.NamedParameters(m) {
		d := p.Tensor.Data()
		for i := range d {
			d[i] += float32(rng.NormFloat64() * 0.3)
		}
	}
	nn.Eval(m)
	return m
}

func randn(rng *rand.Rand, std float32, shape ...int) *tensor.Tensor {
	return tensor.RandNormal(rng, 0, std, shape...)
}

func TestAttentionGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for _, c := range []struct {
		name       string
		b, h, t, p int
		drop       float32
	}{
		{"no past", 2, 2, 3, 0, 0},
		{"past", 2, 2, 3, 2, 0},
		{"one query", 1, 3, 1, 4, 0},
		{"dropout", 1, 2, 3, 2, 0.3},
		{"broadcast past", 3, 2, 2, 2, 0},
	} {
		d := 4
		qkv := randn(rng, 1, c.b, c.t, 3*c.h*d).SetRequiresGrad(true)
		in := []*tensor.Tensor{qkv}
		if c.p > 0 {
			pb := c.b
			if c.name == "broadcast past" {
				pb = 1
			}
			in = append(in, randn(rng, 1, pb, c.h, c.p, d).SetRequiresGrad(true), randn(rng, 1, pb, c.h, c.p, d).SetRequiresGrad(true))
		}
		f := func(in []*tensor.Tensor) *tensor.Tensor {
			var pk, pv *tensor.Tensor
			if len(in) > 1 {
				pk, pv = in[1], in[2]
			}
			return attention(in[0], pk, pv, c.h, 0.5, c.drop, rand.New(rand.NewPCG(9, 9))) // the same mask every call
		}
		tensortest.GradCheck(t, "attention "+c.name, f, in, tensortest.GradCheckOptions{})
	}
}

// TestAttentionReference compares the fused attention with the same computation built
// from tensor operations (explicit causal mask, Softmax, MatMul).
func TestAttentionReference(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	b, h, tq, p, d := 2, 3, 4, 3, 5
	qkv := randn(rng, 1, b, tq, 3*h*d)
	pk, pv := randn(rng, 1, b, h, p, d), randn(rng, 1, b, h, p, d)
	got := attention(qkv, pk, pv, h, 0.7, 0, nil)
	heads := func(i int) *tensor.Tensor {
		return tensor.Permute(tensor.Reshape(tensor.Narrow(qkv, 2, i*h*d, h*d), b, tq, h, d), 0, 2, 1, 3)
	}
	q := heads(0)
	k := tensor.Cat([]*tensor.Tensor{pk, heads(1)}, 2)
	v := tensor.Cat([]*tensor.Tensor{pv, heads(2)}, 2)
	mask := tensor.Zeros(tq, p+tq)
	for i := 0; i < tq; i++ {
		for j := p + i + 1; j < p+tq; j++ {
			mask.Set(float32(math.Inf(-1)), i, j)
		}
	}
	s := tensor.Add(tensor.MulScalar(tensor.MatMul(q, tensor.Transpose(k, 2, 3)), 0.7), mask)
	o := tensor.MatMul(tensor.Softmax(s, -1), v)
	want := tensor.Reshape(tensor.Permute(o, 0, 2, 1, 3), b, tq, h*d)
	if err := tensortest.AllClose(got, want, 1e-5, 1e-6); err != nil {
		t.Error(err)
	}
}

// TestOpsGradCheck checks the fused operations of ops.go by finite differences and
// against their definitions.
func TestOpsGradCheck(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	x := randn(rng, 1, 3, 2, 5).SetRequiresGrad(true)
	w := randn(rng, 1, 5).SetRequiresGrad(true)
	tensortest.GradCheck(t, "RMSNorm", func(in []*tensor.Tensor) *tensor.Tensor { return rmsNorm(in[0], in[1], 1e-5) },
		[]*tensor.Tensor{x, w}, tensortest.GradCheckOptions{})
	cw := randn(rng, 1, 5, 4).SetRequiresGrad(true)
	cb := randn(rng, 1, 4).SetRequiresGrad(true)
	tensortest.GradCheck(t, "Conv1D", func(in []*tensor.Tensor) *tensor.Tensor { return conv1D(in[0], in[1], in[2]) },
		[]*tensor.Tensor{x, cw, cb}, tensortest.GradCheckOptions{})
	// RMSNorm against its definition.
	got := rmsNorm(x.Detach(), w.Detach(), 1e-5)
	ms := tensor.Mean(tensor.Mul(x.Detach(), x.Detach()), []int{-1}, true)
	want := tensor.Mul(tensor.Div(x.Detach(), tensor.Sqrt(tensor.AddScalar(ms, 1e-5))), w.Detach())
	if err := tensortest.AllClose(got, want, 1e-5, 1e-6); err != nil {
		t.Error(err)
	}
	// gelu_new against nn/functional's tanh GELU, over a wide range.
	gx := tensor.Arange(-12, 12, 0.01)
	if err := tensortest.AllClose(geluNew(gx), functional.GELU(gx, functional.GELUTanh), 1e-5, 1e-7); err != nil {
		t.Errorf("geluNew: %v", err)
	}
	tensortest.GradCheck(t, "geluNew", func(in []*tensor.Tensor) *tensor.Tensor { return geluNew(in[0]) },
		[]*tensor.Tensor{x}, tensortest.GradCheckOptions{})
	tensortest.GradCheck(t, "dropout", func(in []*tensor.Tensor) *tensor.Tensor {
		return dropout(in[0], 0.4, rand.New(rand.NewPCG(1, 1)))
	}, []*tensor.Tensor{x}, tensortest.GradCheckOptions{})
}

// TestDropoutStatistics: the fraction dropped and the mean kept, on 2²⁰ elements.
func TestDropoutStatistics(t *testing.T) {
	x := tensor.Ones(1 << 20)
	for _, p := range []float32{0.1, 0.5} {
		y := dropout(x, p, rand.New(rand.NewPCG(2, 3)))
		zeros := 0
		var sum float64
		for _, v := range y.Data() {
			if v == 0 {
				zeros++
			}
			sum += float64(v)
		}
		n := float64(x.Size())
		if f := float64(zeros) / n; math.Abs(f-float64(p)) > 0.003 {
			t.Errorf("p %v: dropped %.4f", p, f)
		}
		if m := sum / n; math.Abs(m-1) > 0.006 {
			t.Errorf("p %v: mean %.4f", p, m)
		}
	}
}

// TestPrefixGradCheck checks by finite differences the gradient of the logits with
// respect to a prefix past (batch 1, broadcast to 2) through the whole model, for each
// variant.
func TestPrefixGradCheck(t *testing.T) {
	for _, v := range variants {
		t.Run(v[0]+"+"+v[1], func(t *testing.T) {
			cfg := tinyConfig(v[0], v[1])
			m := newTiny(t, cfg, 11)
			nn.Freeze(m)
			rng := rand.New(rand.NewPCG(12, 13))
			var inputs []*tensor.Tensor
			for i := 0; i < cfg.NLayer; i++ {
				inputs = append(inputs, randn(rng, 0.5, 1, cfg.NHead, 2, cfg.HeadDim()).SetRequiresGrad(true),
					randn(rng, 0.5, 1, cfg.NHead, 2, cfg.HeadDim()).SetRequiresGrad(true))
			}
			ids := IDs([]int{1, 5, 9}, []int{10, 0, 3})
			f := func(in []*tensor.Tensor) *tensor.Tensor {
				past := make([]KV, cfg.NLayer)
				for i := range past {
					past[i] = KV{K: in[2*i], V: in[2*i+1]}
				}
				return m.ForwardWith(ids, ForwardOptions{Past: past}).Logits
			}
			tensortest.GradCheck(t, "prefix", f, inputs, tensortest.GradCheckOptions{})
		})
	}
}

// TestCacheAndPrefix: for each variant on random weights, chunked cached forwards equal
// the full forward, with and without a prefix, and a batch-1 past equals the same past
// repeated over the batch.
func TestCacheAndPrefix(t *testing.T) {
	for _, v := range variants {
		t.Run(v[0]+"+"+v[1], func(t *testing.T) {
			cfg := tinyConfig(v[0], v[1])
			m := newTiny(t, cfg, 21)
			rng := rand.New(rand.NewPCG(22, 23))
			ids := IDs([]int{1, 2, 3, 4, 5, 6, 7}, []int{7, 6, 5, 4, 3, 2, 1})
			var prefix, prefix2 []KV
			for i := 0; i < cfg.NLayer; i++ {
				k, v := randn(rng, 0.5, 1, cfg.NHead, 3, cfg.HeadDim()), randn(rng, 0.5, 1, cfg.NHead, 3, cfg.HeadDim())
				prefix = append(prefix, KV{k, v})
				prefix2 = append(prefix2, KV{tensor.Cat([]*tensor.Tensor{k, k}, 0), tensor.Cat([]*tensor.Tensor{v, v}, 0)})
			}
			for _, pre := range [][]KV{nil, prefix} {
				full := m.ForwardWith(ids, ForwardOptions{Past: pre}).Logits
				past := pre
				var parts []*tensor.Tensor
				for pos, c := range []int{3, 1, 2, 1} {
					_ = pos
					off := 0
					for _, p := range parts {
						off += p.SizeOf(1)
					}
					out := m.ForwardWith(tensor.Narrow(ids, 1, off, c), ForwardOptions{Past: past, PosOffset: off, Cache: true})
					parts = append(parts, out.Logits)
					past = out.Present
				}
				if err := tensortest.AllClose(tensor.Cat(parts, 1), full, 1e-5, 1e-5); err != nil {
					t.Errorf("prefix %v: %v", pre != nil, err)
				}
				if want := 7 + len(pre)/cfg.NLayer*3; past[0].Len() != want {
					t.Errorf("present holds %d positions, want %d", past[0].Len(), want)
				}
			}
			a := m.ForwardWith(ids, ForwardOptions{Past: prefix}).Logits
			b := m.ForwardWith(ids, ForwardOptions{Past: prefix2}).Logits
			if err := tensortest.AllClose(a, b, 0, 0); err != nil {
				t.Errorf("broadcast past: %v", err)
			}
			// LastOnly gives the last row of the logits.
			last := m.ForwardWith(ids, ForwardOptions{LastOnly: true}).Logits
			if err := tensortest.AllClose(last, tensor.Narrow(m.Forward(ids), 1, 6, 1), 1e-6, 1e-6); err != nil {
				t.Errorf("LastOnly: %v", err)
			}
		})
	}
}

// TestPositionOffset: PosOffset moves the position embeddings and nothing else.
func TestPositionOffset(t *testing.T) {
	m := newTiny(t, tinyConfig("gelu", "layernorm"), 31)
	ids := IDs([]int{3, 4, 5})
	a := m.ForwardWith(ids, ForwardOptions{PosOffset: 2}).Logits
	// The same with wpe shifted by two rows and no offset.
	w := m.WPE.Weight
	shifted := tensor.Cat([]*tensor.Tensor{tensor.Narrow(w, 0, 2, w.SizeOf(0)-2), tensor.Narrow(w, 0, 0, 2)}, 0)
	orig := m.WPE.Weight
	m.WPE.Weight = shifted
	b := m.Forward(ids)
	m.WPE.Weight = orig
	if err := tensortest.AllClose(a, b, 0, 0); err != nil {
		t.Error(err)
	}
	defer func() {
		if recover() == nil {
			t.Error("positions past n_positions did not panic")
		}
	}()
	m.ForwardWith(ids, ForwardOptions{PosOffset: 14})
}

func TestDropout(t *testing.T) {
	cfg := tinyConfig("gelu", "layernorm")
	m := newTiny(t, cfg, 41)
	ids := IDs([]int{1, 2, 3, 4})
	eval := m.Forward(ids)
	nn.SetTraining(m, true)
	m.Rng = rand.New(rand.NewPCG(1, 1))
	a := m.Forward(ids)
	m.Rng = rand.New(rand.NewPCG(1, 1))
	b := m.Forward(ids)
	if err := tensortest.AllClose(a, b, 0, 0); err != nil {
		t.Errorf("same seed, different dropout: %v", err)
	}
	if tensortest.AllClose(a, eval, 1e-3, 1e-3) == nil {
		t.Error("training mode applied no dropout")
	}
	m.Rng = nil
	defer func() {
		if recover() == nil {
			t.Error("dropout without Rng did not panic")
		}
	}()
	m.Forward(ids)
}

// TestTrainLossDecreases trains each variant with AdamW on a repeated byte sequence.
func TestTrainLossDecreases(t *testing.T) {
	tok, _ := NewByteTokenizer()
	text := "the cat sat on the mat. "
	seq := tok.Encode(text + text + text)[:48]
	for _, v := range variants {
		t.Run(v[0]+"+"+v[1], func(t *testing.T) {
			cfg := tinyConfig(v[0], v[1])
			cfg.VocabSize, cfg.NPositions, cfg.NEmbd, cfg.NHead = 256, 64, 32, 4
			m, err := New(rand.New(rand.NewPCG(51, 52)), cfg)
			if err != nil {
				t.Fatal(err)
			}
			ids := IDs(seq, seq)
			opt := optim.NewAdamW(optim.Params(nn.Parameters(m)...), optim.AdamWOptions{LR: 3e-3, WeightDecay: 0.01})
			var first, last float32
			for step := 0; step < 60; step++ {
				opt.ZeroGrad()
				loss := NextTokenLoss(m.Forward(ids), ids)
				loss.BackwardRelease()
				opt.Step()
				if step == 0 {
					first = loss.Item()
				}
				last = loss.Item()
			}
			t.Logf("loss %.3f → %.3f", first, last)
			if !(last < first*0.3) {
				t.Errorf("loss %.3f → %.3f: did not fall below 30%%", first, last)
			}
		})
	}
}

func TestMaskLabels(t *testing.T) {
	ids := IDs([]int{5, 6, 7, 8})
	labels := MaskLabels(ids, tensor.FromSlice([]float32{0, 0, 1, 1}, 1, 4))
	if !slices.Equal(labels.Data(), []float32{IgnoreIndex, IgnoreIndex, 7, 8}) {
		t.Errorf("labels %v", labels.Data())
	}
	// The loss averages over the counted predictions only: logits favouring the label
	// where it counts, garbage elsewhere.
	logits := tensor.Zeros(1, 4, 10)
	logits.Set(10, 0, 1, 7) // position 1 predicts label 2 (7)
	logits.Set(10, 0, 2, 8) // position 2 predicts label 3 (8)
	logits.Set(10, 0, 0, 0) // position 0 predicts the ignored label 1: not counted
	got := NextTokenLoss(logits, labels).Item()
	want := float32(math.Log(1 + 9*math.Exp(-10)))
	if math.Abs(float64(got-want)) > 1e-6 {
		t.Errorf("loss %g, want %g", got, want)
	}
}

func TestSample(t *testing.T) {
	logits := []float32{1, 3, 2, 3, 0, -1}
	if got := Sample(logits, SampleOptions{}, nil); got != 1 {
		t.Errorf("greedy %d, want 1 (the first maximum)", got)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	count := func(opt SampleOptions, n int) map[int]int {
		c := map[int]int{}
		for i := 0; i < n; i++ {
			c[Sample(logits, opt, rng)]++
		}
		return c
	}
	if c := count(SampleOptions{Temperature: 1, TopK: 2}, 2000); len(c) != 2 || c[1] == 0 || c[3] == 0 {
		t.Errorf("top-2 drew %v, want only 1 and 3", c)
	}
	if c := count(SampleOptions{Temperature: 1, TopK: 1}, 100); c[1] != 100 {
		t.Errorf("top-1 drew %v", c)
	}
	// Probabilities at T=1: tokens 1 and 3 0.389 each, 2 0.143, 0 0.053 …: top-p 0.8
	// keeps 1, 3, 2; top-p 0.5 keeps 1 and 3.
	if c := count(SampleOptions{Temperature: 1, TopP: 0.8}, 3000); len(c) != 3 || c[2] == 0 {
		t.Errorf("top-p 0.8 drew %v, want 1, 3, 2", c)
	}
	if c := count(SampleOptions{Temperature: 1, TopP: 0.5}, 1000); len(c) != 2 {
		t.Errorf("top-p 0.5 drew %v, want 1 and 3", c)
	}
	// Frequencies follow softmax(logits/T).
	c := count(SampleOptions{Temperature: 2}, 40000)
	var z float64
	for _, v := range logits {
		z += math.Exp(float64(v) / 2)
	}
	for i, v := range logits {
		p := math.Exp(float64(v)/2) / z
		f := float64(c[i]) / 40000
		if math.Abs(f-p) > 4*math.Sqrt(p*(1-p)/40000)+1e-3 {
			t.Errorf("token %d: frequency %.4f, probability %.4f", i, f, p)
		}
	}
	// The nucleus threshold does not drop tokens the nucleus needs: a flat distribution
	// over many tokens with top-p near 1.
	flat := make([]float32, 1000)
	seen := map[int]bool{}
	for i := 0; i < 20000; i++ {
		seen[Sample(flat, SampleOptions{Temperature: 1, TopP: 0.999}, rng)] = true
	}
	if len(seen) < 990 {
		t.Errorf("top-p 0.999 over 1000 equal tokens reached %d of them", len(seen))
	}
}

func TestGenerate(t *testing.T) {
	cfg := tinyConfig("gelu", "layernorm")
	cfg.NPositions = 40
	m := newTiny(t, cfg, 61)
	nn.Freeze(m)
	prompt := []int{1, 2, 3}
	// Greedy decoding with the cache equals recomputing the whole sequence each step.
	g, err := m.Generate(prompt, GenerateOptions{MaxNewTokens: 12})
	if err != nil {
		t.Fatal(err)
	}
	seq := slices.Clone(prompt)
	for i := 0; i < 12; i++ {
		logits := m.Forward(IDs(seq))
		row := logits.Data()[(len(seq)-1)*cfg.VocabSize:]
		seq = append(seq, Sample(row[:cfg.VocabSize], SampleOptions{}, nil))
	}
	if !slices.Equal(g.Tokens, seq[3:]) || g.Reason != StopLength || g.Steps != 11 {
		t.Errorf("greedy with cache %v (%v, %d steps), without %v", g.Tokens, g.Reason, g.Steps, seq[3:])
	}
	// Sampling is reproducible from the seed.
	opt := GenerateOptions{SampleOptions: SampleOptions{Temperature: 1.5, TopK: 8, TopP: 0.95}, MaxNewTokens: 20}
	opt.Rng = rand.New(rand.NewPCG(7, 7))
	a, _ := m.Generate(prompt, opt)
	opt.Rng = rand.New(rand.NewPCG(7, 7))
	b, _ := m.Generate(prompt, opt)
	opt.Rng = rand.New(rand.NewPCG(8, 8))
	c, _ := m.Generate(prompt, opt)
	if !slices.Equal(a.Tokens, b.Tokens) || len(a.Tokens) != 20 {
		t.Errorf("same seed: %v and %v", a.Tokens, b.Tokens)
	}
	if slices.Equal(a.Tokens, c.Tokens) {
		t.Errorf("different seeds gave the same %v", a.Tokens)
	}
	// A stop token ends generation and is left out.
	stop := a.Tokens[5]
	first := slices.Index(a.Tokens, stop)
	opt.Rng = rand.New(rand.NewPCG(7, 7))
	opt.StopTokens = []int{stop}
	s, _ := m.Generate(prompt, opt)
	if !slices.Equal(s.Tokens, a.Tokens[:first]) || s.Reason != StopToken || s.StopToken != stop {
		t.Errorf("stop at %d: %v (%v), want %v", stop, s.Tokens, s.Reason, a.Tokens[:first])
	}
	// The context limit and the callback.
	long, _ := m.Generate(prompt, GenerateOptions{})
	if len(long.Tokens) != cfg.NPositions-len(prompt)+1 || long.Reason != StopContext {
		t.Errorf("unbounded generation: %d tokens (%v), want %d", len(long.Tokens), long.Reason, cfg.NPositions-len(prompt)+1)
	}
	n := 0
	cb, _ := m.Generate(prompt, GenerateOptions{OnToken: func(int) bool { n++; return n < 4 }})
	if len(cb.Tokens) != 4 || cb.Reason != StopCallback {
		t.Errorf("callback: %d tokens (%v)", len(cb.Tokens), cb.Reason)
	}
	for _, bad := range []struct {
		prompt []int
		opt    GenerateOptions
	}{
		{nil, GenerateOptions{}},
		{[]int{99}, GenerateOptions{}},
		{make([]int, 41), GenerateOptions{}},
		{prompt, GenerateOptions{SampleOptions: SampleOptions{Temperature: 1}}},
		{prompt, GenerateOptions{Prefix: make([]KV, 1)}},
	} {
		if _, err := m.Generate(bad.prompt, bad.opt); err == nil {
			t.Errorf("Generate(%v, %+v): no error", bad.prompt, bad.opt)
		}
	}
}

// TestGeneratePrefix: generation after a prefix equals greedy decoding recomputed with
// the prefix as past and positions from 0, and works on a model that records graphs.
func TestGeneratePrefix(t *testing.T) {
	cfg := tinyConfig("swiglu", "rmsnorm")
	m := newTiny(t, cfg, 71) // not frozen: the forward passes record graphs
	rng := rand.New(rand.NewPCG(72, 73))
	var prefix []KV
	for i := 0; i < cfg.NLayer; i++ {
		prefix = append(prefix, KV{randn(rng, 1, 1, cfg.NHead, 4, cfg.HeadDim()).SetRequiresGrad(true),
			randn(rng, 1, 1, cfg.NHead, 4, cfg.HeadDim()).SetRequiresGrad(true)})
	}
	g, err := m.Generate([]int{4, 2}, GenerateOptions{MaxNewTokens: 6, Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	seq := []int{4, 2}
	for i := 0; i < 6; i++ {
		logits := m.ForwardWith(IDs(seq), ForwardOptions{Past: prefix}).Logits
		row := logits.Data()[(len(seq)-1)*cfg.VocabSize : len(seq)*cfg.VocabSize]
		seq = append(seq, Sample(row, SampleOptions{}, nil))
	}
	if !slices.Equal(g.Tokens, seq[2:]) {
		t.Errorf("with prefix %v, recomputed %v", g.Tokens, seq[2:])
	}
}

// TestConcurrentInference: one frozen model serves several goroutines.
func TestConcurrentInference(t *testing.T) {
	m, err := Load(testdata + "/gpt2_tiny")
	if err != nil {
		t.Fatal(err)
	}
	want, _ := m.Generate([]int{1, 2, 3}, GenerateOptions{MaxNewTokens: 10})
	var wg sync.WaitGroup
	errs := make(chan string, 8)
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, _ := m.Generate([]int{1, 2, 3}, GenerateOptions{MaxNewTokens: 10})
			if !slices.Equal(got.Tokens, want.Tokens) {
				errs <- "different tokens"
			}
		}()
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
}

// TestCrossEntropy: the fused loss equals tensor.CrossEntropy (loss and gradient) and
// passes a finite-difference check.
func TestCrossEntropy(t *testing.T) {
	rng := rand.New(rand.NewPCG(81, 82))
	x := randn(rng, 3, 6, 7).SetRequiresGrad(true)
	target := []float32{3, IgnoreIndex, 0, 6, IgnoreIndex, 2}
	got := crossEntropy(x, target)
	got.Backward()
	g1 := x.Grad().Clone()
	x.ZeroGrad()
	want := tensor.CrossEntropy(x, tensor.FromSlice(target, 6), tensor.CrossEntropyOptions{IgnoreIndex: tensor.Ignore(IgnoreIndex)})
	want.Backward()
	if err := tensortest.AllClose(got, want, 1e-6, 1e-6); err != nil {
		t.Errorf("loss: %v", err)
	}
	if err := tensortest.AllClose(g1, x.Grad(), 1e-5, 1e-7); err != nil {
		t.Errorf("gradient: %v", err)
	}
	tensortest.GradCheck(t, "crossEntropy", func(in []*tensor.Tensor) *tensor.Tensor { return crossEntropy(in[0], target) },
		[]*tensor.Tensor{x}, tensortest.GradCheckOptions{})
}
