package augment

import (
	"fmt"
	"image"
	"math"

	"github.com/fovea-ml/fovea/data"
	"github.com/fovea-ml/fovea/internal/cpu"
)

// PILFilter is one of Pillow's resampling filters. The values are Pillow's
// own (Image.NEAREST = 0, LANCZOS = 1, BILINEAR = 2, BICUBIC = 3, BOX = 4,
// HAMMING = 5), so the zero value is PILNearest.
type PILFilter int

// Pillow's resampling filters, as Image.Resampling numbers them.
const (
	// PILNearest takes the input pixel under each output pixel's centre.
	PILNearest PILFilter = 0
	// PILLanczos is a 3-lobe Lanczos window (support 3).
	PILLanczos PILFilter = 1
	// PILBilinear is the triangle filter (support 1): what torchvision's
	// F.resize uses on PIL images by default.
	PILBilinear PILFilter = 2
	// PILBicubic is Keys' cubic convolution with a = -0.5 (support 2).
	PILBicubic PILFilter = 3
	// PILBox averages the input pixels each output pixel covers (support 1/2).
	PILBox PILFilter = 4
	// PILHamming is a Hamming-windowed sinc (support 1).
	PILHamming PILFilter = 5
)

// String returns Pillow's name of the filter.
func (f PILFilter) String() string {
	switch f {
	case PILNearest:
		return "NEAREST"
	case PILLanczos:
		return "LANCZOS"
	case PILBilinear:
		return "BILINEAR"
	case PILBicubic:
		return "BICUBIC"
	case PILBox:
		return "BOX"
	case PILHamming:
		return "HAMMING"
	}
	return fmt.Sprintf("PILFilter(%d)", int(f))
}

// pilKernel is a convolution filter of Pillow's separable resampler: its
// function and the half-width outside which the function is zero, both at
// scale 1.
type pilKernel struct {
	fn      func(float64) float64
	support float64
}

// pilKernels maps the convolution filters to their kernels. The arithmetic
// is written with explicit float64 conversions around products so that no
// fused multiply-add changes a rounding (Pillow's x86-64 builds have none).
var pilKernels = map[PILFilter]pilKernel{
	PILBox: {func(x float64) float64 {
		if x > -0.5 && x <= 0.5 {
			return 1
		}
		return 0
	}, 0.5},
	PILBilinear: {func(x float64) float64 {
		x = math.Abs(x)
		if x < 1 {
			return 1 - x
		}
		return 0
	}, 1},
	PILHamming: {func(x float64) float64 {
		x = math.Abs(x)
		if x == 0 {
			return 1
		}
		if x >= 1 {
			return 0
		}
		x = float64(x * math.Pi)
		return float64(math.Sin(x)/x) * (0.54 + float64(0.46*math.Cos(x)))
	}, 1},
	PILBicubic: {func(x float64) float64 {
		const a = -0.5
		x = math.Abs(x)
		if x < 1 {
			return float64(float64(float64(float64((a+2)*x)-(a+3))*x)*x) + 1
		}
		if x < 2 {
			return float64(float64(float64(float64(x-5)*x)+8)*x-4) * a
		}
		return 0
	}, 2},
	PILLanczos: {func(x float64) float64 {
		if x >= -3 && x < 3 {
			return pilSinc(x) * pilSinc(x/3)
		}
		return 0
	}, 3},
}

// pilSinc is sin(πx)/(πx), 1 at 0.
func pilSinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	x = float64(x * math.Pi)
	return math.Sin(x) / x
}

// pilPrecisionBits is the number of fractional bits of the fixed-point
// coefficients Pillow uses for 8-bit images: 32 bits less 8 for the pixel
// value and 2 for headroom (negative lobes, sums above 1).
const pilPrecisionBits = 32 - 8 - 2

// pilAxis holds the fixed-point coefficients of a 1-D resampling from in to
// out samples: output i is the sum over t < n[i] of input[lo[i]+t]·k[i*ksize+t],
// plus one half, shifted right by pilPrecisionBits and clipped to [0, 255].
type pilAxis struct {
	ksize int
	lo, n []int
	k     []int32
}

