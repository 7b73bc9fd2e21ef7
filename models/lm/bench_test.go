package lm

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/peft"
)

// The benchmarks' models: bench/lm_torch.py builds the same ones in PyTorch.
//
//	go test -run '^$' -bench . -benchtime 5x ./models/lm
//	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE /usr/bin/python3 bench/lm_torch.py

// benchConfig is the small model: 6 layers, width 256, 8 heads, 128 positions.
func benchConfig(vocab int) Config {
	c := DefaultConfig()
	c.VocabSize, c.NPositions, c.NEmbd, c.NLayer, c.NHead = vocab, 128, 256, 6, 8
	return c
}

func benchIDs(b, t, vocab int, seed uint64) [][]int {
	rng := rand.New(rand.NewPCG(seed, 1))
	rows := make([][]int, b)
	for i := range rows {
		rows[i] = make([]int, t)
		for j := range rows[i] {
			rows[i][j] = rng.IntN(vocab)
		}
	}
	return rows
}

// BenchmarkTrainStep is one training step of the small model on a batch of 8 sequences
// of 128 tokens: forward in training mode (dropout 0.1), next-token loss, backward,
// AdamW (weight decay 0.01), gradients recycled as package train does. The vocabulary is
// GPT-2's (50257: the tied LM head is most of the work) or bytes (256).
func BenchmarkTrainStep(b *testing.B) {
	for _, vocab := range []int{50257, 256} {
		b.Run(fmt.Sprintf("vocab=%d", vocab), func(b *testing.B) {
			m, err := New(rand.New(rand.NewPCG(1, 2)), benchConfig(vocab))
			if err != nil {
				b.Fatal(err)
			}
			params := nn.Parameters(m)
			opt := optim.NewAdamW(optim.Params(params...), optim.AdamWOptions{LR: 1e-4, WeightDecay: 0.01})
			ids := IDs(benchIDs(8, 128, vocab, 3)...)
			step := func() {
				for _, p := range params {
					p.ReleaseGrad()
				}
				loss := NextTokenLoss(m.Forward(ids), ids)
				loss.BackwardRelease()
				opt.Step()
			}
			step()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step()
			}
			b.ReportMetric(float64(8*128*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkGenerate is greedy generation of 64 tokens after a 16-token prompt (batch 1)
// with the cache, frozen model: the small model and GPT-2 small's shape (12 layers, width
// 768, 1024 positions; random weights). tokens/s counts the one-position steps after the
// prompt.
func BenchmarkGenerate(b *testing.B) {
	gpt2small := DefaultConfig()
	for _, c := range []struct {
		name string
		cfg  Config
	}{{"small", benchConfig(50257)}, {"gpt2-124M", gpt2small}} {
		b.Run(c.name, func(b *testing.B) {
			m, err := New(rand.New(rand.NewPCG(1, 2)), c.cfg)
			if err != nil {
				b.Fatal(err)
			}
			nn.Freeze(m)
			nn.Eval(m)
			prompt := benchIDs(1, 16, c.cfg.VocabSize, 4)[0]
			opt := GenerateOptions{MaxNewTokens: 64}
			if _, err := m.Generate(prompt, opt); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			var steps int
			var decode, prefill float64
			for i := 0; i < b.N; i++ {
				g, _ := m.Generate(prompt, opt)
				steps += g.Steps
				decode += g.Decode.Seconds()
				prefill += g.Prefill.Seconds()
			}
			b.ReportMetric(float64(steps)/decode, "tokens/s")
			b.ReportMetric(prefill/float64(b.N)*1e3, "prefill-ms")
		})
	}
}

// loraBench adapts m with LoRA r 4, α 8 on every attn.c_attn (the LoRA paper's W_q, W_v
// are inside GPT-2's packed c_attn), dropout 0.1 in training mode, as bench/lm_torch.py's
// --lora twin does.
func loraBench(b *testing.B, m *Model) *peft.Model {
	pm, err := peft.NewModel(m, &peft.LoraConfig{R: 4, LoraAlpha: 8, LoraDropout: 0.1, TargetModules: peft.Names("c_attn")}, rand.New(rand.NewPCG(5, 6)))
	if err != nil {
		b.Fatal(err)
	}
	return pm
}

// BenchmarkTrainStepLoRA is BenchmarkTrainStep with the base frozen and LoRA (r 4 on
// c_attn) training: the gradient still flows through every layer to the first LoRA
// pair, but no weight gradient of the base is computed and AdamW updates 49K numbers.
func BenchmarkTrainStepLoRA(b *testing.B) {
	for _, vocab := range []int{50257, 256} {
		b.Run(fmt.Sprintf("vocab=%d", vocab), func(b *testing.B) {
			m, err := New(rand.New(rand.NewPCG(1, 2)), benchConfig(vocab))
			if err != nil {
				b.Fatal(err)
			}
			pm := loraBench(b, m)
			pm.SetTraining(true)
			params := pm.Parameters()
			opt := optim.NewAdamW(optim.Params(params...), optim.AdamWOptions{LR: 1e-4, WeightDecay: 0.01})
			ids := IDs(benchIDs(8, 128, vocab, 3)...)
			step := func() {
				for _, p := range params {
					p.ReleaseGrad()
				}
				loss := NextTokenLoss(m.Forward(ids), ids)
				loss.BackwardRelease()
				opt.Step()
			}
			step()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				step()
			}
			b.ReportMetric(float64(8*128*b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

// BenchmarkGenerateLoRA is BenchmarkGenerate's small model with an unmerged LoRA
// adapter (r 4 on c_attn, frozen, evaluation mode): the cost of the hooks per token.
// Merged (pm.Merge or MergeAndUnload), generation is BenchmarkGenerate's.
func BenchmarkGenerateLoRA(b *testing.B) {
	m, err := New(rand.New(rand.NewPCG(1, 2)), benchConfig(50257))
	if err != nil {
		b.Fatal(err)
	}
	pm := loraBench(b, m)
	for _, p := range pm.Parameters() {
		p.SetRequiresGrad(false)
	}
	nn.Freeze(m)
	pm.SetTraining(false)
	prompt := benchIDs(1, 16, 50257, 4)[0]
	opt := GenerateOptions{MaxNewTokens: 64}
	if _, err := m.Generate(prompt, opt); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var steps int
	var decode float64
	for i := 0; i < b.N; i++ {
		g, _ := m.Generate(prompt, opt)
		steps += g.Steps
		decode += g.Decode.Seconds()
	}
	b.ReportMetric(float64(steps)/decode, "tokens/s")
}
