package data

import "image"

// libjpeg's fixed-point YCbCr → RGB tables (jdcolor.c), so decoded JPEGs
// match libjpeg-turbo (and so Pillow and torchvision) as closely as Go's
// IDCT allows.
var crR, cbB, crG, cbG [256]int32

func init() {
	const scaleBits = 16
	const half = 1 << (scaleBits - 1)
	fix := func(x float64) int32 { return int32(x*(1<<scaleBits) + 0.5) }
	for i := 0; i < 256; i++ {
		x := int32(i - 128)
		crR[i] = (fix(1.40200)*x + half) >> scaleBits
		cbB[i] = (fix(1.77200)*x + half) >> scaleBits
		crG[i] = -fix(0.71414) * x
		cbG[i] = -fix(0.34414)*x + half
	}
}

// ycbcrLibjpeg converts a decoded JPEG to RGB planes as libjpeg-turbo does
// by default: chroma subsampled 2×1 or 2×2 is upsampled with its "fancy"
// triangle filter (not repeated, as Go's image.YCbCr.At does), then
// converted with libjpeg's rounding. It reports false for layouts it does not
// handle (the caller then falls back to Go's conversion).
func ycbcrLibjpeg(s *image.YCbCr, r, g, b []float32) bool {
	w, h := s.Rect.Dx(), s.Rect.Dy()
	if s.Rect.Min != (image.Point{}) {
		return false
	}
	cw, ch := (w+1)/2, (h+1)/2
	var cbRow, crRow []uint8
	switch s.SubsampleRatio {
	case image.YCbCrSubsampleRatio444:
		cw, ch = w, h
	case image.YCbCrSubsampleRatio422:
		ch = h
		if cw < 2 {
			return false
		}
	case image.YCbCrSubsampleRatio420:
		if cw < 2 {
			return false
		}
	default:
		return false
	}
	cbRow, crRow = make([]uint8, w), make([]uint8, w)
	sum0, sum1 := make([]int32, cw), make([]int32, cw) // column sums for 2×2
	for y := 0; y < h; y++ {
		switch s.SubsampleRatio {
		case image.YCbCrSubsampleRatio444:
			copy(cbRow, s.Cb[y*s.CStride:y*s.CStride+w])
			copy(crRow, s.Cr[y*s.CStride:y*s.CStride+w])
		case image.YCbCrSubsampleRatio422:
			h2v1(s.Cb[y*s.CStride:y*s.CStride+cw], cbRow)
			h2v1(s.Cr[y*s.CStride:y*s.CStride+cw], crRow)
		case image.YCbCrSubsampleRatio420:
			in := y / 2
			nb := in - 1 // the nearer neighbouring chroma row
			if y%2 == 1 {
				nb = in + 1
			}
			nb = min(max(nb, 0), ch-1)
			h2v2(s.Cb[in*s.CStride:in*s.CStride+cw], s.Cb[nb*s.CStride:nb*s.CStride+cw], sum0, cbRow)
			h2v2(s.Cr[in*s.CStride:in*s.CStride+cw], s.Cr[nb*s.CStride:nb*s.CStride+cw], sum1, crRow)
		}
		yrow := s.Y[y*s.YStride : y*s.YStride+w]
		for x, yy := range yrow {
			cb, cr := cbRow[x], crRow[x]
			Y := int32(yy)
			i := y*w + x
			r[i] = float32(clamp255(Y+crR[cr])) / 255
			g[i] = float32(clamp255(Y+((cbG[cb]+crG[cr])>>16))) / 255
			b[i] = float32(clamp255(Y+cbB[cb])) / 255
		}
	}
	return true
}

func clamp255(v int32) int32 { return min(max(v, 0), 255) }

// h2v1 is libjpeg's h2v1_fancy_upsample of one row: in has (len(out)+1)/2
// samples.
func h2v1(in, out []uint8) {
	n := len(in)
	put := func(x int, v int32) {
		if x < len(out) {
			out[x] = uint8(v)
		}
	}
	for c := 0; c < n; c++ {
		v := int32(in[c]) * 3
		if c == 0 {
			put(0, int32(in[0]))
		} else {
			put(2*c, (v+int32(in[c-1])+1)>>2)
		}
		if c == n-1 {
			put(2*c+1, int32(in[c]))
		} else {
			put(2*c+1, (v+int32(in[c+1])+2)>>2)
		}
	}
}

// h2v2 is libjpeg's h2v2_fancy_upsample of one output row from its chroma
// row in and the nearer neighbouring chroma row nb.
func h2v2(in, nb []uint8, sum []int32, out []uint8) {
	n := len(in)
	for c := 0; c < n; c++ {
		sum[c] = int32(in[c])*3 + int32(nb[c])
	}
	put := func(x int, v int32) {
		if x < len(out) {
			out[x] = uint8(v)
		}
	}
	for c := 0; c < n; c++ {
		if c == 0 {
			put(0, (sum[0]*4+8)>>4)
		} else {
			put(2*c, (sum[c]*3+sum[c-1]+8)>>4)
		}
		if c == n-1 {
			put(2*c+1, (sum[c]*4+7)>>4)
		} else {
			put(2*c+1, (sum[c]*3+sum[c+1]+7)>>4)
		}
	}
}