// pilCoeffs computes Pillow's coefficients for resampling in samples to out
// with kernel f. The scale is in/out; when downscaling the kernel is widened
// by it (antialiasing). Output i is centred at (i+0.5)·scale; the taps are
// the inputs from trunc(centre−support+0.5) (at least 0) to
// trunc(centre+support+0.5) (at most in), weighted by f((j−centre+0.5)/s)
// with s = max(scale, 1), divided by their sum, and rounded half away from
// zero to pilPrecisionBits fractional bits.
func pilCoeffs(in, out int, f pilKernel) pilAxis {
	scale := float64(in) / float64(out)
	fscale := max(scale, 1)
	support := float64(f.support * fscale)
	ksize := int(math.Ceil(support))*2 + 1
	ax := pilAxis{ksize: ksize, lo: make([]int, out), n: make([]int, out), k: make([]int32, out*ksize)}
	ss := 1 / fscale
	w := make([]float64, ksize)
	for i := 0; i < out; i++ {
		center := float64((float64(i) + 0.5) * scale)
		lo := max(int(center-support+0.5), 0)
		hi := min(int(center+support+0.5), in)
		n := hi - lo
		var sum float64
		for t := 0; t < n; t++ {
			v := f.fn(float64((float64(t+lo) - center + 0.5) * ss))
			w[t] = v
			sum += v
		}
		k := ax.k[i*ksize : i*ksize+n]
		for t := range k {
			v := w[t]
			if sum != 0 {
				v /= sum
			}
			if v < 0 {
				k[t] = int32(-0.5 + float64(v*(1<<pilPrecisionBits)))
			} else {
				k[t] = int32(0.5 + float64(v*(1<<pilPrecisionBits)))
			}
		}
		ax.lo[i], ax.n[i] = lo, n
	}
	return ax
}

// pilClip8 turns a fixed-point sum into a byte: the integer part, clipped to
// [0, 255].
func pilClip8(v int32) uint8 {
	if v <= 0 {
		return 0
	}
	if v >= 256<<pilPrecisionBits {
		return 255
	}
	return uint8(v >> pilPrecisionBits)
}

// pilHalf is the rounding term every fixed-point sum starts from.
const pilHalf = 1 << (pilPrecisionBits - 1)

// ResizePIL resizes an 8-bit interleaved image (h rows, w columns, c
// channels, row-major HWC, len h*w*c) to (oh, ow) exactly as Pillow's
// Image.resize((ow, oh), filter) does for modes L (c = 1) and RGB (c = 3),
// which is what torchvision's F.resize does to a PIL image and so what
// Segment Anything's ResizeLongestSide.apply_image computes. The result is a
// new HWC slice of len oh*ow*c and is bit-for-bit Pillow's (checked against
// Pillow 9.4).
//
// The convolution filters (all but PILNearest) follow Pillow's two-pass
// resampler: per axis, each output pixel gets a window of input pixels and
// weights from the filter stretched by the scale when downscaling
// (antialiasing), normalised to sum 1 and rounded to 22-bit fixed point; a
// horizontal pass into an intermediate 8-bit image (rounded and clipped) is
// followed by a vertical pass. A pass is skipped when its dimension is
// unchanged, and an unchanged size returns a copy. PILNearest takes, along
// each axis, the input pixel at the integer part of a float64 position that
// starts at in/(2·out) and grows by in/out per output pixel, as Pillow's
// affine scaler does; the accumulated rounding makes it differ from
// floor((i+0.5)·in/out) at some sizes (2 → 7 for one).
//
// Other channel counts are resized channel by channel, as Pillow does for
// RGBX or CMYK; note that Pillow premultiplies LA and RGBA images by alpha
// before resampling, which ResizePIL does not. ResizePIL panics on a
// non-positive size, a wrong slice length or an unknown filter. Rows are
// spread over the cpu package's workers.
func ResizePIL(src []uint8, h, w, c, oh, ow int, filter PILFilter) []uint8 {
	if h <= 0 || w <= 0 || c <= 0 || oh <= 0 || ow <= 0 || len(src) != h*w*c {
		panic(fmt.Sprintf("augment.ResizePIL: (%d,%d,%d) image of %d bytes to (%d,%d)", h, w, c, len(src), oh, ow))
	}
	if oh == h && ow == w {
		return append([]uint8(nil), src...)
	}
	if filter == PILNearest {
		return pilNearest(src, h, w, c, oh, ow)
	}
	f, ok := pilKernels[filter]
	if !ok {
		panic(fmt.Sprintf("augment.ResizePIL: unknown filter %v", filter))
	}
	if ow == w {
		return pilVertical(src, w, c, oh, pilCoeffs(h, oh, f))
	}
	hx := pilCoeffs(w, ow, f)
	if oh == h {
		return pilHorizontal(src, h, w, c, ow, hx)
	}
	// As Pillow does, resample horizontally only the rows the vertical pass
	// reads, then shift the vertical windows to that band.
	vy := pilCoeffs(h, oh, f)
	first, last := vy.lo[0], vy.lo[oh-1]+vy.n[oh-1]
	tmp := pilHorizontal(src[first*w*c:last*w*c], last-first, w, c, ow, hx)
	for i := range vy.lo {
		vy.lo[i] -= first
	}
	return pilVertical(tmp, ow, c, oh, vy)
}

