package cpu

import (
	"math/rand/v2"
	"runtime"
	"testing"
)

type convBench struct {
	p      ConvParams
	x, w   []float32
	b, y   []float32
	dy, dx []float32
	dw, db []float32
}

func newConvBench(p ConvParams, bias bool) *convBench {
	rng := rand.New(rand.NewPCG(1, 2))
	c := &convBench{p: p}
	c.x = randSlice(rng, p.N*p.C*p.H*p.W)
	c.w = randSlice(rng, p.Cout*p.C/one(p.Groups)*p.KH*p.KW)
	if bias {
		c.b = randSlice(rng, p.Cout)
		c.db = make([]float32, p.Cout)
	}
	c.y = make([]float32, p.N*p.Cout*p.OutH()*p.OutW())
	c.dy = randSlice(rng, len(c.y))
	c.dx = make([]float32, len(c.x))
	c.dw = make([]float32, len(c.w))
	return c
}

func (c *convBench) fwd() { Conv2dForward(c.p, c.x, c.w, c.b, c.y) }
func (c *convBench) bwd() {
	Conv2dBackwardData(c.p, c.dy, c.w, c.dx)
	Conv2dBackwardWeight(c.p, c.x, c.dy, c.dw, c.db)
}

func benchThreads(b *testing.B) {
	saved := Threads()
	SetThreads(runtime.GOMAXPROCS(0))
	b.Cleanup(func() { SetThreads(saved) })
}

// BenchmarkConv runs the convolution cases of `fovea bench`.
func BenchmarkConv(b *testing.B) {
	conv3 := ConvParams{N: 8, C: 64, H: 56, W: 56, Cout: 64, KH: 3, KW: 3, PadH: 1, PadW: 1}
	b.Run("conv3x3-n8-c64-56-fwd", func(b *testing.B) {
		benchThreads(b)
		c := newConvBench(conv3, true)
		b.ResetTimer()
		start := cpuTime()
		defer reportCPU(b, start)
		for i := 0; i < b.N; i++ {
			c.fwd()
		}
	})
	b.Run("conv3x3-n8-c64-56-bwddata", func(b *testing.B) {
		benchThreads(b)
		c := newConvBench(conv3, true)
		b.ResetTimer()
		start := cpuTime()
		defer reportCPU(b, start)
		for i := 0; i < b.N; i++ {
			Conv2dBackwardData(c.p, c.dy, c.w, c.dx)
		}
	})
	b.Run("conv3x3-n8-c64-56-bwdweight", func(b *testing.B) {
		benchThreads(b)
		c := newConvBench(conv3, true)
		b.ResetTimer()
		start := cpuTime()
		defer reportCPU(b, start)
		for i := 0; i < b.N; i++ {
			Conv2dBackwardWeight(c.p, c.x, c.dy, c.dw, c.db)
		}
	})
	b.Run("conv3x3-n8-c64-56-fwdbwd", func(b *testing.B) {
		benchThreads(b)
		c := newConvBench(conv3, true)
		b.ResetTimer()
		start := cpuTime()
		defer reportCPU(b, start)
		for i := 0; i < b.N; i++ {
			c.fwd()
			c.bwd()
		}
	})
	b.Run("conv3x3s2-n8-c3to32-128-fwd", func(b *testing.B) {
		benchThreads(b)
		c := newConvBench(ConvParams{N: 8, C: 3, H: 128, W: 128, Cout: 32, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}, true)
		b.ResetTimer()
		start := cpuTime()
		defer reportCPU(b, start)
		for i := 0; i < b.N; i++ {
			c.fwd()
		}
	})
	b.Run("gcn-k15-n8-c256to21-32-fwdbwd", func(b *testing.B) {
		benchThreads(b)
		c1 := newConvBench(ConvParams{N: 8, C: 256, H: 32, W: 32, Cout: 21, KH: 15, KW: 1, PadH: 7}, false)
		c2 := newConvBench(ConvParams{N: 8, C: 21, H: 32, W: 32, Cout: 21, KH: 1, KW: 15, PadW: 7}, false)
		b.ResetTimer()
		start := cpuTime()
		defer reportCPU(b, start)
		for i := 0; i < b.N; i++ {
			c1.fwd()
			copy(c2.x, c1.y)
			c2.fwd()
			c2.bwd()
			copy(c1.dy, c2.dx)
			c1.bwd()
		}
	})
}

// BenchmarkConvStem times the stem convolution of `fovea bench`
// (conv3x3s2-n8-c3to32-128) pass by pass.
func BenchmarkConvStem(b *testing.B) {
	p := ConvParams{N: 8, C: 3, H: 128, W: 128, Cout: 32, KH: 3, KW: 3, StrideH: 2, StrideW: 2, PadH: 1, PadW: 1}
	for _, pass := range []struct {
		name string
		run  func(c *convBench)
	}{
		{"fwd", func(c *convBench) { Conv2dForward(c.p, c.x, c.w, nil, c.y) }},
		{"bwddata", func(c *convBench) { Conv2dBackwardData(c.p, c.dy, c.w, c.dx) }},
		{"bwdweight", func(c *convBench) { Conv2dBackwardWeight(c.p, c.x, c.dy, c.dw, nil) }},
	} {
		for _, depth := range []int{directMaxDepth, 0} {
			name := pass.name
			if depth == 0 {
				name += "-gemm" // the GEMM path, for comparison
			}
			b.Run(name, func(b *testing.B) {
				benchThreads(b)
				saved := directMaxDepth
				directMaxDepth = depth
				defer func() { directMaxDepth = saved }()
				c := newConvBench(p, false)
				b.ResetTimer()
				start := cpuTime()
				defer reportCPU(b, start)
				for i := 0; i < b.N; i++ {
					pass.run(c)
				}
			})
		}
	}
}
