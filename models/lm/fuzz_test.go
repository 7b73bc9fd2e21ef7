package lm

import (
	"bytes"
	"os"
	"testing"
)

// FuzzParseConfig: any config.json bytes give a Config or an error, never a
// panic.
func FuzzParseConfig(f *testing.F) {
	if b, err := os.ReadFile("../../testdata/lm/gpt2_tiny/config.json"); err == nil {
		f.Add(b)
	}
	if b, err := os.ReadFile("../../testdata/lm/swiglu_tiny/config.json"); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"n_embd": 7, "n_head": 2, "n_layer": -1, "vocab_size": 1e12}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = ParseConfig(b)
	})
}

// FuzzReadBPE: arbitrary vocab.json and merges.txt give a tokenizer or an
// error, never a panic; a tokenizer that loads encodes and decodes any text
// without panicking.
func FuzzReadBPE(f *testing.F) {
	f.Add([]byte(`{"a": 0, "b": 1, "ab": 2, "Ġ": 3}`), []byte("#version: 0.2\na b\n"), "ab ab a")
	f.Add([]byte(`{"!": 0}`), []byte(""), "x")
	f.Add([]byte(`{}`), []byte("a\n"), "")
	f.Fuzz(func(t *testing.T, vocab, merges []byte, text string) {
		bpe, err := ReadBPE(bytes.NewReader(vocab), bytes.NewReader(merges))
		if err != nil {
			return
		}
		_ = bpe.Decode(bpe.Encode(text))
		_ = bpe.Decode([]int{-1, 0, 1 << 30})
	})
}