// pilGrain returns how many rows of about work byte-taps each make a chunk
// worth handing to another goroutine.
func pilGrain(work int) int { return max(1, (1<<16)/max(work, 1)) }

// pilHorizontal resamples each of the h rows of src (w pixels of c channels)
// to ow pixels with the coefficients ax.
func pilHorizontal(src []uint8, h, w, c, ow int, ax pilAxis) []uint8 {
	dst := make([]uint8, h*ow*c)
	cpu.ParallelGrain(h, pilGrain(ow*c*ax.ksize), func(y0, y1 int) {
		for y := y0; y < y1; y++ {
			in := src[y*w*c : (y+1)*w*c]
			out := dst[y*ow*c : (y+1)*ow*c]
			switch c {
			case 1:
				for x := range out {
					k := ax.k[x*ax.ksize : x*ax.ksize+ax.n[x]]
					p := in[ax.lo[x]:]
					p = p[:len(k)]
					s := int32(pilHalf)
					for t, kt := range k {
						s += int32(p[t]) * kt
					}
					out[x] = pilClip8(s)
				}
			case 3:
				for x := 0; x < ow; x++ {
					k := ax.k[x*ax.ksize : x*ax.ksize+ax.n[x]]
					p := in[3*ax.lo[x]:]
					p = p[:3*len(k)]
					s0, s1, s2 := int32(pilHalf), int32(pilHalf), int32(pilHalf)
					for t, kt := range k {
						q := p[3*t : 3*t+3 : 3*t+3]
						s0 += int32(q[0]) * kt
						s1 += int32(q[1]) * kt
						s2 += int32(q[2]) * kt
					}
					o := out[3*x : 3*x+3 : 3*x+3]
					o[0], o[1], o[2] = pilClip8(s0), pilClip8(s1), pilClip8(s2)
				}
			default:
				for x := 0; x < ow; x++ {
					k := ax.k[x*ax.ksize : x*ax.ksize+ax.n[x]]
					for ch := 0; ch < c; ch++ {
						s := int32(pilHalf)
						for t, kt := range k {
							s += int32(in[(ax.lo[x]+t)*c+ch]) * kt
						}
						out[x*c+ch] = pilClip8(s)
					}
				}
			}
		}
	})
	return dst
}

// pilVertical resamples the columns of src (rows of w pixels of c channels)
// to oh rows with the coefficients ax.
func pilVertical(src []uint8, w, c, oh int, ax pilAxis) []uint8 {
	rw := w * c
	dst := make([]uint8, oh*rw)
	cpu.ParallelGrain(oh, pilGrain(rw*ax.ksize), func(y0, y1 int) {
		acc := make([]int32, rw)
		for y := y0; y < y1; y++ {
			for i := range acc {
				acc[i] = pilHalf
			}
			// Integer sums do not depend on their order, so the taps can be
			// the outer loop and whole rows the inner one.
			for t, kt := range ax.k[y*ax.ksize : y*ax.ksize+ax.n[y]] {
				row := src[(ax.lo[y]+t)*rw : (ax.lo[y]+t+1)*rw]
				row = row[:len(acc)]
				for i, v := range row {
					acc[i] += int32(v) * kt
				}
			}
			out := dst[y*rw : (y+1)*rw]
			for i, s := range acc {
				out[i] = pilClip8(s)
			}
		}
	})
	return dst
}

// pilNearestIndex returns, for each of out samples, the input sample Pillow's
// NEAREST resize takes: the integer part of a position that starts at half
// the scale in/out and grows by the scale per sample (accumulated in
// float64, as Pillow's affine scaler does).
func pilNearestIndex(in, out int) []int {
	a := float64(in) / float64(out)
	idx := make([]int, out)
	pos := a * 0.5
	for i := range idx {
		// Pillow leaves an output whose position falls outside the input
		// untouched; with positions within (0, in) that never happens, and
		// the clamp only guards against it.
		idx[i] = min(max(int(pos), 0), in-1)
		pos += a
	}
	return idx
}

