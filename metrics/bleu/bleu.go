// Package bleu computes corpus-level BLEU (Papineni et al. 2002) as sacreBLEU
// (Post 2018) does by default: segments tokenised with mteval-v13a's rules
// (tokenizer "13a"), n-grams of orders 1…4 counted per segment and clipped by
// the maximum count over that segment's references, the clipped and total
// counts summed over the corpus, the geometric mean of the four precisions
// times the brevity penalty exp(1 − r/c) when the hypothesis length c is
// below r, the sum of each segment's closest reference length (ties: the
// shorter). The score is in percent, as sacreBLEU prints it.
//
//	s, err := bleu.Corpus(hyps, refs, bleu.Options{}) // refs[i]: segment i's references
//	fmt.Println(s)   // BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)
//
// sacreBLEU's default smoothing, "exp" (mteval's: the k-th order with no
// match counts as 1/(2^k·total)), only changes a score when some order has no
// matched n-gram while another has; Options.Smooth selects "none", "floor" or
// "add-k" instead. The package works on strings and needs nothing else of
// fovea.
package bleu

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"unicode"
)

// Smoothing methods (sacreBLEU's smooth_method).
const (
	SmoothExp   = "exp"   // the default: mteval-v13a's (Chen & Cherry 2014, method 3)
	SmoothNone  = "none"  // no smoothing: an order with no match makes the score 0
	SmoothFloor = "floor" // a zero count becomes SmoothValue (default 0.1; method 1)
	SmoothAddK  = "add-k" // SmoothValue (default 1) added to counts and totals of orders ≥ 2 (method 2)
)

// Tokenizers (sacreBLEU's tokenize).
const (
	Tok13a  = "13a"  // the default: mteval-v13a's tokenisation
	TokNone = "none" // split on whitespace only
)

// Options tune Corpus; the zero value is sacreBLEU's default BLEU
// (BLEU|nrefs:…|case:mixed|eff:no|tok:13a|smooth:exp).
type Options struct {
	// Lowercase lowercases hypotheses and references first (Go's
	// strings.ToLower; Python's str.lower differs on a few characters such
	// as 'İ').
	Lowercase bool
	// Tokenize is Tok13a ("" means it) or TokNone.
	Tokenize string
	// Smooth is SmoothExp ("" means it), SmoothNone, SmoothFloor or SmoothAddK.
	Smooth string
	// SmoothValue is the value of SmoothFloor and SmoothAddK; 0 means the
	// default (0.1 and 1).
	SmoothValue float64
	// MaxOrder is the largest n-gram order (0 means 4: BLEU-4).
	MaxOrder int
	// EffectiveOrder averages only the orders up to the last one with any
	// hypothesis n-gram (sacreBLEU's effective_order, meant for sentence
	// BLEU).
	EffectiveOrder bool
}

func (o Options) order() int {
	if o.MaxOrder <= 0 {
		return 4
	}
	return o.MaxOrder
}

func (o Options) smooth() string {
	if o.Smooth == "" {
		return SmoothExp
	}
	return o.Smooth
}

func (o Options) check() error {
	switch o.smooth() {
	case SmoothExp, SmoothNone, SmoothFloor, SmoothAddK:
	default:
		return fmt.Errorf("bleu: unknown smoothing %q (want %q, %q, %q or %q)", o.Smooth, SmoothExp, SmoothNone, SmoothFloor, SmoothAddK)
	}
	switch o.Tokenize {
	case "", Tok13a, TokNone:
	default:
		return fmt.Errorf("bleu: unknown tokenizer %q (want %q or %q)", o.Tokenize, Tok13a, TokNone)
	}
	return nil
}

// Stats are BLEU's sufficient statistics, for one segment or summed over a
// corpus: the hypothesis length, the closest reference length, and per
// order n (index n−1) the clipped matches and the hypothesis n-grams.
type Stats struct {
	SysLen, RefLen int
	Correct, Total []int
}

// Add adds o to s (same orders).
func (s *Stats) Add(o Stats) {
	if s.Correct == nil {
		s.Correct, s.Total = make([]int, len(o.Correct)), make([]int, len(o.Total))
	}
	if len(s.Correct) != len(o.Correct) {
		panic(fmt.Sprintf("bleu.Stats.Add: %d orders and %d", len(s.Correct), len(o.Correct)))
	}
	s.SysLen += o.SysLen
	s.RefLen += o.RefLen
	for i := range o.Correct {
		s.Correct[i] += o.Correct[i]
		s.Total[i] += o.Total[i]
	}
}

