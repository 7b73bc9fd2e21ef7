//go:build !noasm

#include "textflag.h"

// Vectorised float32 exp, sigmoid and tanh with AVX-512, 16 lanes at a
// time and a masked tail. exp follows vmath.go's expf: x = n·ln2 + r,
// e^r by Cephes' polynomial, then VSCALEFPS multiplies by 2^n (handling
// overflow to +Inf and underflow through the subnormals). NaN propagates.

DATA vmc<>+0(SB)/4, $0x3fb8aa3b   // log2(e)
DATA vmc<>+4(SB)/4, $0x3f318000   // ln2 hi 0.693359375
DATA vmc<>+8(SB)/4, $0xb95e8083   // ln2 lo -2.12194440e-4
DATA vmc<>+12(SB)/4, $0x39506967  // 1.9875691500e-4
DATA vmc<>+16(SB)/4, $0x3ab743ce  // 1.3981999507e-3
DATA vmc<>+20(SB)/4, $0x3c088908  // 8.3334519073e-3
DATA vmc<>+24(SB)/4, $0x3d2aa9c1  // 4.1665795894e-2
DATA vmc<>+28(SB)/4, $0x3e2aaaaa  // 1.6666665459e-1
DATA vmc<>+32(SB)/4, $0x3f000000  // 0.5 (poly) 5.0000001201e-1 rounds to 0.5
DATA vmc<>+36(SB)/4, $0x3f800000  // 1
DATA vmc<>+40(SB)/4, $0x42b20000  // 89 (upper clamp)
DATA vmc<>+44(SB)/4, $0xc2d20000  // -105 (lower clamp)
DATA vmc<>+48(SB)/4, $0x3f200000  // 0.625
DATA vmc<>+52(SB)/4, $0xbbbaf0ea  // tanh p0 -5.70498872745e-3
DATA vmc<>+56(SB)/4, $0x3ca9134e  // tanh p1 2.06390887954e-2
DATA vmc<>+60(SB)/4, $0xbd5c1e2d  // tanh p2 -5.37397155531e-2
DATA vmc<>+64(SB)/4, $0x3e088393  // tanh p3 1.33314422036e-1
DATA vmc<>+68(SB)/4, $0xbeaaaa99  // tanh p4 -3.33332819422e-1
DATA vmc<>+72(SB)/4, $0x40000000  // 2
DATA vmc<>+76(SB)/4, $0x7fffffff  // abs mask
GLOBL vmc<>(SB), RODATA|NOPTR, $80

// EXP computes Z0 = e^Z0 using Z1..Z3 as scratch and constants in Z20..Z31.
#define EXP \
	VMAXPS Z0, Z31, Z0 \
	VMINPS Z0, Z30, Z0 \
	VMOVAPS Z0, Z1 \
	VFMADD213PS Z29, Z20, Z1 \
	VRNDSCALEPS $0x09, Z1, Z1 \
	VFNMADD231PS Z21, Z1, Z0 \
	VFNMADD231PS Z22, Z1, Z0 \
	VMULPS Z0, Z0, Z2 \
	VMOVAPS Z23, Z3 \
	VFMADD213PS Z24, Z0, Z3 \
	VFMADD213PS Z25, Z0, Z3 \
	VFMADD213PS Z26, Z0, Z3 \
	VFMADD213PS Z27, Z0, Z3 \
	VFMADD213PS Z29, Z0, Z3 \
	VFMADD213PS Z0, Z2, Z3 \
	VADDPS Z28, Z3, Z3 \
	VSCALEFPS Z1, Z3, Z0

#define LOADCONSTS \
	VBROADCASTSS vmc<>+0(SB), Z20 \
	VBROADCASTSS vmc<>+4(SB), Z21 \
	VBROADCASTSS vmc<>+8(SB), Z22 \
	VBROADCASTSS vmc<>+12(SB), Z23 \
	VBROADCASTSS vmc<>+16(SB), Z24 \
	VBROADCASTSS vmc<>+20(SB), Z25 \
	VBROADCASTSS vmc<>+24(SB), Z26 \
	VBROADCASTSS vmc<>+28(SB), Z27 \
	VBROADCASTSS vmc<>+36(SB), Z28 \
	VBROADCASTSS vmc<>+32(SB), Z29 \
	VBROADCASTSS vmc<>+40(SB), Z30 \
	VBROADCASTSS vmc<>+44(SB), Z31

