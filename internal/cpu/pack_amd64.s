//go:build !noasm

#include "textflag.h"

// func packRows16AVX512(dst, base *float32, offs *int32, kc int, lmask, smask uint16, stride int)
// For p in [0, kc): the lanes set in smask of the 16 floats at
// dst[p*stride:] get base[offs[p]+q] for the lanes q set in lmask and 0 for
// the others.
TEXT ·packRows16AVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ base+8(FP), SI
	MOVQ offs+16(FP), BX
	MOVQ kc+24(FP), CX
	MOVWLZX lmask+32(FP), AX
	KMOVW AX, K1
	MOVWLZX smask+34(FP), AX
	KMOVW AX, K3
	MOVQ stride+40(FP), R8
	SHLQ $2, R8
	TESTQ CX, CX
	JZ   done
loop:
	MOVLQSX (BX), DX
	VMOVUPS.Z (SI)(DX*4), K1, Z0
	VMOVUPS Z0, K3, (DI)
	ADDQ $4, BX
	ADDQ R8, DI
	DECQ CX
	JNZ  loop
done:
	VZEROUPPER
	RET
