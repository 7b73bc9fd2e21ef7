package safetensors

import (
	"encoding/binary"
	"math"
	"sync"
	"unsafe"
)

// hostLittleEndian is true on little-endian machines, where F32 data is
// copied as is instead of decoded element by element.
var hostLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// f16Table maps every half to its float32 value (256 KiB, built on first use).
var f16Table = sync.OnceValue(func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = F16ToFloat32(uint16(i))
	}
	return &t
})

// f32Bytes views a float32 slice as its bytes in memory.
func f32Bytes(v []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
}

// F16ToFloat32 returns the float32 value of the IEEE 754 half-precision number
// with bits h. Every half value, subnormals, infinities and NaNs included, is
// exactly representable, so the conversion is exact (a NaN keeps its sign and
// payload).
func F16ToFloat32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp != 0: // normal: rebias 15 -> 127
		return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
	case mant == 0:
		return math.Float32frombits(sign)
	default: // subnormal: mant * 2^-24, exact in float32
		v := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			v = -v
		}
		return v
	}
}

// Float32ToF16 returns the IEEE 754 half-precision bits nearest to f, ties to
// even, as NumPy's astype(float16) and PyTorch's .half() do: values of
// magnitude 65520 and above become infinity, tiny values round to subnormals
// or signed zero. A NaN stays a NaN with its sign and the top of its payload,
// with the quiet bit set.
func Float32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 | uint16(mant>>13)
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15 // half exponent field if normal
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Subnormal half (or zero): value = m * 2^-24 where m = full >> shift.
		if e < -10 {
			return sign // below half the smallest subnormal: rounds to zero
		}
		full := mant | 0x800000 // 24-bit significand with the implicit one
		shift := uint32(14 - e) // 14..24
		half := full >> shift
		rem := full & (1<<shift - 1)
		mid := uint32(1) << (shift - 1)
		if rem > mid || (rem == mid && half&1 == 1) {
			half++ // may carry into the smallest normal, which is right
		}
		return sign | uint16(half)
	}
	h := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && h&1 == 1) {
		h++ // a carry into the exponent is right, up to infinity
	}
	return sign | uint16(h)
}

// BF16ToFloat32 returns the float32 value of the bfloat16 number with bits h:
// the bits become the top half of a float32, so the conversion is exact.
func BF16ToFloat32(h uint16) float32 { return math.Float32frombits(uint32(h) << 16) }

// Float32ToBF16 returns the bfloat16 bits nearest to f, ties to even, as
// PyTorch's .bfloat16() does: finite values too large round to infinity. A
// NaN becomes a quiet NaN with the same sign and the top of its payload.
func Float32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 { // NaN
		return uint16(b>>16) | 0x0040
	}
	return uint16((b + 0x7fff + (b>>16)&1) >> 16)
}

// f8e5m2ToFloat32 converts an e5m2 byte, which is the top byte of a half.
func f8e5m2ToFloat32(b byte) float32 { return F16ToFloat32(uint16(b) << 8) }

// f8e4m3ToFloat32 converts an e4m3fn byte: bias 7, no infinities,
// S.1111.111 is NaN.
func f8e4m3ToFloat32(b byte) float32 {
	sign := float32(1)
	if b&0x80 != 0 {
		sign = -1
	}
	exp := int(b>>3) & 0xf
	mant := int(b & 7)
	switch {
	case exp == 0xf && mant == 7:
		return float32(math.NaN()) * sign
	case exp == 0:
		return sign * float32(mant) / (1 << 9) // mant * 2^-3 * 2^-6
	default:
		return sign * float32(8+mant) * float32(math.Ldexp(1, exp-10))
	}
}

// canConvert reports whether decodeFloat32 handles d.
func canConvert(d DType) bool {
	switch d {
	case Bool, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64, F8E5M2, F8E4M3:
		return true
	}
	return false
}

