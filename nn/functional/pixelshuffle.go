package functional

import (
	"fmt"

	"github.com/fovea-ml/fovea/tensor"
)

// PixelShuffle rearranges x (…, C·r², H, W) into (…, C, H·r, W·r) with
// upscale factor r, as torch.nn.functional.pixel_shuffle (Shi et al. 2016):
// out[…, c, h·r+i, w·r+j] = x[…, c·r²+i·r+j, h, w]. x needs at least 3
// dimensions. Its gradient is PixelUnshuffle of the output gradient.
func PixelShuffle(x *tensor.Tensor, r int) *tensor.Tensor {
	shape := x.Shape()
	if r < 1 || len(shape) < 3 {
		panic(fmt.Sprintf("functional.PixelShuffle: x %s with factor %d: need factor ≥ 1 and (…, C·r², H, W)", tensor.FormatShape(shape), r))
	}
	nd := len(shape)
	c, h, w := shape[nd-3], shape[nd-2], shape[nd-1]
	if c%(r*r) != 0 {
		panic(fmt.Sprintf("functional.PixelShuffle: channels %d of x %s are not divisible by factor² %d", c, tensor.FormatShape(shape), r*r))
	}
	outShape := append([]int(nil), shape[:nd-3]...)
	outShape = append(outShape, c/(r*r), h*r, w*r)
	out := tensor.Empty(outShape...) // a permutation: every element is written
	planes := tensor.Numel(shape[:nd-3]) * (c / (r * r))
	shuffle(out.Data(), x.Data(), planes, r, h, w, true)
	return tensor.Record("PixelShuffle", out, func(g *tensor.Tensor) []*tensor.Tensor {
		gx := tensor.Empty(shape...)
		shuffle(g.Data(), gx.Data(), planes, r, h, w, false)
		return []*tensor.Tensor{gx}
	}, x)
}

// PixelUnshuffle is the inverse of PixelShuffle: x (…, C, H·r, W·r) becomes
// (…, C·r², H, W) with out[…, c·r²+i·r+j, h, w] = x[…, c, h·r+i, w·r+j], as
// torch.nn.functional.pixel_unshuffle. H and W of x must be divisible by r.
func PixelUnshuffle(x *tensor.Tensor, r int) *tensor.Tensor {
	shape := x.Shape()
	if r < 1 || len(shape) < 3 {
		panic(fmt.Sprintf("functional.PixelUnshuffle: x %s with factor %d: need factor ≥ 1 and (…, C, H·r, W·r)", tensor.FormatShape(shape), r))
	}
	nd := len(shape)
	c, hr, wr := shape[nd-3], shape[nd-2], shape[nd-1]
	if hr%r != 0 || wr%r != 0 {
		panic(fmt.Sprintf("functional.PixelUnshuffle: height and width of x %s are not divisible by factor %d", tensor.FormatShape(shape), r))
	}
	h, w := hr/r, wr/r
	outShape := append([]int(nil), shape[:nd-3]...)
	outShape = append(outShape, c*r*r, h, w)
	out := tensor.Empty(outShape...) // a permutation: every element is written
	planes := tensor.Numel(shape[:nd-3]) * c
	shuffle(x.Data(), out.Data(), planes, r, h, w, false)
	return tensor.Record("PixelUnshuffle", out, func(g *tensor.Tensor) []*tensor.Tensor {
		gx := tensor.Empty(shape...)
		shuffle(gx.Data(), g.Data(), planes, r, h, w, true)
		return []*tensor.Tensor{gx}
	}, x)
}

// shuffle moves values between the layouts of PixelShuffle, wide
// (planes, h·r, w·r) and narrow (planes·r², h, w), with
// wide[p, y·r+i, x·r+j] = narrow[p·r²+i·r+j, y, x]: into wide when toWide
// (the pixel shuffle), into narrow otherwise (the unshuffle). One plane of
// wide is one parallel unit.
func shuffle(wide, narrow []float32, planes, r, h, w int, toWide bool) {
	plane := h * w * r * r
	parallelFor(planes, max(1, 65536/max(plane, 1)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			wp, np := wide[p*plane:(p+1)*plane], narrow[p*plane:(p+1)*plane]
			for y := 0; y < h; y++ {
				for i := 0; i < r; i++ {
					row := wp[(y*r+i)*w*r : (y*r+i+1)*w*r]
					if r == 2 { // both columns of a row in one pass
						n0 := np[((i*2)*h+y)*w : ((i*2)*h+y+1)*w]
						n1 := np[((i*2+1)*h+y)*w : ((i*2+1)*h+y+1)*w]
						row = row[:2*len(n0)]
						if toWide {
							for x := range n0 {
								row[2*x], row[2*x+1] = n0[x], n1[x]
							}
						} else {
							for x := range n0 {
								n0[x], n1[x] = row[2*x], row[2*x+1]
							}
						}
						continue
					}
					for j := 0; j < r; j++ {
						nr := np[((i*r+j)*h+y)*w : ((i*r+j)*h+y+1)*w]
						if toWide {
							for x, v := range nr {
								row[x*r+j] = v
							}
						} else {
							for x := range nr {
								nr[x] = row[x*r+j]
							}
						}
					}
				}
			}
		}
	})
}
