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
	out := tensor.Zeros(outShape...)
	planes := tensor.Numel(shape[:nd-3]) * (c / (r * r))
	shuffle(out.Data(), x.Data(), planes, r, h, w)
	return tensor.Record("PixelShuffle", out, func(g *tensor.Tensor) []*tensor.Tensor {
		gx := tensor.Zeros(shape...)
		unshuffle(gx.Data(), g.Data(), planes, r, h, w)
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
	out := tensor.Zeros(outShape...)
	planes := tensor.Numel(shape[:nd-3]) * c
	unshuffle(out.Data(), x.Data(), planes, r, h, w)
	return tensor.Record("PixelUnshuffle", out, func(g *tensor.Tensor) []*tensor.Tensor {
		gx := tensor.Zeros(shape...)
		shuffle(gx.Data(), g.Data(), planes, r, h, w)
		return []*tensor.Tensor{gx}
	}, x)
}

// shuffle writes the pixel shuffle of src (planes·r², h, w) into dst
// (planes, h·r, w·r), one plane of dst per parallel unit.
func shuffle(dst, src []float32, planes, r, h, w int) {
	plane := h * w * r * r
	parallelFor(planes, max(1, 65536/max(plane, 1)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			d, s := dst[p*plane:(p+1)*plane], src[p*plane:(p+1)*plane]
			for y := 0; y < h; y++ {
				for i := 0; i < r; i++ {
					row := d[(y*r+i)*w*r : (y*r+i+1)*w*r]
					if r == 2 {
						s0 := s[((i*2)*h+y)*w : ((i*2)*h+y+1)*w]
						s1 := s[((i*2+1)*h+y)*w : ((i*2+1)*h+y+1)*w]
						row = row[:2*len(s0)]
						for x := range s0 {
							row[2*x] = s0[x]
							row[2*x+1] = s1[x]
						}
						continue
					}
					for j := 0; j < r; j++ {
						sr := s[((i*r+j)*h+y)*w : ((i*r+j)*h+y+1)*w]
						for x, v := range sr {
							row[x*r+j] = v
						}
					}
				}
			}
		}
	})
}

// unshuffle is the inverse of shuffle: src (planes, h·r, w·r) into dst
// (planes·r², h, w).
func unshuffle(dst, src []float32, planes, r, h, w int) {
	plane := h * w * r * r
	parallelFor(planes, max(1, 65536/max(plane, 1)), func(lo, hi int) {
		for p := lo; p < hi; p++ {
			d, s := dst[p*plane:(p+1)*plane], src[p*plane:(p+1)*plane]
			for y := 0; y < h; y++ {
				for i := 0; i < r; i++ {
					row := s[(y*r+i)*w*r : (y*r+i+1)*w*r]
					if r == 2 {
						d0 := d[((i*2)*h+y)*w : ((i*2)*h+y+1)*w]
						d1 := d[((i*2+1)*h+y)*w : ((i*2+1)*h+y+1)*w]
						row = row[:2*len(d0)]
						for x := range d0 {
							d0[x] = row[2*x]
							d1[x] = row[2*x+1]
						}
						continue
					}
					for j := 0; j < r; j++ {
						dr := d[((i*r+j)*h+y)*w : ((i*r+j)*h+y+1)*w]
						for x := range dr {
							dr[x] = row[x*r+j]
						}
					}
				}
			}
		}
	})
}
