package lm_test

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"

	"github.com/fovea-ml/fovea/models/lm"
	"github.com/fovea-ml/fovea/nn"
	"github.com/fovea-ml/fovea/optim"
	"github.com/fovea-ml/fovea/tensor"
)

// GPT-2's tokenizer from its two files (here the copies in testdata, gzipped).
func ExampleBPE() {
	dir := filepath.Join("..", "..", "testdata", "lm")
	tok, err := lm.LoadBPEFiles(filepath.Join(dir, "gpt2_encoder.json.gz"), filepath.Join(dir, "gpt2_vocab.bpe.gz"))
	if err != nil {
		panic(err)
	}
	ids := tok.Encode("Hello world, it's 2024!")
	fmt.Println(ids)
	fmt.Printf("%q\n", lm.PreTokenize("Hello world, it's 2024!"))
	fmt.Println(tok.Decode(ids))
	// Output:
	// [15496 995 11 340 338 48609 0]
	// ["Hello" " world" "," " it" "'s" " 2024" "!"]
	// Hello world, it's 2024!
}

// Load a Hugging Face GPT-2 folder (config.json + model.safetensors) and generate.
func ExampleModel_Generate() {
	m, err := lm.Load(filepath.Join("..", "..", "testdata", "lm", "gpt2_tiny"))
	if err != nil {
		panic(err)
	}
	g, err := m.Generate([]int{1, 2, 3}, lm.GenerateOptions{
		SampleOptions: lm.SampleOptions{Temperature: 0.8, TopK: 40, TopP: 0.95},
		MaxNewTokens:  8,
		StopTokens:    []int{299},
		Rng:           rand.New(rand.NewPCG(1, 2)),
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(len(g.Tokens), g.Reason)
	// Output: 8 length
}

// Prefix tuning's forward pass: a learned past per layer, the real tokens at positions
// 0, 1, …, gradients into the prefix only.
func ExampleModel_ForwardWith_prefix() {
	m, err := lm.Load(filepath.Join("..", "..", "testdata", "lm", "gpt2_tiny")) // frozen
	if err != nil {
		panic(err)
	}
	cfg := m.Config
	rng := rand.New(rand.NewPCG(1, 2))
	prefix := make([]lm.KV, cfg.NLayer)
	var params []*tensor.Tensor
	for i := range prefix {
		k := tensor.RandNormal(rng, 0, 0.5, 1, cfg.NHead, 4, cfg.HeadDim()).SetRequiresGrad(true)
		v := tensor.RandNormal(rng, 0, 0.5, 1, cfg.NHead, 4, cfg.HeadDim()).SetRequiresGrad(true)
		prefix[i] = lm.KV{K: k, V: v}
		params = append(params, k, v)
	}
	ids := lm.IDs([]int{5, 6, 7, 8}, []int{9, 10, 11, 12})
	opt := optim.NewAdamW(optim.Params(params...), optim.AdamWOptions{LR: 1e-2})
	var first, last float32
	for step := 0; step < 20; step++ {
		opt.ZeroGrad()
		out := m.ForwardWith(ids, lm.ForwardOptions{Past: prefix}) // PosOffset 0
		loss := lm.NextTokenLoss(out.Logits, ids)
		loss.Backward()
		opt.Step()
		if step == 0 {
			first = loss.Item()
		}
		last = loss.Item()
	}
	_, trainable := nn.CountParameters(m)
	fmt.Println(last < first, trainable)
	// Output: true 0
}