// Score is a BLEU score with its statistics, as sacreBLEU's BLEUScore.
type Score struct {
	Score      float64   // BLEU in percent, 0…100
	Precisions []float64 // per order, in percent (smoothed)
	BP         float64   // brevity penalty
	Stats
}

// Ratio is the hypothesis length over the reference length (0 without
// references).
func (s Score) Ratio() float64 {
	if s.RefLen == 0 {
		return 0
	}
	return float64(s.SysLen) / float64(s.RefLen)
}

// String formats the score as sacreBLEU prints it:
// "BLEU = 48.53 82.4/50.0/45.5/37.5 (BP = 0.943 ratio = 0.944 hyp_len = 17 ref_len = 18)".
func (s Score) String() string {
	ps := make([]string, len(s.Precisions))
	for i, p := range s.Precisions {
		ps[i] = fmt.Sprintf("%.1f", p)
	}
	return fmt.Sprintf("BLEU = %.2f %s (BP = %.3f ratio = %.3f hyp_len = %d ref_len = %d)",
		s.Score, strings.Join(ps, "/"), s.BP, s.Ratio(), s.SysLen, s.RefLen)
}

// Corpus scores hypotheses against references: refs[i] holds the
// references of segment i (one or more; segments may have different
// numbers). FromStreams converts sacreBLEU's layout (one list per reference
// stream).
func Corpus(hyps []string, refs [][]string, opt Options) (Score, error) {
	if err := opt.check(); err != nil {
		return Score{}, err
	}
	if len(hyps) != len(refs) {
		return Score{}, fmt.Errorf("bleu: %d hypotheses and %d reference sets", len(hyps), len(refs))
	}
	total := Stats{Correct: make([]int, opt.order()), Total: make([]int, opt.order())}
	for i, h := range hyps {
		s, err := Segment(h, refs[i], opt)
		if err != nil {
			return Score{}, fmt.Errorf("bleu: segment %d: %w", i, err)
		}
		total.Add(s)
	}
	return Compute(total, opt), nil
}

// FromStreams turns sacreBLEU's reference layout — streams[k][i] is
// reference k of segment i, every stream as long as the hypotheses — into
// Corpus's refs[i][k].
func FromStreams(streams ...[]string) ([][]string, error) {
	if len(streams) == 0 {
		return nil, errors.New("bleu: no reference stream")
	}
	n := len(streams[0])
	out := make([][]string, n)
	for k, s := range streams {
		if len(s) != n {
			return nil, fmt.Errorf("bleu: reference stream %d has %d segments, stream 0 has %d", k, len(s), n)
		}
		for i, r := range s {
			out[i] = append(out[i], r)
		}
	}
	return out, nil
}

// Segment returns one segment's statistics: the hypothesis's n-gram counts
// clipped by the largest count of each n-gram in any reference, and the
// reference length closest to the hypothesis length (the shorter on a
// tie).
func Segment(hyp string, refs []string, opt Options) (Stats, error) {
	if err := opt.check(); err != nil {
		return Stats{}, err
	}
	if len(refs) == 0 {
		return Stats{}, errors.New("no reference")
	}
	order := opt.order()
	refMax := map[string]int{}
	var refLens []int
	for _, r := range refs {
		toks := fields(preprocess(r, opt))
		refLens = append(refLens, len(toks))
		for g, c := range ngrams(toks, order) {
			refMax[g] = max(refMax[g], c)
		}
	}
	toks := fields(preprocess(hyp, opt))
	s := Stats{SysLen: len(toks), RefLen: closest(len(toks), refLens), Correct: make([]int, order), Total: make([]int, order)}
	for g, c := range ngrams(toks, order) {
		n := strings.Count(g, "\x00") // order − 1
		s.Total[n] += c
		s.Correct[n] += min(c, refMax[g])
	}
	return s, nil
}

// closest is sacreBLEU's _get_closest_ref_len.
func closest(hypLen int, refLens []int) int {
	bestDiff, best := -1, -1
	for _, l := range refLens {
		d := hypLen - l
		if d < 0 {
			d = -d
		}
		if bestDiff == -1 || d < bestDiff {
			bestDiff, best = d, l
		} else if d == bestDiff && l < best {
			best = l
		}
	}
	return best
}

// ngrams counts the n-grams of orders 1…order, tokens joined by NUL.
func ngrams(toks []string, order int) map[string]int {
	out := map[string]int{}
	for n := 1; n <= order; n++ {
		for i := 0; i+n <= len(toks); i++ {
			out[strings.Join(toks[i:i+n], "\x00")]++
		}
	}
	return out
}