// TAILMASK sets K1 to the low CX lanes (CX < 16).
#define TAILMASK \
	MOVL $1, AX \
	SHLXL CX, AX, AX \
	DECL AX \
	KMOVW AX, K1

// func expAVX512(dst, src *float32, n int)
TEXT ·expAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	LOADCONSTS
exploop:
	CMPQ CX, $16
	JLT  exptail
	VMOVUPS (SI), Z0
	EXP
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  exploop
exptail:
	TESTQ CX, CX
	JZ   expdone
	TAILMASK
	VMOVUPS.Z (SI), K1, Z0
	EXP
	VMOVUPS Z0, K1, (DI)
expdone:
	VZEROUPPER
	RET

// SIGMOID computes Z0 = 1/(1+e^−Z0) as e/(1+e) or 1/(1+e) with
// e = e^−|x|; Z4, Z5 scratch, K2 = lanes with x < 0.
#define SIGMOID \
	VMOVAPS Z0, Z4 \
	VANDPS Z19, Z0, Z0 \
	VXORPS Z5, Z5, Z5 \
	VSUBPS Z0, Z5, Z0 \
	EXP \
	VADDPS Z28, Z0, Z5 \
	VDIVPS Z5, Z28, Z5 \
	VXORPS Z1, Z1, Z1 \
	VCMPPS $1, Z1, Z4, K2 \
	VMULPS Z5, Z0, K2, Z5 \
	VMOVAPS Z5, Z0

// func sigmoidAVX512(dst, src *float32, n int, silu bool)
// dst = sigmoid(src), or src·sigmoid(src) when silu.
TEXT ·sigmoidAVX512(SB), NOSPLIT, $0-25
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	MOVBLZX silu+24(FP), DX
	LOADCONSTS
	VBROADCASTSS vmc<>+76(SB), Z19
sigloop:
	CMPQ CX, $16
	JLT  sigtail
	VMOVUPS (SI), Z0
	SIGMOID
	TESTL DX, DX
	JZ   sigstore
	VMULPS Z4, Z0, Z0
sigstore:
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  sigloop
sigtail:
	TESTQ CX, CX
	JZ   sigdone
	TAILMASK
	VMOVUPS.Z (SI), K1, Z0
	SIGMOID
	TESTL DX, DX
	JZ   sigstore2
	VMULPS Z4, Z0, Z0
sigstore2:
	VMOVUPS Z0, K1, (DI)
sigdone:
	VZEROUPPER
	RET

// TANH computes Z0 = tanh(Z0): the odd polynomial below |x| = 0.625,
// sign(x)·(1 − 2/(e^2|x| + 1)) above. Z4..Z8 scratch.
#define TANH \
	VMOVAPS Z0, Z4 \
	VANDPS Z19, Z0, Z5 \
	VMULPS Z4, Z4, Z6 \
	VBROADCASTSS vmc<>+52(SB), Z7 \
	VFMADD213PS.BCST vmc<>+56(SB), Z6, Z7 \
	VFMADD213PS.BCST vmc<>+60(SB), Z6, Z7 \
	VFMADD213PS.BCST vmc<>+64(SB), Z6, Z7 \
	VFMADD213PS.BCST vmc<>+68(SB), Z6, Z7 \
	VMULPS Z6, Z7, Z7 \
	VFMADD213PS Z4, Z4, Z7 \
	VADDPS Z5, Z5, Z0 \
	EXP \
	VADDPS Z28, Z0, Z0 \
	VBROADCASTSS vmc<>+72(SB), Z8 \
	VDIVPS Z0, Z8, Z8 \
	VSUBPS Z8, Z28, Z8 \
	VANDNPS Z4, Z19, Z6 \
	VORPS Z6, Z8, Z8 \
	VBROADCASTSS vmc<>+48(SB), Z6 \
	VCMPPS $1, Z6, Z5, K2 \
	VMOVAPS Z7, K2, Z8 \
	VMOVAPS Z8, Z0

// func tanhAVX512(dst, src *float32, n int)
TEXT ·tanhAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	LOADCONSTS
	VBROADCASTSS vmc<>+76(SB), Z19
tanhloop:
	CMPQ CX, $16
	JLT  tanhtail
	VMOVUPS (SI), Z0
	TANH
	VMOVUPS Z0, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  tanhloop
tanhtail:
	TESTQ CX, CX
	JZ   tanhdone
	TAILMASK
	VMOVUPS.Z (SI), K1, Z0
	TANH
	VMOVUPS Z0, K1, (DI)
tanhdone:
	VZEROUPPER
	RET