// decodeFloat32 converts len(dst) little-endian elements of type d from src
// into dst. src must hold exactly len(dst) elements; d must satisfy canConvert.
func decodeFloat32(dst []float32, src []byte, d DType) {
	le := binary.LittleEndian
	switch d {
	case Bool:
		for i, v := range src[:len(dst)] {
			if v != 0 {
				dst[i] = 1
			} else {
				dst[i] = 0
			}
		}
	case U8:
		for i, v := range src[:len(dst)] {
			dst[i] = float32(v)
		}
	case I8:
		for i, v := range src[:len(dst)] {
			dst[i] = float32(int8(v))
		}
	case F8E5M2:
		for i, v := range src[:len(dst)] {
			dst[i] = f8e5m2ToFloat32(v)
		}
	case F8E4M3:
		for i, v := range src[:len(dst)] {
			dst[i] = f8e4m3ToFloat32(v)
		}
	case I16:
		for i := range dst {
			dst[i] = float32(int16(le.Uint16(src[2*i:])))
		}
	case U16:
		for i := range dst {
			dst[i] = float32(le.Uint16(src[2*i:]))
		}
	case F16:
		table := f16Table()
		src = src[:2*len(dst)]
		for i := range dst {
			dst[i] = table[uint16(src[2*i])|uint16(src[2*i+1])<<8]
		}
	case BF16:
		src = src[:2*len(dst)]
		i := 0
		for ; i+4 <= len(dst); i += 4 { // four at a time from one 8-byte load
			w := le.Uint64(src[2*i:])
			d := dst[i : i+4 : i+4]
			d[0] = math.Float32frombits(uint32(w) << 16)
			d[1] = math.Float32frombits(uint32(w>>16) << 16)
			d[2] = math.Float32frombits(uint32(w>>32) << 16)
			d[3] = math.Float32frombits(uint32(w>>48) << 16)
		}
		for ; i < len(dst); i++ {
			dst[i] = math.Float32frombits(uint32(src[2*i])<<16 | uint32(src[2*i+1])<<24)
		}
	case I32:
		for i := range dst {
			dst[i] = float32(int32(le.Uint32(src[4*i:])))
		}
	case U32:
		for i := range dst {
			dst[i] = float32(le.Uint32(src[4*i:]))
		}
	case F32:
		if hostLittleEndian {
			copy(f32Bytes(dst), src)
			return
		}
		for i := range dst {
			dst[i] = math.Float32frombits(le.Uint32(src[4*i:]))
		}
	case F64:
		for i := range dst {
			dst[i] = float32(math.Float64frombits(le.Uint64(src[8*i:])))
		}
	case I64:
		for i := range dst {
			dst[i] = float32(int64(le.Uint64(src[8*i:])))
		}
	case U64:
		for i := range dst {
			dst[i] = float32(le.Uint64(src[8*i:]))
		}
	default:
		panic("safetensors: decodeFloat32: unsupported dtype " + d.String())
	}
}

// canEncode reports whether encodeFloat32 handles d.
func canEncode(d DType) bool {
	switch d {
	case Bool, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64:
		return true
	}
	return false
}

// roundInt rounds v to the nearest integer, ties to even, and clamps it to
// [lo, hi]; NaN becomes 0.
func roundInt(v float32, lo, hi float64) float64 {
	if v != v {
		return 0
	}
	r := math.RoundToEven(float64(v))
	return math.Max(lo, math.Min(hi, r))
}

// encodeFloat32 writes src as little-endian elements of type d into dst,
// which holds exactly len(src) elements. d must satisfy canEncode.
func encodeFloat32(dst []byte, src []float32, d DType) {
	le := binary.LittleEndian
	switch d {
	case Bool:
		for i, v := range src {
			if v != 0 {
				dst[i] = 1
			} else {
				dst[i] = 0
			}
		}
	case U8:
		for i, v := range src {
			dst[i] = uint8(roundInt(v, 0, math.MaxUint8))
		}
	case I8:
		for i, v := range src {
			dst[i] = uint8(int8(roundInt(v, math.MinInt8, math.MaxInt8)))
		}
	case I16:
		for i, v := range src {
			le.PutUint16(dst[2*i:], uint16(int16(roundInt(v, math.MinInt16, math.MaxInt16))))
		}
	case U16:
		for i, v := range src {
			le.PutUint16(dst[2*i:], uint16(roundInt(v, 0, math.MaxUint16)))
		}
	case F16:
		for i, v := range src {
			le.PutUint16(dst[2*i:], Float32ToF16(v))
		}
	case BF16:
		for i, v := range src {
			le.PutUint16(dst[2*i:], Float32ToBF16(v))
		}
	case I32:
		for i, v := range src {
			le.PutUint32(dst[4*i:], uint32(int32(roundInt(v, math.MinInt32, math.MaxInt32))))
		}
	case U32:
		for i, v := range src {
			le.PutUint32(dst[4*i:], uint32(roundInt(v, 0, math.MaxUint32)))
		}
	case F32:
		if hostLittleEndian {
			copy(dst, f32Bytes(src))
			return
		}
		for i, v := range src {
			le.PutUint32(dst[4*i:], math.Float32bits(v))
		}
	case F64:
		for i, v := range src {
			le.PutUint64(dst[8*i:], math.Float64bits(float64(v)))
		}
	case I64:
		for i, v := range src {
			// 2^63 is not an int64; the largest float32 below it is.
			le.PutUint64(dst[8*i:], uint64(int64(roundInt(v, math.MinInt64, 9223371487098961920))))
		}
	case U64:
		for i, v := range src {
			le.PutUint64(dst[8*i:], uint64(roundInt(v, 0, 18446742974197923840)))
		}
	default:
		panic("safetensors: encodeFloat32: unsupported dtype " + d.String())
	}
}
