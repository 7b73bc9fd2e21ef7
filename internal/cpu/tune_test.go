package cpu

import (
	"fmt"
	"os"
	"testing"
)

// BenchmarkSgemmTune times the active kernel with other block sizes; it
// runs only with FOVEA_TUNE=1 in the environment.
func BenchmarkSgemmTune(b *testing.B) {
	if os.Getenv("FOVEA_TUNE") == "" {
		b.Skip("set FOVEA_TUNE=1 to run")
	}
	saved := active
	defer func() { active = saved }()
	for _, kc := range []int{256, 320, 384, 512} {
		for _, nc := range []int{240, 384, 480, 720, 960} {
			for _, s := range []int{1024, 2048} {
				b.Run(fmt.Sprintf("kc%d/nc%d/%d", kc, nc, s), func(b *testing.B) {
					k := saved
					k.kc, k.nc = kc, nc/k.nr*k.nr
					active = k
					benchGemm(b, s, s, s)
				})
			}
		}
	}
}

func init() {
	// FOVEA_KERNEL picks the kernel path, and FOVEA_KC and FOVEA_NC
	// override its block sizes, in benchmarks.
	if v := os.Getenv("FOVEA_KERNEL"); v != "" {
		if err := UseKernel(v); err != nil {
			panic(err)
		}
	}
	var kc, nc int
	if v := os.Getenv("FOVEA_KC"); v != "" {
		fmt.Sscan(v, &kc)
		active.kc = kc
	}
	if v := os.Getenv("FOVEA_NC"); v != "" {
		fmt.Sscan(v, &nc)
		active.nc = nc / active.nr * active.nr
	}
}
