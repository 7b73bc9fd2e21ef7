package cases

import (
	"strings"
	"testing"
	"time"
)

func TestEveryCaseRunsTiny(t *testing.T) {
	for _, c := range All() {
		t.Run(c.Name, func(t *testing.T) {
			if c.API == "" || c.Doc == "" {
				t.Errorf("case %s has no API or Doc", c.Name)
			}
			w := c.Setup(Tiny)
			r := Measure(w, Options{Warmup: 1, Repeat: 2})
			if len(r.Times) != 2 || r.Min > r.Median || r.Median > r.Max {
				t.Errorf("result %+v", r)
			}
		})
	}
}

func TestNamesUnique(t *testing.T) {
	seen := map[string]bool{}
	for _, n := range Names() {
		if seen[n] {
			t.Errorf("case %s registered twice", n)
		}
		seen[n] = true
		if c, ok := Lookup(n); !ok || c.Name != n {
			t.Errorf("Lookup(%q) = %v, %v", n, c.Name, ok)
		}
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("Lookup of an unknown name succeeded")
	}
}

// The case list: compare.py implements exactly these names.
func TestCaseList(t *testing.T) {
	want := []string{
		"gemm-1024", "gemm-2048", "gemm-4096x576x64",
		"conv3x3-n8-c64-56-fwd", "conv3x3-n8-c64-56-fwdbwd",
		"conv3x3s2-n8-c3to32-128-fwd", "conv3x3s2-n8-c3to32-128-fwdbwd", "conv3x3s2-n8-c3to32-128-fwdbwdw",
		"gcn-k15-n8-c256to21-32-fwdbwd",
		"bilinear2x-n8-c64-64-fwd", "pixelshuffle2-n8-c64-64-fwd",
		"sam-vitb-encoder-1024", "sam-vitb-prompt-decoder",
		"sam-vitb-grid-decoder-32", "sam-vitb-auto-1024x768",
		"mobilesam-encoder-1024", "mobilesam-auto-1024x768", "mobilesam-auto-1024x768-keepall",
	}
	if got := strings.Join(Names(), " "); got != strings.Join(want, " ") {
		t.Errorf("Names() = %s\nwant      %s", got, strings.Join(want, " "))
	}
}

func TestFlops(t *testing.T) {
	tests := []struct {
		name string
		want float64
	}{
		{"gemm-1024", 2 * 1024 * 1024 * 1024},
		{"gemm-2048", 2 * 2048 * 2048 * 2048},
		{"gemm-4096x576x64", 2 * 4096 * 576 * 64},
		{"conv3x3-n8-c64-56-fwd", 2 * 8 * 64 * 56 * 56 * 64 * 9},
		{"conv3x3-n8-c64-56-fwdbwd", 3 * 2 * 8 * 64 * 56 * 56 * 64 * 9},
		{"conv3x3s2-n8-c3to32-128-fwd", 2 * 8 * 32 * 64 * 64 * 3 * 9},
		{"conv3x3s2-n8-c3to32-128-fwdbwd", 3 * 2 * 8 * 32 * 64 * 64 * 3 * 9},
		{"conv3x3s2-n8-c3to32-128-fwdbwdw", 2 * 2 * 8 * 32 * 64 * 64 * 3 * 9},
		{"gcn-k15-n8-c256to21-32-fwdbwd", 3 * (2*8*21*32*32*256*15 + 2*8*21*32*32*21*15)},
		{"bilinear2x-n8-c64-64-fwd", 0},
		{"pixelshuffle2-n8-c64-64-fwd", 0},
		{"sam-vitb-encoder-1024", samVitBFlops},
		{"sam-vitb-prompt-decoder", 0},
	}
	for _, tt := range tests {
		c, _ := Lookup(tt.name)
		if c.Flops != tt.want {
			t.Errorf("%s: flops %g, want %g", tt.name, c.Flops, tt.want)
		}
	}
	// At Tiny size the work reports the flops of the shrunk problem.
	c, _ := Lookup("gemm-4096x576x64")
	if got, want := c.Setup(Tiny).Flops, 2.0*128*18*3; got != want {
		t.Errorf("tiny gemm-4096x576x64: flops %g, want %g", got, want)
	}
	c, _ = Lookup("conv3x3-n8-c64-56-fwdbwd")
	if got, want := c.Setup(Tiny).Flops, 3.0*2*2*4*14*14*4*9; got != want {
		t.Errorf("tiny conv3x3-n8-c64-56-fwdbwd: flops %g, want %g", got, want)
	}
	c, _ = Lookup("conv3x3s2-n8-c3to32-128-fwdbwdw")
	if got, want := c.Setup(Tiny).Flops, 2.0*2*2*4*16*16*3*9; got != want {
		t.Errorf("tiny conv3x3s2-n8-c3to32-128-fwdbwdw: flops %g, want %g", got, want)
	}
	// Without the input gradient, a chain still computes the input
	// gradients of every layer but the first.
	gcn := convSpec{n: 8, h: 32, w: 32, layers: []convLayer{
		{cin: 256, cout: 21, kh: 15, kw: 1, stride: 1, padH: 7},
		{cin: 21, cout: 21, kh: 1, kw: 15, stride: 1, padW: 7}}}
	if got, want := gcn.passFlops(true, false), float64(2*2*8*21*32*32*256*15+3*2*8*21*32*32*21*15); got != want {
		t.Errorf("gcn chain, weights only: flops %g, want %g", got, want)
	}
	if w := (Work{}); w.GFLOPS(1) != 0 {
		t.Error("GFLOPS of a case without flops is not 0")
	}
	if got := (Work{Flops: 2e9}).GFLOPS(0.5); got != 4 {
		t.Errorf("GFLOPS = %g, want 4", got)
	}
}

