//go:build !noasm

#include "textflag.h"

// func adamAsm(theta, grad, m, v *float32, n int, k *adamAsmConsts)
// AdamUpdate, 8 elements per iteration: the float32 steps in YMM, the
// float64 ones on the two 4-float halves. No fused multiply-adds, so every
// operation rounds as its Go counterpart.
TEXT ·adamAsm(SB), NOSPLIT, $0-48
	MOVQ theta+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ m+16(FP), R8
	MOVQ v+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ k+40(FP), AX
	SHRQ $3, CX
	VBROADCASTSS 0(AX), Y15  // beta1
	VBROADCASTSS 4(AX), Y14  // beta2
	VBROADCASTSS 8(AX), Y13  // 1 - beta2 (float32)
	VBROADCASTSS 12(AX), Y12 // sqrt(bias correction 2)
	VBROADCASTSS 16(AX), Y11 // eps
	VBROADCASTSS 20(AX), Y10 // -lr / bias correction 1
	VBROADCASTSS 24(AX), Y9  // 1 - lr·weight decay
	VBROADCASTSS 28(AX), Y8  // sign mask
	VBROADCASTSD 32(AX), Y7  // 1 - beta1 (float64)

adam_loop:
	VMOVUPS (SI), Y0
	VXORPS  Y8, Y0, Y0       // d
	VMOVUPS (DI), Y1
	VMULPS  Y9, Y1, Y1       // θ·decay

	// m = float32(float64(m·β1) + (1−β1)·float64(d))
	VMOVUPS (R8), Y2
	VMULPS  Y15, Y2, Y2
	VCVTPS2PD X2, Y3
	VEXTRACTF128 $1, Y2, X2
	VCVTPS2PD X2, Y4
	VCVTPS2PD X0, Y5         // d, low half
	VEXTRACTF128 $1, Y0, X6
	VCVTPS2PD X6, Y6         // d, high half
	VMULPD  Y7, Y5, Y2
	VADDPD  Y2, Y3, Y3
	VMULPD  Y7, Y6, Y2
	VADDPD  Y2, Y4, Y4
	VCVTPD2PSY Y3, X3
	VCVTPD2PSY Y4, X4
	VINSERTF128 $1, X4, Y3, Y3 // m (float32)
	VMOVUPS Y3, (R8)

	// v = float32(float64(v·β2) + float64((1−β2)·d)·float64(d))
	VMULPS  Y13, Y0, Y0      // (1−β2)·d
	VCVTPS2PD X0, Y2
	VEXTRACTF128 $1, Y0, X0
	VCVTPS2PD X0, Y0
	VMULPD  Y5, Y2, Y2       // ·d, low
	VMULPD  Y6, Y0, Y0       // ·d, high
	VMOVUPS (R9), Y4
	VMULPS  Y14, Y4, Y4
	VCVTPS2PD X4, Y5
	VEXTRACTF128 $1, Y4, X4
	VCVTPS2PD X4, Y6
	VADDPD  Y2, Y5, Y5
	VADDPD  Y0, Y6, Y6
	VCVTPD2PSY Y5, X5
	VCVTPD2PSY Y6, X6
	VINSERTF128 $1, X6, Y5, Y5 // v (float32)
	VMOVUPS Y5, (R9)

	// denom = float32(sqrt(float64(v)))/√bc2 + eps
	VCVTPS2PD X5, Y2
	VEXTRACTF128 $1, Y5, X5
	VCVTPS2PD X5, Y4
	VSQRTPD Y2, Y2
	VSQRTPD Y4, Y4
	VCVTPD2PSY Y2, X2
	VCVTPD2PSY Y4, X4
	VINSERTF128 $1, X4, Y2, Y2
	VDIVPS  Y12, Y2, Y2
	VADDPS  Y11, Y2, Y2

	// θ += negStep·m / denom
	VMULPS  Y10, Y3, Y3
	VDIVPS  Y2, Y3, Y3
	VADDPS  Y3, Y1, Y1
	VMOVUPS Y1, (DI)

	ADDQ $32, SI
	ADDQ $32, DI
	ADDQ $32, R8
	ADDQ $32, R9
	DECQ CX
	JNZ  adam_loop
	VZEROUPPER
	RET
