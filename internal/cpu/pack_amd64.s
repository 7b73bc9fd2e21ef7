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

// func packRows48AVX512(dst, base *float32, offs *int32, kc int, lmask, smask uint64, stride int)
// packRows16AVX512 for 48 lanes in one pass: lanes 0-15, 16-31 and 32-47
// use bits 0-15, 16-31 and 32-47 of the masks.
TEXT ·packRows48AVX512(SB), NOSPLIT, $0-56
	MOVQ dst+0(FP), DI
	MOVQ base+8(FP), SI
	MOVQ offs+16(FP), BX
	MOVQ kc+24(FP), CX
	MOVQ lmask+32(FP), AX
	KMOVW AX, K1
	SHRQ $16, AX
	KMOVW AX, K2
	SHRQ $16, AX
	KMOVW AX, K5
	MOVQ smask+40(FP), AX
	KMOVW AX, K3
	SHRQ $16, AX
	KMOVW AX, K4
	SHRQ $16, AX
	KMOVW AX, K6
	MOVQ stride+48(FP), R8
	SHLQ $2, R8
	TESTQ CX, CX
	JZ   done48
	// Four rows per iteration, then one at a time.
	MOVQ CX, R9
	SHRQ $2, R9
	ANDQ $3, CX
	TESTQ R9, R9
	JZ   tail48
loop48x4:
	MOVLQSX (BX), DX
	MOVLQSX 4(BX), R10
	MOVLQSX 8(BX), R11
	MOVLQSX 12(BX), R12
	VMOVUPS.Z (SI)(DX*4), K1, Z0
	VMOVUPS.Z 64(SI)(DX*4), K2, Z1
	VMOVUPS.Z 128(SI)(DX*4), K5, Z2
	VMOVUPS.Z (SI)(R10*4), K1, Z3
	VMOVUPS.Z 64(SI)(R10*4), K2, Z4
	VMOVUPS.Z 128(SI)(R10*4), K5, Z5
	VMOVUPS.Z (SI)(R11*4), K1, Z6
	VMOVUPS.Z 64(SI)(R11*4), K2, Z7
	VMOVUPS.Z 128(SI)(R11*4), K5, Z8
	VMOVUPS.Z (SI)(R12*4), K1, Z9
	VMOVUPS.Z 64(SI)(R12*4), K2, Z10
	VMOVUPS.Z 128(SI)(R12*4), K5, Z11
	VMOVUPS Z0, K3, (DI)
	VMOVUPS Z1, K4, 64(DI)
	VMOVUPS Z2, K6, 128(DI)
	ADDQ R8, DI
	VMOVUPS Z3, K3, (DI)
	VMOVUPS Z4, K4, 64(DI)
	VMOVUPS Z5, K6, 128(DI)
	ADDQ R8, DI
	VMOVUPS Z6, K3, (DI)
	VMOVUPS Z7, K4, 64(DI)
	VMOVUPS Z8, K6, 128(DI)
	ADDQ R8, DI
	VMOVUPS Z9, K3, (DI)
	VMOVUPS Z10, K4, 64(DI)
	VMOVUPS Z11, K6, 128(DI)
	ADDQ R8, DI
	ADDQ $16, BX
	DECQ R9
	JNZ  loop48x4
tail48:
	TESTQ CX, CX
	JZ   done48
loop48:
	MOVLQSX (BX), DX
	VMOVUPS.Z (SI)(DX*4), K1, Z0
	VMOVUPS.Z 64(SI)(DX*4), K2, Z1
	VMOVUPS.Z 128(SI)(DX*4), K5, Z2
	VMOVUPS Z0, K3, (DI)
	VMOVUPS Z1, K4, 64(DI)
	VMOVUPS Z2, K6, 128(DI)
	ADDQ $4, BX
	ADDQ R8, DI
	DECQ CX
	JNZ  loop48
done48:
	VZEROUPPER
	RET
