package cpu

import (
	"encoding/json"
	"github.com/fovea-ml/fovea/tensor/tensortest/golden"
	"os"
	"testing"
)

// goldenCase is one case of testdata/golden.json, written by
// testdata/golden.py with PyTorch.
type goldenCase struct {
	Kind          string
	Shape         [4]int
	Cout          int
	K, S, P, D    [2]int
	Groups        int
	OutPad        [2]int
	Ceil          bool
	IncludePad    bool
	Divisor       int
	Out           [2]int
	X, W, B, Y    []float32
	G, DX, DW, DB []float32
	Idx           []int32
}

func loadGolden(t *testing.T) []goldenCase {
	t.Helper()
	data, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var raw struct {
		Cases []map[string]json.RawMessage `json:"cases"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	var out []goldenCase
	for _, m := range raw.Cases {
		var c goldenCase
		get := func(key string, v any) {
			if r, ok := m[key]; ok {
				if err := json.Unmarshal(r, v); err != nil {
					t.Fatalf("testdata/golden.json: field %q: %v", key, err)
				}
			}
		}
		get("kind", &c.Kind)
		get("shape", &c.Shape)
		get("cout", &c.Cout)
		get("k", &c.K)
		get("s", &c.S)
		get("p", &c.P)
		get("d", &c.D)
		get("groups", &c.Groups)
		get("out_pad", &c.OutPad)
		get("ceil", &c.Ceil)
		get("include_pad", &c.IncludePad)
		get("divisor", &c.Divisor)
		get("out", &c.Out)
		get("x", &c.X)
		get("w", &c.W)
		get("b", &c.B)
		get("y", &c.Y)
		get("g", &c.G)
		get("dx", &c.DX)
		get("dw", &c.DW)
		get("db", &c.DB)
		get("idx", &c.Idx)
		out = append(out, c)
	}
	return out
}

// near compares a kernel's result with PyTorch's under the one golden
// measure (golden.Err: max |got − want| / max(|want|, 0.01·max|want|)).
func near(t *testing.T, what string, got, want []float32) {
	t.Helper()
	golden.Check(t, "cpu/"+what, got, want, cpuGoldenTol)
}

func TestGoldenPyTorch(t *testing.T) {
	forEachKernel(t, func(t *testing.T) {
		for _, c := range loadGolden(t) {
			n, ch, h, w := c.Shape[0], c.Shape[1], c.Shape[2], c.Shape[3]
			switch c.Kind {
			case "max", "avg":
				p := PoolParams{N: n, C: ch, H: h, W: w, KH: c.K[0], KW: c.K[1], StrideH: c.S[0], StrideW: c.S[1],
					PadH: c.P[0], PadW: c.P[1], DilH: c.D[0], DilW: c.D[1], CeilMode: c.Ceil,
					CountIncludePad: c.IncludePad, DivisorOverride: c.Divisor}
				if p.OutH() != c.Out[0] || p.OutW() != c.Out[1] {
					t.Fatalf("%s pool %+v: output %d×%d, PyTorch %v", c.Kind, p, p.OutH(), p.OutW(), c.Out)
				}
				y := make([]float32, len(c.Y))
				dx := make([]float32, len(c.X))
				if c.Kind == "max" {
					idx := make([]int32, len(y))
					MaxPool2dForward(p, c.X, y, idx)
					for i := range idx {
						if idx[i] != c.Idx[i] {
							t.Fatalf("max pool %+v: idx[%d] = %d, PyTorch %d", p, i, idx[i], c.Idx[i])
						}
					}
					MaxPool2dBackward(p, c.G, idx, dx)
				} else {
					AvgPool2dForward(p, c.X, y)
					AvgPool2dBackward(p, c.G, dx)
				}
				near(t, c.Kind+" pool y", y, c.Y)
				near(t, c.Kind+" pool dx", dx, c.DX)
			case "conv":
				p := ConvParams{N: n, C: ch, H: h, W: w, Cout: c.Cout, KH: c.K[0], KW: c.K[1], StrideH: c.S[0], StrideW: c.S[1],
					PadH: c.P[0], PadW: c.P[1], DilH: c.D[0], DilW: c.D[1], Groups: c.Groups}
				y := make([]float32, len(c.Y))
				Conv2dForward(p, c.X, c.W, c.B, y)
				near(t, "conv y", y, c.Y)
				dx := make([]float32, len(c.X))
				Conv2dBackwardData(p, c.G, c.W, dx)
				near(t, "conv dx", dx, c.DX)
				dw, db := make([]float32, len(c.W)), make([]float32, len(c.B))
				Conv2dBackwardWeight(p, c.X, c.G, dw, db)
				near(t, "conv dw", dw, c.DW)
				near(t, "conv db", db, c.DB)
			case "convT":
				p := ConvTransposeParams{N: n, C: ch, H: h, W: w, Cout: c.Cout, KH: c.K[0], KW: c.K[1], StrideH: c.S[0], StrideW: c.S[1],
					PadH: c.P[0], PadW: c.P[1], OutPadH: c.OutPad[0], OutPadW: c.OutPad[1], DilH: c.D[0], DilW: c.D[1], Groups: c.Groups}
				if p.OutH() != c.Out[0] || p.OutW() != c.Out[1] {
					t.Fatalf("convT %+v: output %d×%d, PyTorch %v", p, p.OutH(), p.OutW(), c.Out)
				}
				y := make([]float32, len(c.Y))
				ConvTranspose2dForward(p, c.X, c.W, c.B, y)
				near(t, "convT y", y, c.Y)
				dx := make([]float32, len(c.X))
				ConvTranspose2dBackwardData(p, c.G, c.W, dx)
				near(t, "convT dx", dx, c.DX)
				dw, db := make([]float32, len(c.W)), make([]float32, len(c.B))
				ConvTranspose2dBackwardWeight(p, c.X, c.G, dw, db)
				near(t, "convT dw", dw, c.DW)
				near(t, "convT db", db, c.DB)
			default:
				t.Fatalf("unknown kind %q", c.Kind)
			}
		}
	})
}

// cpuGoldenTol is the tolerance of the kernels against PyTorch (float32)
// under the golden measure: measured worst case 7.9e-6 (conv db).
const cpuGoldenTol = 1e-5