// pilNearest is ResizePIL with PILNearest.
func pilNearest(src []uint8, h, w, c, oh, ow int) []uint8 {
	ys := pilNearestIndex(h, oh)
	xs := pilNearestIndex(w, ow)
	dst := make([]uint8, oh*ow*c)
	for y, sy := range ys {
		in := src[sy*w*c : (sy+1)*w*c]
		out := dst[y*ow*c : (y+1)*ow*c]
		for x, sx := range xs {
			copy(out[x*c:(x+1)*c], in[sx*c:(sx+1)*c])
		}
	}
	return dst
}

// ImageToHWC quantises a float image to interleaved bytes as torchvision's
// to_pil_image does with a float tensor (pic.mul(255).byte()): each value is
// multiplied by 255 in float32 and truncated toward zero, so 0.999 gives 254
// (values k/255 made by to_tensor or HWCToImage give back k exactly). Values
// outside [0, 1] are clamped (where torchvision's result depends on the
// platform) and NaN gives 0.
func ImageToHWC(img *data.Image) []uint8 {
	n := img.H * img.W
	out := make([]uint8, n*img.C)
	for c := 0; c < img.C; c++ {
		for i, v := range img.Plane(c) {
			q := float32(v * 255)
			var b uint8
			switch {
			case q >= 255:
				b = 255
			case q > 0:
				b = uint8(q)
			}
			out[i*img.C+c] = b
		}
	}
	return out
}

// HWCToImage returns interleaved bytes (h, w, c) as a (c, h, w) float image
// with values v/255 in float32, as torchvision's to_tensor makes from a PIL
// image or a uint8 array.
func HWCToImage(pix []uint8, h, w, c int) *data.Image {
	if len(pix) != h*w*c {
		panic(fmt.Sprintf("augment.HWCToImage: %d bytes for (%d,%d,%d)", len(pix), h, w, c))
	}
	img := data.NewImage(c, h, w)
	n := h * w
	for ch := 0; ch < c; ch++ {
		p := img.Plane(ch)
		for i := 0; i < n; i++ {
			p[i] = float32(pix[i*c+ch]) / 255
		}
	}
	return img
}

// GoImageToHWC returns a standard library image as interleaved bytes (h, w,
// c), the array np.array(PIL.Image.open(path)) gives for 8-bit grey (c = 1)
// and colour (c = 3) files: *image.Gray gives c = 1, other types c = 3 with
// alpha dropped. Colour conversion is data.FromGoImage's (JPEG YCbCr as
// libjpeg converts it), so the bytes are those data.ReadImage decodes;
// 16-bit samples are rounded to 8 bits.
func GoImageToHWC(src image.Image) (pix []uint8, h, w, c int) {
	b := src.Bounds()
	h, w = b.Dy(), b.Dx()
	switch s := src.(type) {
	case *image.Gray:
		pix = make([]uint8, h*w)
		for y := 0; y < h; y++ {
			copy(pix[y*w:(y+1)*w], s.Pix[y*s.Stride:y*s.Stride+w])
		}
		return pix, h, w, 1
	case *image.NRGBA:
		pix = make([]uint8, h*w*3)
		for y := 0; y < h; y++ {
			row := s.Pix[y*s.Stride : y*s.Stride+4*w]
			for x := 0; x < w; x++ {
				copy(pix[(y*w+x)*3:(y*w+x)*3+3], row[4*x:4*x+3])
			}
		}
		return pix, h, w, 3
	}
	img := data.FromGoImage(src)
	c = img.C
	pix = make([]uint8, h*w*c)
	for ch := 0; ch < c; ch++ {
		for i, v := range img.Plane(ch) {
			pix[i*c+ch] = uint8(min(max(v*255+0.5, 0), 255))
		}
	}
	return pix, h, w, c
}

// ResizeImagePIL resizes a float image with values in [0, 1] to (oh, ow) as
// torchvision does with to_tensor(resize(to_pil_image(img), (oh, ow),
// filter)): it quantises with ImageToHWC (truncation), resizes with
// ResizePIL and returns v/255 (HWCToImage). img must have 1 (mode L) or 3
// (mode RGB) channels; other counts panic, since torchvision would make LA or
// RGBA images, which Pillow resamples premultiplied by alpha.
func ResizeImagePIL(img *data.Image, oh, ow int, filter PILFilter) *data.Image {
	if img.C != 1 && img.C != 3 {
		panic(fmt.Sprintf("augment.ResizeImagePIL: %d channels (want 1 or 3)", img.C))
	}
	return HWCToImage(ResizePIL(ImageToHWC(img), img.H, img.W, img.C, oh, ow, filter), oh, ow, img.C)
}
