package torchfile

import (
	"encoding/binary"
	"math"
	"sync"
	"unsafe"
)

// DType is the element type of a stored tensor. The names (String) are those
// of the safetensors format, so a tensor keeps its type when converted. The
// zero value is Invalid.
type DType uint8

// The element types torchfile reads. Each is stored little-endian.
const (
	Invalid DType = iota // not a type: the zero value
	F32                  // torch.float32 (FloatStorage)
	F16                  // torch.float16 (HalfStorage)
	BF16                 // torch.bfloat16 (BFloat16Storage)
	F64                  // torch.float64 (DoubleStorage)
	I64                  // torch.int64 (LongStorage)
	I32                  // torch.int32 (IntStorage)
	I16                  // torch.int16 (ShortStorage)
	I8                   // torch.int8 (CharStorage)
	U8                   // torch.uint8 (ByteStorage); also an untyped storage's bytes
	Bool                 // torch.bool (BoolStorage): one byte, 0 false, anything else true
	U16                  // torch.uint16 (PyTorch 2.3 and later, via _rebuild_tensor_v3)
	U32                  // torch.uint32 (PyTorch 2.3 and later, via _rebuild_tensor_v3)
	U64                  // torch.uint64 (PyTorch 2.3 and later, via _rebuild_tensor_v3)
	numDTypes
)

var dtypeNames = [numDTypes]string{
	Invalid: "invalid", F32: "F32", F16: "F16", BF16: "BF16", F64: "F64", I64: "I64",
	I32: "I32", I16: "I16", I8: "I8", U8: "U8", Bool: "BOOL", U16: "U16", U32: "U32", U64: "U64",
}

var dtypeSizes = [numDTypes]int{
	F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, Bool: 1, U16: 2, U32: 4, U64: 8,
}

// torchDTypes maps PyTorch's dtype names (the attribute of module torch, as a
// pickle names them) to DTypes.
var torchDTypes = map[string]DType{
	"float32": F32, "float": F32, "float16": F16, "half": F16, "bfloat16": BF16,
	"float64": F64, "double": F64, "int64": I64, "long": I64, "int32": I32, "int": I32,
	"int16": I16, "short": I16, "int8": I8, "uint8": U8, "bool": Bool,
	"uint16": U16, "uint32": U32, "uint64": U64,
}

// otherTorchDTypes are PyTorch dtypes torchfile knows by name but cannot read
// tensors of; they may still appear as plain values.
var otherTorchDTypes = map[string]bool{
	"complex32": true, "chalf": true, "complex64": true, "cfloat": true, "complex128": true,
	"cdouble": true, "qint8": true, "quint8": true, "qint32": true, "quint4x2": true,
	"quint2x4": true, "float8_e4m3fn": true, "float8_e5m2": true, "float8_e4m3fnuz": true,
	"float8_e5m2fnuz": true, "float8_e8m0fnu": true, "bits8": true, "bits16": true,
	"int1": true, "int2": true, "int3": true, "int4": true, "int5": true, "int6": true, "int7": true,
	"uint1": true, "uint2": true, "uint3": true, "uint4": true, "uint5": true, "uint6": true, "uint7": true,
}

// storageDTypes maps the typed storage classes of module torch to DTypes.
// UntypedStorage holds bytes; _rebuild_tensor_v3 gives the tensor's dtype.
var storageDTypes = map[string]DType{
	"FloatStorage": F32, "HalfStorage": F16, "BFloat16Storage": BF16, "DoubleStorage": F64,
	"LongStorage": I64, "IntStorage": I32, "ShortStorage": I16, "CharStorage": I8,
	"ByteStorage": U8, "BoolStorage": Bool, "UntypedStorage": U8,
}

// String returns the safetensors name of d, such as "F32" or "BOOL".
func (d DType) String() string {
	if d < numDTypes {
		return dtypeNames[d]
	}
	return "invalid"
}

// Size returns the size of one element of d in bytes, or 0 for Invalid.
func (d DType) Size() int {
	if d < numDTypes {
		return dtypeSizes[d]
	}
	return 0
}

// IsFloat reports whether d is a floating-point type (F32, F16, BF16, F64).
func (d DType) IsFloat() bool { return d == F32 || d == F16 || d == BF16 || d == F64 }

// hostLittleEndian is true on little-endian machines, where F32 data is
// copied (or viewed) as is.
var hostLittleEndian = binary.NativeEndian.Uint16([]byte{1, 0}) == 1

// f32Bytes views a float32 slice as its bytes in memory.
func f32Bytes(v []float32) []byte {
	return unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(v))), 4*len(v))
}

// f16Table maps every half to its float32 value (256 KiB, built on first use).
var f16Table = sync.OnceValue(func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = f16ToFloat32(uint16(i))
	}
	return &t
})

// f16ToFloat32 returns the float32 value of the IEEE 754 half with bits h;
// every half is exactly a float32 (a NaN keeps its sign and payload).
func f16ToFloat32(h uint16) float32 {
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

// decodeFloat32 converts len(dst) little-endian elements of type d from src
// (exactly len(dst) elements) into dst. F16 and BF16 convert exactly, F64
// and the 64-bit integers round to nearest even as Go's float32() does.
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
		for i := range dst {
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
		panic("torchfile: decodeFloat32: invalid dtype " + d.String())
	}
}
