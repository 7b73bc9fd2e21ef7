package safetensors

// DType is the element type of a stored tensor, as named in the header's
// "dtype" field. The constants are declared in the reference implementation's
// order of increasing alignment, which the writer uses to lay tensors out
// (largest alignment first). The zero value is Invalid.
type DType uint8

// The element types of the safetensors format. Every one can be read and
// written as raw bytes; Float32 converts all but the sub-byte types (F4,
// F6E2M3, F6E3M2), the rarer 8-bit floats (F8E8M0, F8E4M3FNUZ, F8E5M2FNUZ)
// and C64.
const (
	Invalid    DType = iota // not a type: the zero value
	Bool                    // "BOOL": one byte, 0 false, anything else true
	F4                      // "F4": 4-bit float (MXFP4), two per byte
	F6E2M3                  // "F6_E2M3": 6-bit float (MXFP6)
	F6E3M2                  // "F6_E3M2": 6-bit float (MXFP6)
	U8                      // "U8": unsigned 8-bit integer
	I8                      // "I8": signed 8-bit integer
	F8E5M2                  // "F8_E5M2": 8-bit float, 5 exponent bits, with inf
	F8E4M3                  // "F8_E4M3": 8-bit float, 4 exponent bits, no inf (e4m3fn)
	F8E8M0                  // "F8_E8M0": 8-bit power-of-two scale (MX)
	F8E4M3FNUZ              // "F8_E4M3FNUZ": e4m3 with a single NaN, no negative zero
	F8E5M2FNUZ              // "F8_E5M2FNUZ": e5m2 with a single NaN, no negative zero
	I16                     // "I16": signed 16-bit integer
	U16                     // "U16": unsigned 16-bit integer
	F16                     // "F16": IEEE 754 half precision
	BF16                    // "BF16": bfloat16, the top half of a float32
	I32                     // "I32": signed 32-bit integer
	U32                     // "U32": unsigned 32-bit integer
	F32                     // "F32": IEEE 754 single precision
	C64                     // "C64": complex64, two float32 (real, imaginary)
	F64                     // "F64": IEEE 754 double precision
	I64                     // "I64": signed 64-bit integer
	U64                     // "U64": unsigned 64-bit integer
	numDTypes
)

var dtypeNames = [numDTypes]string{
	Invalid: "invalid", Bool: "BOOL", F4: "F4", F6E2M3: "F6_E2M3", F6E3M2: "F6_E3M2",
	U8: "U8", I8: "I8", F8E5M2: "F8_E5M2", F8E4M3: "F8_E4M3", F8E8M0: "F8_E8M0",
	F8E4M3FNUZ: "F8_E4M3FNUZ", F8E5M2FNUZ: "F8_E5M2FNUZ", I16: "I16", U16: "U16",
	F16: "F16", BF16: "BF16", I32: "I32", U32: "U32", F32: "F32", C64: "C64",
	F64: "F64", I64: "I64", U64: "U64",
}

var dtypeBits = [numDTypes]uint64{
	Bool: 8, F4: 4, F6E2M3: 6, F6E3M2: 6, U8: 8, I8: 8, F8E5M2: 8, F8E4M3: 8,
	F8E8M0: 8, F8E4M3FNUZ: 8, F8E5M2FNUZ: 8, I16: 16, U16: 16, F16: 16, BF16: 16,
	I32: 32, U32: 32, F32: 32, C64: 64, F64: 64, I64: 64, U64: 64,
}

// String returns the name the header uses for d, such as "F32" or "BF16".
func (d DType) String() string {
	if d < numDTypes {
		return dtypeNames[d]
	}
	return "invalid"
}

// Valid reports whether d is one of the format's element types.
func (d DType) Valid() bool { return d > Invalid && d < numDTypes }

// Bits returns the size of one element of d in bits (4 for F4, 16 for BF16),
// or 0 for an invalid d.
func (d DType) Bits() int {
	if d < numDTypes {
		return int(dtypeBits[d])
	}
	return 0
}

// ParseDType returns the DType the header calls name ("F32", "BOOL", ...);
// ok is false for a name the format does not define. Names are case-sensitive.
func ParseDType(name string) (d DType, ok bool) {
	for i := Invalid + 1; i < numDTypes; i++ {
		if dtypeNames[i] == name {
			return i, true
		}
	}
	return Invalid, false
}
