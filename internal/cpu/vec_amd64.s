//go:build !noasm

#include "textflag.h"

// func axpyAVX512(a float32, x, y *float32, n int)
// y[i] += a*x[i] for i < n.
TEXT ·axpyAVX512(SB), NOSPLIT, $0-32
	VBROADCASTSS a+0(FP), Z31
	MOVQ x+8(FP), SI
	MOVQ y+16(FP), DI
	MOVQ n+24(FP), CX
axpy64:
	CMPQ CX, $64
	JLT  axpy16
	VMOVUPS (DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	VFMADD231PS (SI), Z31, Z0
	VFMADD231PS 64(SI), Z31, Z1
	VFMADD231PS 128(SI), Z31, Z2
	VFMADD231PS 192(SI), Z31, Z3
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ $256, SI
	ADDQ $256, DI
	SUBQ $64, CX
	JMP  axpy64
axpy16:
	CMPQ CX, $16
	JLT  axpytail
	VMOVUPS (DI), Z0
	VFMADD231PS (SI), Z31, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  axpy16
axpytail:
	TESTQ CX, CX
	JZ   axpydone
	MOVL $1, AX
	SHLXL CX, AX, AX
	DECL AX
	KMOVW AX, K1
	VMOVUPS.Z (DI), K1, Z0
	VMOVUPS.Z (SI), K1, Z1
	VFMADD231PS Z1, Z31, Z0
	VMOVUPS Z0, K1, (DI)
axpydone:
	VZEROUPPER
	RET

// func dotAVX512(x, y *float32, n int) float32
TEXT ·dotAVX512(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	VPXORD Z0, Z0, Z0
	VPXORD Z1, Z1, Z1
	VPXORD Z2, Z2, Z2
	VPXORD Z3, Z3, Z3
dot64:
	CMPQ CX, $64
	JLT  dot16
	VMOVUPS (SI), Z4
	VMOVUPS 64(SI), Z5
	VMOVUPS 128(SI), Z6
	VMOVUPS 192(SI), Z7
	VFMADD231PS (DI), Z4, Z0
	VFMADD231PS 64(DI), Z5, Z1
	VFMADD231PS 128(DI), Z6, Z2
	VFMADD231PS 192(DI), Z7, Z3
	ADDQ $256, SI
	ADDQ $256, DI
	SUBQ $64, CX
	JMP  dot64
dot16:
	CMPQ CX, $16
	JLT  dottail
	VMOVUPS (SI), Z4
	VFMADD231PS (DI), Z4, Z0
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  dot16
dottail:
	TESTQ CX, CX
	JZ   dotsum
	MOVL $1, AX
	SHLXL CX, AX, AX
	DECL AX
	KMOVW AX, K1
	VMOVUPS.Z (SI), K1, Z4
	VMOVUPS.Z (DI), K1, Z5
	VFMADD231PS Z5, Z4, Z1
dotsum:
	VADDPS Z1, Z0, Z0
	VADDPS Z3, Z2, Z2
	VADDPS Z2, Z0, Z0
	VEXTRACTF32X8 $1, Z0, Y1
	VADDPS Y1, Y0, Y0
	VEXTRACTF128 $1, Y0, X1
	VADDPS X1, X0, X0
	VMOVHLPS X0, X0, X1
	VADDPS X1, X0, X0
	VMOVSHDUP X0, X1
	VADDSS X1, X0, X0
	VMOVSS X0, ret+24(FP)
	VZEROUPPER
	RET

DATA deintEven<>+0(SB)/4, $0
DATA deintEven<>+4(SB)/4, $2
DATA deintEven<>+8(SB)/4, $4
DATA deintEven<>+12(SB)/4, $6
DATA deintEven<>+16(SB)/4, $8
DATA deintEven<>+20(SB)/4, $10
DATA deintEven<>+24(SB)/4, $12
DATA deintEven<>+28(SB)/4, $14
DATA deintEven<>+32(SB)/4, $16
DATA deintEven<>+36(SB)/4, $18
DATA deintEven<>+40(SB)/4, $20
DATA deintEven<>+44(SB)/4, $22
DATA deintEven<>+48(SB)/4, $24
DATA deintEven<>+52(SB)/4, $26
DATA deintEven<>+56(SB)/4, $28
DATA deintEven<>+60(SB)/4, $30
GLOBL deintEven<>(SB), RODATA|NOPTR, $64

// func deinterleave2AVX512(even, odd, src *float32, n int)
// even[i] = src[2i], odd[i] = src[2i+1] for i < n (src has 2n values).
TEXT ·deinterleave2AVX512(SB), NOSPLIT, $0-32
	MOVQ even+0(FP), DI
	MOVQ odd+8(FP), DX
	MOVQ src+16(FP), SI
	MOVQ n+24(FP), CX
	VMOVDQU32 deintEven<>(SB), Z30
	MOVL $1, AX
	VPBROADCASTD AX, Z31
	VPADDD Z31, Z30, Z31
deint16:
	CMPQ CX, $16
	JLT  deinttail
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z1
	VMOVAPS Z0, Z2
	VPERMT2PS Z1, Z30, Z0
	VPERMT2PS Z1, Z31, Z2
	VMOVUPS Z0, (DI)
	VMOVUPS Z2, (DX)
	ADDQ $128, SI
	ADDQ $64, DI
	ADDQ $64, DX
	SUBQ $16, CX
	JMP  deint16
deinttail:
	TESTQ CX, CX
	JZ   deintdone
	// Load 2n remaining values with masks, then permute.
	MOVQ CX, R8
	SHLQ $1, R8
	MOVQ R8, R9
	CMPQ R9, $16
	JLE  deintlo
	MOVL $0xffff, AX
	KMOVW AX, K1
	SUBQ $16, R9
	MOVL $1, AX
	SHLXL R9, AX, AX
	DECL AX
	KMOVW AX, K2
	JMP  deintload
deintlo:
	MOVL $1, AX
	SHLXL R9, AX, AX
	DECL AX
	KMOVW AX, K1
	KXORW K2, K2, K2
deintload:
	VMOVUPS.Z (SI), K1, Z0
	VMOVUPS.Z 64(SI), K2, Z1
	VMOVAPS Z0, Z2
	VPERMT2PS Z1, Z30, Z0
	VPERMT2PS Z1, Z31, Z2
	MOVL $1, AX
	SHLXL CX, AX, AX
	DECL AX
	KMOVW AX, K3
	VMOVUPS Z0, K3, (DI)
	VMOVUPS Z2, K3, (DX)
deintdone:
	VZEROUPPER
	RET

// func addOuterAVX512(dst, a, b *float32, m, n int)
// dst[i·n + j] += a[i] + b[j] for i < m, j < n (m, n > 0; dst is m×n,
// row-major), the sum a[i] + b[j] rounded before it is added, as in Go.
// A masked store that ends inside a row's last vector would stall the
// next row's load of the same 64 bytes (store-to-load forwarding fails),
// so no store here crosses into a row not yet loaded:
//   - n ≥ 16: each row is 64 floats at a time, then 16, and a remainder
//     of n mod 16 is done as one unmasked vector ending at the row's end,
//     loaded and summed before the row's other stores (where it overlaps
//     them it stores the same values);
//   - n < 16: eight rows at a time are loaded (masked to n lanes) before
//     any is stored, then single rows.
TEXT ·addOuterAVX512(SB), NOSPLIT, $0-40
	MOVQ dst+0(FP), DI
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), BX
	MOVQ m+24(FP), R8
	MOVQ n+32(FP), R9
	CMPQ R9, $16
	JLT  aosmall
	// R12 = 4·(n − 16), the byte offset of the vector ending a row.
	LEAQ -64(R9*4), R12
	MOVQ R9, CX
	ANDQ $15, CX
aorow:
	VBROADCASTSS (SI), Z31
	TESTQ CX, CX
	JZ   aomain
	VADDPS (BX)(R12*1), Z31, Z4
	VADDPS (DI)(R12*1), Z4, Z4
aomain:
	MOVQ BX, R10
	MOVQ R9, DX
ao64:
	CMPQ DX, $64
	JLT  ao16
	VADDPS (R10), Z31, Z0
	VADDPS 64(R10), Z31, Z1
	VADDPS 128(R10), Z31, Z2
	VADDPS 192(R10), Z31, Z3
	VADDPS (DI), Z0, Z0
	VADDPS 64(DI), Z1, Z1
	VADDPS 128(DI), Z2, Z2
	VADDPS 192(DI), Z3, Z3
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ $256, R10
	ADDQ $256, DI
	SUBQ $64, DX
	JMP  ao64
ao16:
	CMPQ DX, $16
	JLT  aotail
	VADDPS (R10), Z31, Z0
	VADDPS (DI), Z0, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, R10
	ADDQ $64, DI
	SUBQ $16, DX
	JMP  ao16
aotail:
	// DX = n mod 16 floats left; the row ends at DI + 4·DX.
	TESTQ DX, DX
	JZ   aonext
	LEAQ (DI)(DX*4), DI
	VMOVUPS Z4, -64(DI)
aonext:
	ADDQ $4, SI
	DECQ R8
	JNZ  aorow
	VZEROUPPER
	RET

aosmall:
	// K1 = the low n lanes; Z30 = b; R11 = 4n, the row stride in bytes,
	// R12 = 12n, R13 = 20n, R10 = 28n.
	MOVL $1, AX
	SHLXL R9, AX, AX
	DECL AX
	KMOVW AX, K1
	VMOVUPS.Z (BX), K1, Z30
	LEAQ (R9*4), R11
	LEAQ (R11)(R11*2), R12
	LEAQ (R11)(R11*4), R13
	MOVQ R11, R10
	SHLQ $3, R10
	SUBQ R11, R10
aosmall8:
	CMPQ R8, $8
	JLT  aosmall1
	VMOVUPS.Z (DI), K1, Z0
	VMOVUPS.Z (DI)(R11*1), K1, Z1
	VMOVUPS.Z (DI)(R11*2), K1, Z2
	VMOVUPS.Z (DI)(R12*1), K1, Z3
	VMOVUPS.Z (DI)(R11*4), K1, Z4
	VMOVUPS.Z (DI)(R13*1), K1, Z5
	VMOVUPS.Z (DI)(R12*2), K1, Z6
	VMOVUPS.Z (DI)(R10*1), K1, Z7
	VADDPS.BCST (SI), Z30, Z8
	VADDPS.BCST 4(SI), Z30, Z9
	VADDPS.BCST 8(SI), Z30, Z10
	VADDPS.BCST 12(SI), Z30, Z11
	VADDPS.BCST 16(SI), Z30, Z12
	VADDPS.BCST 20(SI), Z30, Z13
	VADDPS.BCST 24(SI), Z30, Z14
	VADDPS.BCST 28(SI), Z30, Z15
	VADDPS Z8, Z0, Z0
	VADDPS Z9, Z1, Z1
	VADDPS Z10, Z2, Z2
	VADDPS Z11, Z3, Z3
	VADDPS Z12, Z4, Z4
	VADDPS Z13, Z5, Z5
	VADDPS Z14, Z6, Z6
	VADDPS Z15, Z7, Z7
	VMOVUPS Z0, K1, (DI)
	VMOVUPS Z1, K1, (DI)(R11*1)
	VMOVUPS Z2, K1, (DI)(R11*2)
	VMOVUPS Z3, K1, (DI)(R12*1)
	VMOVUPS Z4, K1, (DI)(R11*4)
	VMOVUPS Z5, K1, (DI)(R13*1)
	VMOVUPS Z6, K1, (DI)(R12*2)
	VMOVUPS Z7, K1, (DI)(R10*1)
	LEAQ (DI)(R11*8), DI
	ADDQ $32, SI
	SUBQ $8, R8
	JMP  aosmall8
aosmall1:
	TESTQ R8, R8
	JZ   aodone
	VMOVUPS.Z (DI), K1, Z0
	VADDPS.BCST (SI), Z30, Z8
	VADDPS Z8, Z0, Z0
	VMOVUPS Z0, K1, (DI)
	ADDQ R11, DI
	ADDQ $4, SI
	DECQ R8
	JMP  aosmall1
aodone:
	VZEROUPPER
	RET
