package bleu

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

// sacreBLEU's own test/test_bleu.py example (its README's), references
// given per segment.
var (
	readmeHyps = []string{"The dog bit the man.", "It wasn't surprising.", "The man had just bitten him."}
	readmeRefs = [][]string{
		{"The dog bit the man.", "The dog had bit the man."},
		{"It was not unexpected.", "No one was surprised."},
		{"The man bit him first.", "The man had bitten the dog."},
	}
)

func near(a, b, eps float64) bool { return math.Abs(a-b) < eps }

func mustCorpus(t *testing.T, hyps []string, refs [][]string, opt Options) Score {
	t.Helper()
	s, err := Corpus(hyps, refs, opt)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSacreBLEUValues checks the values of sacreBLEU's test/test_bleu.py
// (test_corpus_bleu, test_max_ngram_order, test_raw_bleu, test_statistics,
// test_scoring, test_effective_order), to its tolerance 1e-8.
func TestSacreBLEUValues(t *testing.T) {
	const eps = 1e-8
	for _, c := range []struct {
		opt  Options
		want float64
	}{
		{Options{}, 48.530827},
		{Options{Tokenize: Tok13a}, 48.530827},
		{Options{Tokenize: TokNone}, 49.1919566},
		{Options{Smooth: SmoothNone}, 48.530827},
	} {
		if s := mustCorpus(t, readmeHyps, readmeRefs, c.opt); !near(s.Score, c.want, eps) {
			t.Errorf("%+v: %.10f, want %v", c.opt, s.Score, c.want)
		}
	}
	if s := mustCorpus(t, []string{"", "", ""}, readmeRefs, Options{}); s.Score != 0 {
		t.Errorf("empty hypotheses: %v", s.Score)
	}
	for i, want := range []string{"77.65", "60.50", "53.93", "48.53", "46.14", "43.28"} {
		if s := mustCorpus(t, readmeHyps, readmeRefs, Options{MaxOrder: i + 1}); fmt.Sprintf("%.2f", s.Score) != want {
			t.Errorf("max order %d: %.2f, want %s", i+1, s.Score, want)
		}
	}
	// raw_corpus_bleu: tokenize "none", smooth floor 0.01, score / 100.
	raw := Options{Tokenize: TokNone, Smooth: SmoothFloor, SmoothValue: 0.01}
	for _, c := range []struct {
		hyps []string
		refs [][]string
		want float64
	}{
		{[]string{"this is a test", "another test"}, [][]string{{"ref1"}, {"ref2"}}, 0},
		{[]string{"this is a test"}, [][]string{{"this is a test"}}, 1},
		{[]string{"this is a fest"}, [][]string{{"this is a test"}}, 0.223606797749979},
	} {
		if s := mustCorpus(t, c.hyps, c.refs, raw); !near(s.Score/100, c.want, eps) {
			t.Errorf("raw %q: %.15f, want %v", c.hyps, s.Score/100, c.want)
		}
	}
	s := mustCorpus(t, []string{"am I am a character sequence"}, [][]string{{"I am a symbol string sequence a a"}}, raw)
	if !slices.Equal(s.Correct, []int{4, 2, 1, 0}) || !slices.Equal(s.Total, []int{6, 5, 4, 3}) {
		t.Errorf("statistics %v / %v", s.Correct, s.Total)
	}
	if sc := Compute(Stats{SysLen: 11, RefLen: 11, Correct: []int{9, 7, 5, 3}, Total: []int{10, 8, 6, 4}}, Options{Smooth: SmoothNone}); !near(sc.Score/100, 0.8375922397, eps) {
		t.Errorf("scoring: %.10f", sc.Score/100)
	}
	eff := raw
	eff.EffectiveOrder = true
	for _, c := range []struct {
		hyp, ref string
		want     float64
	}{{"test", "a test", 0.3678794411714425}, {"a test", "a test", 1}, {"a little test", "a test", 0.03218297948685433}} {
		if s := mustCorpus(t, []string{c.hyp}, [][]string{{c.ref}}, eff); !near(s.Score/100, c.want, eps) {
			t.Errorf("effective order %q: %.15f, want %v", c.hyp, s.Score/100, c.want)
		}
	}
}

// TestString checks the printed form against sacreBLEU's README (Out[3]).
func TestString(t *testing.T) {
	s := mustCorpus(t, readmeHyps, readmeRefs, Options{})
	const want = "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)"
	if s.String() != want {
		t.Errorf("%s\nwant %s", s, want)
	}
}

// TestGolden compares with scripts/golden_bleu.py, a transcription of
// sacreBLEU's code (sacreBLEU itself is not installed here): several
// references per segment, the 13a tokenizer's edge cases, the four
// smoothing methods, the closest-reference tie rule.
func TestGolden(t *testing.T) {
	three := [][]string{{"the the cat", "a b c d e"}, {"the cat the", "cat the the"}, {"a b x d e"}}
	smoothHyps, smoothRefs := three[0], [][]string{three[1], three[2]}
	for _, c := range []struct {
		name  string
		hyps  []string
		refs  [][]string
		opt   Options
		score float64
		stats []int // sys, ref, correct…, total…
	}{
		{"multi-ref", []string{
			"the cat sat on the mat .",
			"there is a cat on the mat",
			"A quick brown fox jumps over the lazy dog, again.",
			"He paid $3.50 (about 3,000 yen) on 2019-05-01!",
		}, [][]string{
			{"the cat is on the mat .", "there is a cat on the mat", "a cat sat upon the mat"},
			{"the cat is on the mat", "there is a cat on the mat ."},
			{"The quick brown fox jumped over the lazy dog again.", "A fast brown fox leaps over a lazy dog, again!", "A quick brown fox jumps over the lazy dog."},
			{"He paid $3.50 (around 3,000 yen) on 2019-05-01.", "On 2019-05-01 he paid 3.50 dollars."},
		}, Options{}, 81.18528101857973, []int{42, 41, 40, 34, 26, 20, 42, 38, 34, 30}},
		{"tokenizer", []string{
			"&quot;Hello&quot; &amp; good-\nbye &lt;tag&gt; <skipped>x",
			"a.b,c 1.5 1,5 a. .b 1-2 x-y 'quoted' \"dq\"",
			"tabs\tand\u00a0nbsp\u3000ideographic\x1cfs   trailing   \t",
		}, [][]string{
			{"\"Hello\" & goodbye <tag> x"},
			{"a . b , c 1.5 1,5 a . . b 1 - 2 x-y 'quoted' \" dq \""},
			{"tabs and nbsp ideographic fs trailing"},
		}, Options{}, 100.00000000000004, []int{34, 34, 34, 31, 28, 25, 34, 31, 28, 25}},
		{"exp", smoothHyps, smoothRefs, Options{}, 30.898272925561187, []int{8, 8, 7, 4, 0, 0, 8, 6, 4, 2}},
		{"none", smoothHyps, smoothRefs, Options{Smooth: SmoothNone}, 0, []int{8, 8, 7, 4, 0, 0, 8, 6, 4, 2}},
		{"floor", smoothHyps, smoothRefs, Options{Smooth: SmoothFloor}, 16.432615812269848, []int{8, 8, 7, 4, 0, 0, 8, 6, 4, 2}},
		{"add-k", smoothHyps, smoothRefs, Options{Smooth: SmoothAddK}, 45.18010018049227, []int{8, 8, 7, 4, 0, 0, 8, 6, 4, 2}},
		{"closest tie", []string{"one two three four five"},
			[][]string{{"one two three four five six seven", "one two three four five six seven eight nine", "one two three"}},
			Options{}, 100.00000000000004, []int{5, 3, 5, 4, 3, 2, 5, 4, 3, 2}},
	} {
		s := mustCorpus(t, c.hyps, c.refs, c.opt)
		got := append(append([]int{s.SysLen, s.RefLen}, s.Correct...), s.Total...)
		if !near(s.Score, c.score, 1e-9) || !slices.Equal(got, c.stats) {
			t.Errorf("%s: %v %v, want %v %v", c.name, s.Score, got, c.score, c.stats)
		}
	}
}

// TestTokenize13a compares single lines with scripts/golden_bleu.py's
// transcription of sacreBLEU's tokenizer.
func TestTokenize13a(t *testing.T) {
	for in, want := range map[string]string{
		"&quot;Hello&quot; &amp; good-\nbye &lt;tag&gt; <skipped>x": `" Hello " & goodbye < tag > x`,
		"a.b,c 1.5 1,5 a. .b 1-2 x-y 'quoted' \"dq\"":               `a . b , c 1.5 1,5 a . . b 1 - 2 x-y 'quoted' " dq "`,
		"tabs\tand\u00a0nbsp\u3000ideographic\x1cfs   trailing":     "tabs and nbsp ideographic fs trailing",
		"A quick brown fox jumps over the lazy dog, again.":         "A quick brown fox jumps over the lazy dog , again .",
		"He paid $3.50 (about 3,000 yen) on 2019-05-01!":            "He paid $ 3.50 ( about 3,000 yen ) on 2019 - 05 - 01 !",
	} {
		if got := Tokenize13a(in); got != want {
			t.Errorf("Tokenize13a(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStreamsAndErrors checks FromStreams (sacreBLEU's layout), Stats.Add
// over segments, and the errors.
func TestStreamsAndErrors(t *testing.T) {
	refs, err := FromStreams(
		[]string{"The dog bit the man.", "It was not unexpected.", "The man bit him first."},
		[]string{"The dog had bit the man.", "No one was surprised.", "The man had bitten the dog."})
	if err != nil || !slices.EqualFunc(refs, readmeRefs, slices.Equal) {
		t.Fatalf("FromStreams: %q, %v", refs, err)
	}
	var total Stats
	for i, h := range readmeHyps {
		s, err := Segment(h, refs[i], Options{})
		if err != nil {
			t.Fatal(err)
		}
		total.Add(s)
	}
	if s := Compute(total, Options{}); !near(s.Score, 48.530827, 1e-8) {
		t.Errorf("streamed: %v", s.Score)
	}
	if _, err := FromStreams([]string{"a"}, []string{"a", "b"}); err == nil {
		t.Error("FromStreams with unequal streams: no error")
	}
	if _, err := Corpus([]string{"a"}, nil, Options{}); err == nil {
		t.Error("1 hypothesis, 0 reference sets: no error")
	}
	if _, err := Corpus([]string{"a"}, [][]string{{}}, Options{}); err == nil {
		t.Error("a segment without references: no error")
	}
	if _, err := Corpus(nil, nil, Options{Smooth: "add-1"}); err == nil {
		t.Error("unknown smoothing: no error")
	}
	if _, err := Corpus(nil, nil, Options{Tokenize: "intl"}); err == nil {
		t.Error("unknown tokenizer: no error")
	}
	if s := mustCorpus(t, nil, nil, Options{}); s.Score != 0 {
		t.Errorf("empty corpus: %v", s.Score)
	}
}
