package lm

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"time"
)

// SampleOptions choose how the next token is drawn from the logits, in Hugging Face's
// order: temperature, then top-k, then top-p.
type SampleOptions struct {
	// Temperature divides the logits; 0 (or less) is greedy decoding: the most likely
	// token (the first of equal ones), no randomness.
	Temperature float64
	// TopK keeps the K most likely tokens (0: all).
	TopK int
	// TopP keeps the smallest set of most likely tokens whose probabilities sum to at
	// least TopP (nucleus sampling, Holtzman et al. 2020); 0 or ≥ 1 keeps all.
	TopP float64
}

// Sample draws a token from logits (V) with one rng.Float64 (none when greedy). Ties in
// probability are ordered by token id, so the result depends only on the logits, the
// options and rng's state.
func Sample(logits []float32, opt SampleOptions, rng *rand.Rand) int {
	if len(logits) == 0 {
		panic("lm.Sample: no logits")
	}
	if !(opt.Temperature > 0) {
		best := 0
		for i, v := range logits {
			if v > logits[best] {
				best = i
			}
		}
		return best
	}
	if rng == nil {
		panic("lm.Sample: sampling (temperature > 0) needs a random source, got a nil *rand.Rand")
	}
	// Probabilities at the temperature, in float64.
	maxv := math.Inf(-1)
	for _, v := range logits {
		maxv = math.Max(maxv, float64(v))
	}
	prob := make([]float64, len(logits))
	var sum float64
	for i, v := range logits {
		p := math.Exp((float64(v) - maxv) / opt.Temperature)
		prob[i] = p
		sum += p
	}
	for i := range prob {
		prob[i] /= sum
	}
	// Candidates in decreasing probability. For top-p alone only tokens with probability
	// ≥ (1−p)/V can be in the nucleus: the others together hold less than 1−p, so the
	// tokens above the threshold already reach p.
	n := len(prob)
	topP := opt.TopP > 0 && opt.TopP < 1
	threshold := 0.0
	if topP && !(opt.TopK > 0 && opt.TopK < n) {
		threshold = (1 - opt.TopP) / float64(n)
	}
	cand := make([]int, 0, n)
	for i, p := range prob {
		if p >= threshold {
			cand = append(cand, i)
		}
	}
	byProb := func(a, b int) int {
		if c := cmp.Compare(prob[b], prob[a]); c != 0 {
			return c
		}
		return cmp.Compare(a, b)
	}
	if opt.TopK > 0 && opt.TopK < len(cand) {
		cand = topK(cand, opt.TopK, byProb)
	} else {
		slices.SortFunc(cand, byProb)
	}
	if topP {
		// Renormalised over the top-k survivors, as Hugging Face's warpers apply top-p to
		// the already filtered distribution.
		var total float64
		for _, i := range cand {
			total += prob[i]
		}
		var cum float64
		for j, i := range cand {
			cum += prob[i] / total
			if cum >= opt.TopP {
				cand = cand[:j+1]
				break
			}
		}
	}
	var total float64
	for _, i := range cand {
		total += prob[i]
	}
	u := rng.Float64() * total
	var cum float64
	for _, i := range cand {
		cum += prob[i]
		if u < cum {
			return i
		}
	}
	return cand[len(cand)-1]
}

// topK returns the k first of ids in the order cmp, sorted, with a bounded selection.
func topK(ids []int, k int, cmpFn func(a, b int) int) []int {
	// A max-heap (in cmp's reverse order) of the k best seen so far: its root is the
	// worst of them.
	h := make([]int, 0, k)
	down := func(i int) {
		for {
			l, r, w := 2*i+1, 2*i+2, i
			if l < len(h) && cmpFn(h[l], h[w]) > 0 {
				w = l
			}
			if r < len(h) && cmpFn(h[r], h[w]) > 0 {
				w = r
			}
			if w == i {
				return
			}
			h[i], h[w] = h[w], h[i]
			i = w
		}
	}
	for _, id := range ids {
		if len(h) < k {
			h = append(h, id)
			for i := len(h) - 1; i > 0; {
				p := (i - 1) / 2
				if cmpFn(h[i], h[p]) <= 0 {
					break
				}
				h[i], h[p] = h[p], h[i]
				i = p
			}
			continue
		}
		if cmpFn(id, h[0]) < 0 {
			h[0] = id
			down(0)
		}
	}
	slices.SortFunc(h, cmpFn)
	return h
}

// GenerateOptions are the settings of Generate.
type GenerateOptions struct {
	SampleOptions
	// MaxNewTokens bounds the number of tokens generated; 0 means until a stop token or
	// the end of the context (n_positions).
	MaxNewTokens int
	// StopTokens end generation when drawn (e.g. GPT-2's <|endoftext|>, 50256); the stop
	// token is not part of the result's Tokens.
	StopTokens []int
	// Rng draws the tokens when Temperature > 0.
	Rng *rand.Rand
	// Prefix, if not nil, is one KV per layer of batch size 1 that precedes the prompt
	// without taking positions (ForwardOptions.Past with PosOffset 0): a trained prefix of
	// prefix tuning.
	Prefix []KV
	// OnToken, if not nil, is called with each new token as soon as it is drawn (for
	// streaming); returning false stops generation after it.
	OnToken func(token int) bool
}

