//go:build !noasm

#include "textflag.h"

// func packRowsAVX512(dst, base *float32, offs *int32, kc int, mask uint32, stride int)
// For p in [0, kc): dst[p*stride + q] = base[offs[p] + q] for the lanes q set
// in mask (q < 32), 0 for the others; stride ≥ the highest set lane + 1 and
// only lanes q < stride are written (lanes ≥ 16 use the second vector).
TEXT ·packRowsAVX512(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ base+8(FP), SI
	MOVQ offs+16(FP), BX
	MOVQ kc+24(FP), CX
	MOVL mask+32(FP), AX
	MOVQ stride+40(FP), R8
	KMOVW AX, K1
	SHRL $16, AX
	KMOVW AX, K2
	// Store masks: lanes < stride.
	MOVQ R8, R9
	CMPQ R9, $16
	JLE  small
	MOVL $0xffff, AX
	KMOVW AX, K3
	SUBQ $16, R9
	MOVL $1, AX
	SHLXL R9, AX, AX
	DECL AX
	KMOVW AX, K4
	JMP  masks
small:
	MOVL $1, AX
	SHLXL R9, AX, AX
	DECL AX
	KMOVW AX, K3
	KXORW K4, K4, K4
masks:
	SHLQ $2, R8
	TESTQ CX, CX
	JZ   done
loop:
	MOVLQSX (BX), DX
	LEAQ (SI)(DX*4), DX
	VMOVUPS.Z (DX), K1, Z0
	VMOVUPS.Z 64(DX), K2, Z1
	VMOVUPS Z0, K3, (DI)
	VMOVUPS Z1, K4, 64(DI)
	ADDQ $4, BX
	ADDQ R8, DI
	DECQ CX
	JNZ  loop
done:
	VZEROUPPER
	RET
