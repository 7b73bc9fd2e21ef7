//go:build !noasm

#include "textflag.h"

// AVX2 + FMA kernels of reduce.go. Each float32 is widened to float64
// (VCVTPS2PD, exact); products of two widened floats are exact in float64,
// so the fused multiply-adds round like a multiply then an add.

// func sumSqAsm(x *float32, n int) (s, ss float64)
TEXT ·sumSqAsm(SB), NOSPLIT, $0-32
	MOVQ x+0(FP), SI
	MOVQ n+8(FP), CX
	SHRQ $4, CX
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	VXORPD Y8, Y8, Y8
	VXORPD Y9, Y9, Y9
	VXORPD Y10, Y10, Y10
	VXORPD Y11, Y11, Y11

sumsq_loop:
	VCVTPS2PD (SI), Y0
	VCVTPS2PD 16(SI), Y1
	VCVTPS2PD 32(SI), Y2
	VCVTPS2PD 48(SI), Y3
	VADDPD Y0, Y4, Y4
	VADDPD Y1, Y5, Y5
	VADDPD Y2, Y6, Y6
	VADDPD Y3, Y7, Y7
	VFMADD231PD Y0, Y0, Y8
	VFMADD231PD Y1, Y1, Y9
	VFMADD231PD Y2, Y2, Y10
	VFMADD231PD Y3, Y3, Y11
	ADDQ $64, SI
	DECQ CX
	JNZ  sumsq_loop

	// s = ((Y4+Y5) + (Y6+Y7)) summed over its four lanes, likewise ss.
	VADDPD Y5, Y4, Y4
	VADDPD Y7, Y6, Y6
	VADDPD Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VADDPD X5, X4, X4
	VHADDPD X4, X4, X4
	MOVSD X4, s+16(FP)
	VADDPD Y9, Y8, Y8
	VADDPD Y11, Y10, Y10
	VADDPD Y10, Y8, Y8
	VEXTRACTF128 $1, Y8, X9
	VADDPD X9, X8, X8
	VHADDPD X8, X8, X8
	MOVSD X8, ss+24(FP)
	VZEROUPPER
	RET

// func sumDotAsm(gp, h *float32, n int) (s, d float64)
TEXT ·sumDotAsm(SB), NOSPLIT, $0-40
	MOVQ gp+0(FP), SI
	MOVQ h+8(FP), DI
	MOVQ n+16(FP), CX
	SHRQ $4, CX
	VXORPD Y4, Y4, Y4
	VXORPD Y5, Y5, Y5
	VXORPD Y6, Y6, Y6
	VXORPD Y7, Y7, Y7
	VXORPD Y8, Y8, Y8
	VXORPD Y9, Y9, Y9
	VXORPD Y10, Y10, Y10
	VXORPD Y11, Y11, Y11

sumdot_loop:
	VCVTPS2PD (SI), Y0
	VCVTPS2PD 16(SI), Y1
	VCVTPS2PD 32(SI), Y2
	VCVTPS2PD 48(SI), Y3
	VCVTPS2PD (DI), Y12
	VCVTPS2PD 16(DI), Y13
	VCVTPS2PD 32(DI), Y14
	VCVTPS2PD 48(DI), Y15
	VADDPD Y0, Y4, Y4
	VADDPD Y1, Y5, Y5
	VADDPD Y2, Y6, Y6
	VADDPD Y3, Y7, Y7
	VFMADD231PD Y12, Y0, Y8
	VFMADD231PD Y13, Y1, Y9
	VFMADD231PD Y14, Y2, Y10
	VFMADD231PD Y15, Y3, Y11
	ADDQ $64, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  sumdot_loop

	VADDPD Y5, Y4, Y4
	VADDPD Y7, Y6, Y6
	VADDPD Y6, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VADDPD X5, X4, X4
	VHADDPD X4, X4, X4
	MOVSD X4, s+24(FP)
	VADDPD Y9, Y8, Y8
	VADDPD Y11, Y10, Y10
	VADDPD Y10, Y8, Y8
	VEXTRACTF128 $1, Y8, X9
	VADDPD X9, X8, X8
	VHADDPD X8, X8, X8
	MOVSD X8, d+32(FP)
	VZEROUPPER
	RET

// func normAffineAsm(y, x *float32, n int, mean, invstd float64, scale, shift float32)
// y[i] = float32((float64(x[i]) - mean) * invstd) * scale + shift, 8 at a time.
TEXT ·normAffineAsm(SB), NOSPLIT, $0-48
	MOVQ y+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	VBROADCASTSD mean+24(FP), Y12
	VBROADCASTSD invstd+32(FP), Y13
	VBROADCASTSS scale+40(FP), Y14
	VBROADCASTSS shift+44(FP), Y15

affine_loop:
	VCVTPS2PD (SI), Y0
	VCVTPS2PD 16(SI), Y1
	VSUBPD Y12, Y0, Y0
	VSUBPD Y12, Y1, Y1
	VMULPD Y13, Y0, Y0
	VMULPD Y13, Y1, Y1
	VCVTPD2PSY Y0, X0
	VCVTPD2PSY Y1, X1
	VINSERTF128 $1, X1, Y0, Y0
	VMULPS Y14, Y0, Y0
	VADDPS Y15, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  affine_loop
	VZEROUPPER
	RET

// func normGradAsm(dx, gp, x *float32, n int, k, a, c float64)
// dx[i] = float32(k*float64(g[i]) - a*float64(x[i]) + c), 8 at a time.
TEXT ·normGradAsm(SB), NOSPLIT, $0-56
	MOVQ dx+0(FP), DI
	MOVQ gp+8(FP), SI
	MOVQ x+16(FP), BX
	MOVQ n+24(FP), CX
	SHRQ $3, CX
	VBROADCASTSD k+32(FP), Y12
	VBROADCASTSD a+40(FP), Y13
	VBROADCASTSD c+48(FP), Y14

grad_loop:
	VCVTPS2PD (SI), Y0
	VCVTPS2PD 16(SI), Y1
	VCVTPS2PD (BX), Y2
	VCVTPS2PD 16(BX), Y3
	VMULPD Y12, Y0, Y0
	VMULPD Y12, Y1, Y1
	VMULPD Y13, Y2, Y2
	VMULPD Y13, Y3, Y3
	VSUBPD Y2, Y0, Y0
	VSUBPD Y3, Y1, Y1
	VADDPD Y14, Y0, Y0
	VADDPD Y14, Y1, Y1
	VCVTPD2PSY Y0, X0
	VCVTPD2PSY Y1, X1
	VINSERTF128 $1, X1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, BX
	ADDQ $32, DI
	DECQ CX
	JNZ  grad_loop
	VZEROUPPER
	RET

// func maxAccumAsm(m, x *float32, n int)
// m[i] = x[i] > m[i] ? x[i] : m[i] (VMAXPS returns its second source when
// the first is not greater, NaNs and equal zeros included), 8 at a time.
TEXT ·maxAccumAsm(SB), NOSPLIT, $0-24
	MOVQ m+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX

max_loop:
	VMOVUPS (SI), Y0
	VMOVUPS (DI), Y1
	VMAXPS Y1, Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, SI
	ADDQ $32, DI
	DECQ CX
	JNZ  max_loop
	VZEROUPPER
	RET