// StopReason says why Generate stopped.
type StopReason int

const (
	StopLength   StopReason = iota // MaxNewTokens were generated
	StopToken                      // a stop token was drawn
	StopContext                    // the context (n_positions) is full
	StopCallback                   // OnToken returned false
)

func (r StopReason) String() string {
	switch r {
	case StopLength:
		return "length"
	case StopToken:
		return "stop token"
	case StopContext:
		return "context full"
	case StopCallback:
		return "callback"
	}
	return fmt.Sprintf("StopReason(%d)", int(r))
}

// Generation is the result of Generate.
type Generation struct {
	Tokens    []int      // the new tokens, without the prompt and without a stop token
	Reason    StopReason // why generation stopped
	StopToken int        // the stop token drawn (Reason StopToken), else −1
	// Prefill is the time of the prompt's forward pass, which gives the first token;
	// Decode the time of the Steps one-position forward passes (with sampling) that gave
	// the others.
	Prefill, Decode time.Duration
	Steps           int
}

// TokensPerSecond is the decoding speed, Steps / Decode (0 when there were no steps).
func (g Generation) TokensPerSecond() float64 {
	if g.Steps == 0 || g.Decode <= 0 {
		return 0
	}
	return float64(g.Steps) / g.Decode.Seconds()
}

// Generate continues prompt (token ids) one token at a time: a forward pass over the
// prompt fills the key/value cache, then each new token costs one forward pass of one
// position against the cache. It runs without dropout whatever the model's mode and
// records no graph that outlives a step. The same options, rng state and model give the
// same tokens. Errors are for an empty prompt, ids out of range, a prompt that does not
// fit in n_positions, or sampling without Rng.
func (m *Model) Generate(prompt []int, opt GenerateOptions) (Generation, error) {
	cfg := m.Config
	g := Generation{StopToken: -1}
	if len(prompt) == 0 {
		return g, errors.New("lm.Generate: empty prompt")
	}
	if len(prompt) > cfg.NPositions {
		return g, fmt.Errorf("lm.Generate: prompt of %d tokens does not fit in n_positions %d", len(prompt), cfg.NPositions)
	}
	for _, id := range prompt {
		if id < 0 || id >= cfg.VocabSize {
			return g, fmt.Errorf("lm.Generate: token id %d out of range [0, %d)", id, cfg.VocabSize)
		}
	}
	if opt.Temperature > 0 && opt.Rng == nil {
		return g, errors.New("lm.Generate: sampling (temperature > 0) needs GenerateOptions.Rng")
	}
	if opt.Prefix != nil && len(opt.Prefix) != len(m.H) {
		return g, fmt.Errorf("lm.Generate: prefix of %d layers for a model of %d", len(opt.Prefix), len(m.H))
	}
	stop := map[int]bool{}
	for _, s := range opt.StopTokens {
		stop[s] = true
	}
	start := time.Now()
	out := m.run(IDs(prompt), ForwardOptions{Past: opt.Prefix, Cache: true, LastOnly: true}, false)
	g.Prefill = time.Since(start)
	start = time.Now()
	for {
		past := detachKV(out.Present)
		tok := Sample(out.Logits.Data(), opt.SampleOptions, opt.Rng)
		if stop[tok] {
			g.Reason, g.StopToken = StopToken, tok
			break
		}
		g.Tokens = append(g.Tokens, tok)
		if opt.OnToken != nil && !opt.OnToken(tok) {
			g.Reason = StopCallback
			break
		}
		if opt.MaxNewTokens > 0 && len(g.Tokens) >= opt.MaxNewTokens {
			g.Reason = StopLength
			break
		}
		pos := len(prompt) + len(g.Tokens) - 1
		if pos >= cfg.NPositions {
			g.Reason = StopContext
			break
		}
		out = m.run(IDs([]int{tok}), ForwardOptions{Past: past, PosOffset: pos, Cache: true}, false)
		g.Steps++
	}
	g.Decode = time.Since(start)
	return g, nil
}

// detachKV returns kv with every tensor detached from its graph, so a step's graph (if
// the model records one) is not kept alive by the cache.
func detachKV(kv []KV) []KV {
	out := make([]KV, len(kv))
	for i, e := range kv {
		out[i] = e
		if e.K != nil && e.K.RequiresGrad() {
			out[i].K = e.K.Detach()
		}
		if e.V != nil && e.V.RequiresGrad() {
			out[i].V = e.V.Detach()
		}
	}
	return out
}