// samVitBFlops is the vit_b encoder's count written out term by term: patch embedding,
// 8 windowed blocks on the 70×70 padded grid (4900 tokens in 25 windows of 196), 4 global
// blocks on 4096 tokens, neck.
const samVitBFlops = 2*4096*768*(3*16*16) +
	8*(2*4900*768*3*768+2*4900*768*768+2*2*4900*196*768+2*2*4900*14*768+2*2*4096*768*3072) +
	4*(2*4096*768*3*768+2*4096*768*768+2*2*4096*4096*768+2*2*4096*64*768+2*2*4096*768*3072) +
	2*4096*256*768 + 2*4096*256*256*9

func TestSAMFlops(t *testing.T) {
	if got := samEncoderFlops(samConfig(Full)) / 1e9; got < 972 || got > 972.2 {
		t.Errorf("vit_b encoder: %.2f GFLOP, want about 972.1", got)
	}
	// Tiny: 8×8 grid, width 64, MLP 256, neck to 32; block 0 in 3×3 windows on the 9×9
	// padded grid (81 tokens), block 1 global (64 tokens).
	want := 2.0*64*64*(3*16*16) +
		2*81*64*3*64 + 2*81*64*64 + 2*2*81*9*64 + 2*2*81*3*64 + 2*2*64*64*256 +
		2*64*64*3*64 + 2*64*64*64 + 2*2*64*64*64 + 2*2*64*8*64 + 2*2*64*64*256 +
		2*64*32*64 + 2*64*32*32*9
	if got := samEncoderFlops(samConfig(Tiny)); got != want {
		t.Errorf("tiny encoder: flops %g, want %g", got, want)
	}
	c, _ := Lookup("sam-vitb-encoder-1024")
	if got := c.Setup(Tiny).Flops; got != want {
		t.Errorf("tiny sam-vitb-encoder-1024 work: flops %g, want %g", got, want)
	}
}

func TestSelect(t *testing.T) {
	tests := []struct {
		patterns []string
		want     string
		err      string
	}{
		{nil, strings.Join(Names(), " "), ""},
		{[]string{"gemm-*"}, "gemm-1024 gemm-2048 gemm-4096x576x64", ""},
		{[]string{"pixelshuffle2-n8-c64-64-fwd", "gemm-1024", "gemm-1024"}, "gemm-1024 pixelshuffle2-n8-c64-64-fwd", ""},
		{[]string{"*-fwdbwd"}, "conv3x3-n8-c64-56-fwdbwd conv3x3s2-n8-c3to32-128-fwdbwd gcn-k15-n8-c256to21-32-fwdbwd", ""},
		{[]string{"gemm-3"}, "", `unknown case "gemm-3"; known cases: gemm-1024,`},
		{[]string{"[x"}, "", `case pattern "[x"`},
	}
	for _, tt := range tests {
		got, err := Select(tt.patterns)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Select(%q): error %v, want one containing %q", tt.patterns, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Select(%q): %v", tt.patterns, err)
			continue
		}
		var names []string
		for _, c := range got {
			names = append(names, c.Name)
		}
		if s := strings.Join(names, " "); s != tt.want {
			t.Errorf("Select(%q) = %s, want %s", tt.patterns, s, tt.want)
		}
	}
}

func TestMeasureRule(t *testing.T) {
	runs := 0
	w := Work{Run: func() { runs++; time.Sleep(time.Millisecond) }}
	r := Measure(w, Options{Warmup: 3, Repeat: 4})
	if runs != 7 || len(r.Times) != 4 {
		t.Errorf("runs %d, timed %d; want 7 and 4", runs, len(r.Times))
	}
	runs = 0
	r = Measure(w, Options{Repeat: 1, MinTime: 5 * time.Millisecond})
	var total time.Duration
	for _, d := range r.Times {
		total += d
	}
	if total < 5*time.Millisecond || runs != len(r.Times) {
		t.Errorf("timed runs add up to %v over %d runs (%d in all), want ≥ 5ms", total, len(r.Times), runs)
	}
}

func TestSummarize(t *testing.T) {
	tests := []struct {
		in             []time.Duration
		med, min, maxi time.Duration
	}{
		{[]time.Duration{5}, 5, 5, 5},
		{[]time.Duration{9, 1, 5}, 5, 1, 9},
		{[]time.Duration{4, 1, 8, 2}, 3, 1, 8},
	}
	for _, tt := range tests {
		r := summarize(tt.in)
		if r.Median != tt.med || r.Min != tt.min || r.Max != tt.maxi {
			t.Errorf("summarize(%v) = %v/%v/%v, want %v/%v/%v", tt.in, r.Median, r.Min, r.Max, tt.med, tt.min, tt.maxi)
		}
	}
}

func TestMeasurePanics(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "cases.Measure") {
			t.Errorf("recover() = %v", r)
		}
	}()
	Measure(Work{Run: func() {}}, Options{Repeat: 0})
}