// Compute is sacreBLEU's compute_bleu: the score from summed statistics.
func Compute(s Stats, opt Options) Score {
	order := len(s.Correct)
	correct := make([]float64, order)
	total := make([]float64, order)
	for i := range order {
		correct[i], total[i] = float64(s.Correct[i]), float64(s.Total[i])
	}
	sv := opt.SmoothValue
	if sv == 0 {
		switch opt.smooth() {
		case SmoothFloor:
			sv = 0.1
		case SmoothAddK:
			sv = 1
		}
	}
	out := Score{Precisions: make([]float64, order), BP: 1, Stats: s}
	if s.SysLen < s.RefLen {
		out.BP = 0
		if s.SysLen > 0 {
			out.BP = math.Exp(1 - float64(s.RefLen)/float64(s.SysLen))
		}
	}
	matched := false
	for _, c := range s.Correct {
		matched = matched || c != 0
	}
	if !matched {
		return out // sacreBLEU returns 0 when nothing matches (its issue #141)
	}
	smoothMteval := 1.0
	eff := order
	for n := 1; n <= order; n++ {
		if opt.smooth() == SmoothAddK && n > 1 {
			correct[n-1] += sv
			total[n-1] += sv
		}
		if total[n-1] == 0 {
			break
		}
		if opt.EffectiveOrder {
			eff = n
		}
		switch {
		case correct[n-1] != 0:
			out.Precisions[n-1] = 100 * correct[n-1] / total[n-1]
		case opt.smooth() == SmoothExp:
			smoothMteval *= 2
			out.Precisions[n-1] = 100 / (smoothMteval * total[n-1])
		case opt.smooth() == SmoothFloor:
			out.Precisions[n-1] = 100 * sv / total[n-1]
		}
	}
	sum := 0.0
	for _, p := range out.Precisions[:eff] {
		if p == 0 {
			sum += -9999999999 // sacreBLEU's my_log(0)
		} else {
			sum += math.Log(p)
		}
	}
	out.Score = out.BP * math.Exp(sum/float64(eff))
	return out
}

// preprocess is sacreBLEU's _preprocess_segment: lowercase (optionally),
// strip trailing whitespace, tokenise.
func preprocess(s string, opt Options) string {
	if opt.Lowercase {
		s = strings.ToLower(s)
	}
	s = strings.TrimRightFunc(s, isSpace)
	if opt.Tokenize == TokNone {
		return s
	}
	return Tokenize13a(s)
}

var (
	reSymbols    = regexp.MustCompile(`([\{-\~\[-\x60 -\&\(-\+\:-\@\/])`)
	rePeriodPre  = regexp.MustCompile(`([^0-9])([\.,])`)
	rePeriodPost = regexp.MustCompile(`([\.,])([^0-9])`)
	reDigitDash  = regexp.MustCompile(`([0-9])(-)`)
)

// Tokenize13a tokenises one line as sacreBLEU's "13a" tokenizer
// (mteval-v13a.pl's tokenization): "<skipped>" removed, "-\n" joined, other
// newlines made spaces, &quot; &amp; &lt; &gt; unescaped (in that order),
// then ASCII punctuation other than ' - . , split off, periods and commas
// split off unless between digits, a dash split off after a digit, and
// whitespace collapsed to single spaces.
func Tokenize13a(line string) string {
	line = strings.ReplaceAll(line, "<skipped>", "")
	line = strings.ReplaceAll(line, "-\n", "")
	line = strings.ReplaceAll(line, "\n", " ")
	if strings.Contains(line, "&") {
		line = strings.ReplaceAll(line, "&quot;", `"`)
		line = strings.ReplaceAll(line, "&amp;", "&")
		line = strings.ReplaceAll(line, "&lt;", "<")
		line = strings.ReplaceAll(line, "&gt;", ">")
	}
	line = " " + line + " "
	line = reSymbols.ReplaceAllString(line, " ${1} ")
	line = rePeriodPre.ReplaceAllString(line, "${1} ${2} ")
	line = rePeriodPost.ReplaceAllString(line, " ${1} ${2}")
	line = reDigitDash.ReplaceAllString(line, "${1} ${2} ")
	return strings.Join(fields(line), " ")
}

// fields splits on whitespace as Python's str.split(): Go's unicode.IsSpace
// plus the separators U+001C…U+001F.
func fields(s string) []string { return strings.FieldsFunc(s, isSpace) }

func isSpace(r rune) bool { return unicode.IsSpace(r) || (r >= 0x1c && r <= 0x1f) }
