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

// EXPB is EXP on Z12 with Z13..Z15 as scratch, for a second vector in flight.
#define EXPB \
	VMAXPS Z12, Z31, Z12 \
	VMINPS Z12, Z30, Z12 \
	VMOVAPS Z12, Z13 \
	VFMADD213PS Z29, Z20, Z13 \
	VRNDSCALEPS $0x09, Z13, Z13 \
	VFNMADD231PS Z21, Z13, Z12 \
	VFNMADD231PS Z22, Z13, Z12 \
	VMULPS Z12, Z12, Z14 \
	VMOVAPS Z23, Z15 \
	VFMADD213PS Z24, Z12, Z15 \
	VFMADD213PS Z25, Z12, Z15 \
	VFMADD213PS Z26, Z12, Z15 \
	VFMADD213PS Z27, Z12, Z15 \
	VFMADD213PS Z29, Z12, Z15 \
	VFMADD213PS Z12, Z14, Z15 \
	VADDPS Z28, Z15, Z15 \
	VSCALEFPS Z13, Z15, Z12

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

// Vectorised erf: fdlibm's three ranges (see erff in vmath.go) evaluated
// for all lanes and blended.

DATA erfc<>+0(SB)/4, $0x3e0375d4 // pp0 0.12837916709551256
DATA erfc<>+4(SB)/4, $0xbea66beb // pp1 -0.3250421072470015
DATA erfc<>+8(SB)/4, $0xbce9528f // pp2 -0.02848174957559851
DATA erfc<>+12(SB)/4, $0xbbbd1489 // pp3 -0.005770270296489442
DATA erfc<>+16(SB)/4, $0xb7c756b1 // pp4 -2.3763016656650163e-05
DATA erfc<>+20(SB)/4, $0x3ecbbbce // qq1 0.39791722395915535
DATA erfc<>+24(SB)/4, $0x3d852a63 // qq2 0.0650222499887673
DATA erfc<>+28(SB)/4, $0x3ba68116 // qq3 0.005081306281875766
DATA erfc<>+32(SB)/4, $0x390aee49 // qq4 0.00013249473800432164
DATA erfc<>+36(SB)/4, $0xb684e21a // qq5 -3.960228278775368e-06
DATA erfc<>+40(SB)/4, $0xbb1acdc6 // pa0 -0.0023621185607526594
DATA erfc<>+44(SB)/4, $0x3ed46805 // pa1 0.41485611868374833
DATA erfc<>+48(SB)/4, $0xbebe9208 // pa2 -0.3722078760357013
DATA erfc<>+52(SB)/4, $0x3ea2fe54 // pa3 0.31834661990116175
DATA erfc<>+56(SB)/4, $0xbde31cc2 // pa4 -0.11089469428239668
DATA erfc<>+60(SB)/4, $0x3d1151b3 // pa5 0.035478304325618236
DATA erfc<>+64(SB)/4, $0xbb0df9c0 // pa6 -0.002166375594868791
DATA erfc<>+68(SB)/4, $0x3dd9f331 // qa1 0.10642088040084423
DATA erfc<>+72(SB)/4, $0x3f0a5785 // qa2 0.540397917702171
DATA erfc<>+76(SB)/4, $0x3d931ae7 // qa3 0.07182865441419627
DATA erfc<>+80(SB)/4, $0x3e013307 // qa4 0.12617121980876164
DATA erfc<>+84(SB)/4, $0x3c5f6e13 // qa5 0.01363708391202905
DATA erfc<>+88(SB)/4, $0x3c445aa3 // qa6 0.011984499846799107
DATA erfc<>+92(SB)/4, $0xbc21a093 // ra0 -0.009864944034847148
DATA erfc<>+96(SB)/4, $0xbf31a0b7 // ra1 -0.6938585727071818
DATA erfc<>+100(SB)/4, $0xc128f022 // ra2 -10.558626225323291
DATA erfc<>+104(SB)/4, $0xc2798057 // ra3 -62.375332450326006
DATA erfc<>+108(SB)/4, $0xc322658c // ra4 -162.39666946257347
DATA erfc<>+112(SB)/4, $0xc3389ae7 // ra5 -184.60509290671104
DATA erfc<>+116(SB)/4, $0xc2a2932b // ra6 -81.2874355063066
DATA erfc<>+120(SB)/4, $0xc11d077e // ra7 -9.814329344169145
DATA erfc<>+124(SB)/4, $0x419d35ce // sa1 19.651271667439257
DATA erfc<>+128(SB)/4, $0x4309a863 // sa2 137.65775414351904
DATA erfc<>+132(SB)/4, $0x43d9486f // sa3 434.56587747522923
DATA erfc<>+136(SB)/4, $0x442158c9 // sa4 645.3872717332679
DATA erfc<>+140(SB)/4, $0x43d6810b // sa5 429.00814002756783
DATA erfc<>+144(SB)/4, $0x42d9451f // sa6 108.63500554177944
DATA erfc<>+148(SB)/4, $0x40d23f7c // sa7 6.570249770319282
DATA erfc<>+152(SB)/4, $0xbd777f97 // sa8 -0.0604244152148581
DATA erfc<>+156(SB)/4, $0xbc21a092 // rb0 -0.0098649429247001
DATA erfc<>+160(SB)/4, $0xbf4c9dd4 // rb1 -0.799283237680523
DATA erfc<>+164(SB)/4, $0xc18e104b // rb2 -17.757954917754752
DATA erfc<>+168(SB)/4, $0xc320a2ea // rb3 -160.63638485582192
DATA erfc<>+172(SB)/4, $0xc41f6441 // rb4 -637.5664433683896
DATA erfc<>+176(SB)/4, $0xc480230b // rb5 -1025.0951316110772
DATA erfc<>+180(SB)/4, $0xc3f1c275 // rb6 -483.5191916086514
DATA erfc<>+184(SB)/4, $0x41f2b459 // sb1 30.33806074348246
DATA erfc<>+188(SB)/4, $0x43a2e571 // sb2 325.7925129965739
DATA erfc<>+192(SB)/4, $0x44c01759 // sb3 1536.729586084437
DATA erfc<>+196(SB)/4, $0x4547fdbb // sb4 3199.8582195085955
DATA erfc<>+200(SB)/4, $0x451f90ce // sb5 2553.0504064331644
DATA erfc<>+204(SB)/4, $0x43ed43a7 // sb6 474.52854120695537
DATA erfc<>+208(SB)/4, $0xc1b38712 // sb7 -22.44095244658582
DATA erfc<>+212(SB)/4, $0x3f58560b // erx 0.8450629115104675
DATA erfc<>+216(SB)/4, $0x3e1ea7d4 // onemerx 0.15493708848953247
DATA erfc<>+220(SB)/4, $0x3f580000 // lim1 0.84375
DATA erfc<>+224(SB)/4, $0x3fa00000 // lim2 1.25
DATA erfc<>+228(SB)/4, $0x4036db6e // lim3 2.857142857142857
DATA erfc<>+232(SB)/4, $0x40800000 // lim4 4.0
DATA erfc<>+236(SB)/4, $0x3f100000 // c0_5625 0.5625
DATA erfc<>+240(SB)/4, $0x3f000000 // half 0.5
DATA erfc<>+244(SB)/4, $0x40000000 // two 2.0
DATA erfc<>+248(SB)/4, $0x3f800000 // one 1.0
DATA erfc<>+252(SB)/4, $0x3f3504f3 // rsqrt2 0.7071067811865476
GLOBL erfc<>(SB), RODATA|NOPTR, $256

#define ERFCORE \
	VANDPS Z19, Z4, Z5 \
	VMULPS Z5, Z5, Z6 \
	VBROADCASTSS erfc<>+16(SB), Z7 \
	VFMADD213PS.BCST erfc<>+12(SB), Z6, Z7 \
	VFMADD213PS.BCST erfc<>+8(SB), Z6, Z7 \
	VFMADD213PS.BCST erfc<>+4(SB), Z6, Z7 \
	VFMADD213PS.BCST erfc<>+0(SB), Z6, Z7 \
	VBROADCASTSS erfc<>+36(SB), Z8 \
	VFMADD213PS.BCST erfc<>+32(SB), Z6, Z8 \
	VFMADD213PS.BCST erfc<>+28(SB), Z6, Z8 \
	VFMADD213PS.BCST erfc<>+24(SB), Z6, Z8 \
	VFMADD213PS.BCST erfc<>+20(SB), Z6, Z8 \
	VFMADD213PS.BCST erfc<>+248(SB), Z6, Z8 \
	VDIVPS Z8, Z7, Z7 \
	VFMADD213PS Z5, Z5, Z7 \
	VSUBPS.BCST erfc<>+248(SB), Z5, Z9 \
	VBROADCASTSS erfc<>+64(SB), Z10 \
	VFMADD213PS.BCST erfc<>+60(SB), Z9, Z10 \
	VFMADD213PS.BCST erfc<>+56(SB), Z9, Z10 \
	VFMADD213PS.BCST erfc<>+52(SB), Z9, Z10 \
	VFMADD213PS.BCST erfc<>+48(SB), Z9, Z10 \
	VFMADD213PS.BCST erfc<>+44(SB), Z9, Z10 \
	VFMADD213PS.BCST erfc<>+40(SB), Z9, Z10 \
	VBROADCASTSS erfc<>+88(SB), Z11 \
	VFMADD213PS.BCST erfc<>+84(SB), Z9, Z11 \
	VFMADD213PS.BCST erfc<>+80(SB), Z9, Z11 \
	VFMADD213PS.BCST erfc<>+76(SB), Z9, Z11 \
	VFMADD213PS.BCST erfc<>+72(SB), Z9, Z11 \
	VFMADD213PS.BCST erfc<>+68(SB), Z9, Z11 \
	VFMADD213PS.BCST erfc<>+248(SB), Z9, Z11 \
	VDIVPS Z11, Z10, Z10 \
	VBROADCASTSS erfc<>+248(SB), Z9 \
	VDIVPS Z6, Z9, Z9 \
	VBROADCASTSS erfc<>+120(SB), Z11 \
	VFMADD213PS.BCST erfc<>+116(SB), Z9, Z11 \
	VFMADD213PS.BCST erfc<>+112(SB), Z9, Z11 \
	VFMADD213PS.BCST erfc<>+108(SB), Z9, Z11 \
	VFMADD213PS.BCST erfc<>+104(SB), Z9, Z11 \
	VFMADD213PS.BCST erfc<>+100(SB), Z9, Z11 \
	VFMADD213PS.BCST erfc<>+96(SB), Z9, Z11 \
	VFMADD213PS.BCST erfc<>+92(SB), Z9, Z11 \
	VBROADCASTSS erfc<>+152(SB), Z12 \
	VFMADD213PS.BCST erfc<>+148(SB), Z9, Z12 \
	VFMADD213PS.BCST erfc<>+144(SB), Z9, Z12 \
	VFMADD213PS.BCST erfc<>+140(SB), Z9, Z12 \
	VFMADD213PS.BCST erfc<>+136(SB), Z9, Z12 \
	VFMADD213PS.BCST erfc<>+132(SB), Z9, Z12 \
	VFMADD213PS.BCST erfc<>+128(SB), Z9, Z12 \
	VFMADD213PS.BCST erfc<>+124(SB), Z9, Z12 \
	VFMADD213PS.BCST erfc<>+248(SB), Z9, Z12 \
	VBROADCASTSS erfc<>+180(SB), Z13 \
	VFMADD213PS.BCST erfc<>+176(SB), Z9, Z13 \
	VFMADD213PS.BCST erfc<>+172(SB), Z9, Z13 \
	VFMADD213PS.BCST erfc<>+168(SB), Z9, Z13 \
	VFMADD213PS.BCST erfc<>+164(SB), Z9, Z13 \
	VFMADD213PS.BCST erfc<>+160(SB), Z9, Z13 \
	VFMADD213PS.BCST erfc<>+156(SB), Z9, Z13 \
	VBROADCASTSS erfc<>+208(SB), Z14 \
	VFMADD213PS.BCST erfc<>+204(SB), Z9, Z14 \
	VFMADD213PS.BCST erfc<>+200(SB), Z9, Z14 \
	VFMADD213PS.BCST erfc<>+196(SB), Z9, Z14 \
	VFMADD213PS.BCST erfc<>+192(SB), Z9, Z14 \
	VFMADD213PS.BCST erfc<>+188(SB), Z9, Z14 \
	VFMADD213PS.BCST erfc<>+184(SB), Z9, Z14 \
	VFMADD213PS.BCST erfc<>+248(SB), Z9, Z14 \
	VCMPPS.BCST $1, erfc<>+228(SB), Z5, K3 \
	VMOVAPS Z11, K3, Z13 \
	VMOVAPS Z12, K3, Z14 \
	VDIVPS Z14, Z13, Z13 \
	VSUBPS Z6, Z13, Z0 \
	VSUBPS.BCST erfc<>+236(SB), Z0, Z0 \
	EXP \
	VDIVPS Z5, Z0, Z13 \
	VXORPS Z15, Z15, Z15 \
	VCMPPS.BCST $1, erfc<>+232(SB), Z5, K6 \
	VMOVAPS Z13, K6, Z15 \
	VCMPPS.BCST $1, erfc<>+224(SB), Z5, K5 \
	VBROADCASTSS erfc<>+216(SB), Z16 \
	VSUBPS Z10, Z16, K5, Z15 \
	VCMPPS.BCST $1, erfc<>+220(SB), Z5, K4 \
	VBROADCASTSS erfc<>+248(SB), Z16 \
	VSUBPS Z7, Z16, K4, Z15

// func erfAVX512(dst, src *float32, n int)
TEXT ·erfAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	LOADCONSTS
	VBROADCASTSS vmc<>+76(SB), Z19
erfloop:
	CMPQ CX, $16
	JLT  erftail
	VMOVUPS (SI), Z4
	ERFCORE
	VSUBPS Z15, Z28, Z17
	VMOVAPS Z7, K4, Z17
	VANDNPS Z4, Z19, Z18
	VORPS Z18, Z17, Z17
	VCMPPS $3, Z4, Z4, K2
	VMOVAPS Z4, K2, Z17
	VMOVUPS Z17, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  erfloop
erftail:
	TESTQ CX, CX
	JZ   erfdone
	TAILMASK
	VMOVUPS.Z (SI), K1, Z4
	ERFCORE
	VSUBPS Z15, Z28, Z17
	VMOVAPS Z7, K4, Z17
	VANDNPS Z4, Z19, Z18
	VORPS Z18, Z17, Z17
	VCMPPS $3, Z4, Z4, K2
	VMOVAPS Z4, K2, Z17
	VMOVUPS Z17, K1, (DI)
erfdone:
	VZEROUPPER
	RET

// GELU(x) = x·Φ(x) with Φ the standard normal CDF, through the upper tail
// Q(z) = 1 − Φ(z) = e^(−z²/2)·U(z) of z = |x|: U(z) = e^(z²/2)·Q(z) =
// erfcx(z/√2)/2 is smooth on [0, ∞), and a (4, 5) rational fits it on
// [0, 15] to 6.3e-9 relative error (geluU in vmath.go). With
//   v = z·Q(z) = 2^n · (e^r · z·U(z)),
//   GELU(x) = −v for x ≤ 0 (−0 for x = −0), x − v for x > 0.
// −z²/2 = a + lo exactly (a = z·m rounded, m = −z/2, lo the FMA residual),
// a = n·ln2 + r as in EXP and e^(−z²/2) = 2^n·e^(r + lo): no rounding of z²,
// which would cost ~z² ulp in the left tail. z·U(z) is evaluated in float64
// (in float32 the rational's roundings cost up to 6 ulp); e^(r + lo) is
// Cephes' polynomial in float32, and scaling by 2^n last rounds subnormal
// results once. z is clamped to 15, past which v underflows to 0; NaN
// propagates, and x = −Inf gives NaN (−Inf·0, as x/2·(1 + erf(x/√2)) does).

DATA geluc<>+0(SB)/8, $0.5000000031505325     // p0
DATA geluc<>+8(SB)/8, $0.4392829749243424     // p1
DATA geluc<>+16(SB)/8, $0.18396880476401356   // p2
DATA geluc<>+24(SB)/8, $0.04088101650371972   // p3
DATA geluc<>+32(SB)/8, $0.0041532136894922855 // p4
DATA geluc<>+40(SB)/8, $1.0                   // q0
DATA geluc<>+48(SB)/8, $1.6764509568825885    // q1
DATA geluc<>+56(SB)/8, $1.2055468862356868    // q2
DATA geluc<>+64(SB)/8, $0.4714078181253383    // q3
DATA geluc<>+72(SB)/8, $0.10247962853476733   // q4
DATA geluc<>+80(SB)/8, $0.010410451196264596  // q5
DATA geluc<>+88(SB)/4, $0x41700000            // zmax 15
DATA geluc<>+92(SB)/4, $0xbf000000            // -0.5
DATA geluc<>+96(SB)/4, $0x00030000            // VFIXUPIMMPS table: −Inf → QNaN, else keep
GLOBL geluc<>(SB), RODATA|NOPTR, $100

// GELUCORE sets Z11 = GELU(Z0). Constants: LOADCONSTS's Z20..Z29 (log2e,
// ln2 hi/lo, the exp polynomial, 1, 0.5), Z31 abs mask, Z30 15, Z19 −0.5,
// Z18 the fixup table, Z17 zero. Scratch Z1..Z10, Z12..Z15, K2.
#define GELUCORE \
	VANDPS Z31, Z0, Z1 \
	VXORPS Z1, Z0, Z10 \
	VMINPS Z1, Z30, Z1 \
	VCVTPS2PD Y1, Z12 \
	VEXTRACTF32X8 $1, Z1, Y13 \
	VCVTPS2PD Y13, Z13 \
	VMULPS Z19, Z1, Z2 \
	VMULPS Z2, Z1, Z4 \
	VFMSUB213PS Z4, Z1, Z2 \
	VMULPS Z20, Z4, Z5 \
	VRNDSCALEPS $0x08, Z5, Z5 \
	VFNMADD231PS Z21, Z5, Z4 \
	VFNMADD231PS Z22, Z5, Z4 \
	VADDPS Z2, Z4, Z4 \
	VBROADCASTSD geluc<>+32(SB), Z8 \
	VMOVAPD Z8, Z9 \
	VFMADD213PD.BCST geluc<>+24(SB), Z12, Z8 \
	VFMADD213PD.BCST geluc<>+24(SB), Z13, Z9 \
	VFMADD213PD.BCST geluc<>+16(SB), Z12, Z8 \
	VFMADD213PD.BCST geluc<>+16(SB), Z13, Z9 \
	VFMADD213PD.BCST geluc<>+8(SB), Z12, Z8 \
	VFMADD213PD.BCST geluc<>+8(SB), Z13, Z9 \
	VFMADD213PD.BCST geluc<>+0(SB), Z12, Z8 \
	VFMADD213PD.BCST geluc<>+0(SB), Z13, Z9 \
	VMULPD Z12, Z8, Z8 \
	VMULPD Z13, Z9, Z9 \
	VBROADCASTSD geluc<>+80(SB), Z14 \
	VMOVAPD Z14, Z15 \
	VFMADD213PD.BCST geluc<>+72(SB), Z12, Z14 \
	VFMADD213PD.BCST geluc<>+72(SB), Z13, Z15 \
	VFMADD213PD.BCST geluc<>+64(SB), Z12, Z14 \
	VFMADD213PD.BCST geluc<>+64(SB), Z13, Z15 \
	VFMADD213PD.BCST geluc<>+56(SB), Z12, Z14 \
	VFMADD213PD.BCST geluc<>+56(SB), Z13, Z15 \
	VFMADD213PD.BCST geluc<>+48(SB), Z12, Z14 \
	VFMADD213PD.BCST geluc<>+48(SB), Z13, Z15 \
	VFMADD213PD.BCST geluc<>+40(SB), Z12, Z14 \
	VFMADD213PD.BCST geluc<>+40(SB), Z13, Z15 \
	VDIVPD Z14, Z8, Z8 \
	VDIVPD Z15, Z9, Z9 \
	VCVTPD2PS Z8, Y8 \
	VCVTPD2PS Z9, Y9 \
	VINSERTF32X8 $1, Y9, Z8, Z8 \
	VMULPS Z4, Z4, Z7 \
	VMOVAPS Z23, Z6 \
	VFMADD213PS Z24, Z4, Z6 \
	VFMADD213PS Z25, Z4, Z6 \
	VFMADD213PS Z26, Z4, Z6 \
	VFMADD213PS Z27, Z4, Z6 \
	VFMADD213PS Z29, Z4, Z6 \
	VFMADD213PS Z4, Z7, Z6 \
	VADDPS Z28, Z6, Z6 \
	VMULPS Z6, Z8, Z8 \
	VSCALEFPS Z5, Z8, Z8 \
	VXORPS Z10, Z8, Z11 \
	VCMPPS $1, Z0, Z17, K2 \
	VSUBPS Z8, Z0, K2, Z11 \
	VFIXUPIMMPS $0, Z18, Z0, Z11

#define GELUCONSTS \
	LOADCONSTS \
	VBROADCASTSS vmc<>+76(SB), Z31 \
	VBROADCASTSS geluc<>+88(SB), Z30 \
	VBROADCASTSS geluc<>+92(SB), Z19 \
	VBROADCASTSS geluc<>+96(SB), Z18 \
	VXORPS Z17, Z17, Z17

// func geluAVX512(dst, src *float32, n int)
// dst = x/2·(1 + erf(x/√2)) for all x (see GELUCORE).
TEXT ·geluAVX512(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	GELUCONSTS
geluloop:
	CMPQ CX, $16
	JLT  gelutail
	VMOVUPS (SI), Z0
	GELUCORE
	VMOVUPS Z11, (DI)
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  geluloop
gelutail:
	TESTQ CX, CX
	JZ   geludone
	TAILMASK
	VMOVUPS.Z (SI), K1, Z0
	GELUCORE
	VMOVUPS Z11, K1, (DI)
geludone:
	VZEROUPPER
	RET

// Softmax rows: softmaxRowAVX512 does the max and exp passes of one row and
// returns the float64 sum of the exponentials; scaleAVX512 then multiplies
// the row by the float32 reciprocal that Softmax (vmath.go) derives from it.

// func softmaxRowAVX512(dst, src *float32, n int) float64
// With m the largest src[i] (NaN lanes may or may not take part; a NaN makes
// the sum NaN either way), sets dst[i] = e^(src[i] − m), the difference
// rounded to float32 and EXP applied as in expAVX512, and returns Σ dst[i]
// accumulated in float64 (two vectors of 8 lanes, then pairwise). n > 0;
// dst may equal src (each vector is read before it is written).
TEXT ·softmaxRowAVX512(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), DX
	// Pass 1: the maximum, four accumulators starting at −Inf.
	MOVL $0xff800000, AX
	VPBROADCASTD AX, Z4
	VMOVAPS Z4, Z5
	VMOVAPS Z4, Z6
	VMOVAPS Z4, Z7
	MOVQ SI, R8
	MOVQ DX, CX
smmax64:
	CMPQ CX, $64
	JLT  smmax16
	VMAXPS (R8), Z4, Z4
	VMAXPS 64(R8), Z5, Z5
	VMAXPS 128(R8), Z6, Z6
	VMAXPS 192(R8), Z7, Z7
	ADDQ $256, R8
	SUBQ $64, CX
	JMP  smmax64
smmax16:
	CMPQ CX, $16
	JLT  smmaxtail
	VMAXPS (R8), Z4, Z4
	ADDQ $64, R8
	SUBQ $16, CX
	JMP  smmax16
smmaxtail:
	TESTQ CX, CX
	JZ   smmaxred
	TAILMASK
	VMAXPS (R8), Z5, K1, Z5 // merge-masked: the other lanes keep Z5
smmaxred:
	VMAXPS Z5, Z4, Z4
	VMAXPS Z7, Z6, Z6
	VMAXPS Z6, Z4, Z4
	VEXTRACTF64X4 $1, Z4, Y5
	VMAXPS Y5, Y4, Y4
	VEXTRACTF128 $1, Y4, X5
	VMAXPS X5, X4, X4
	VPERMILPS $0x4e, X4, X5
	VMAXPS X5, X4, X4
	VPERMILPS $0xb1, X4, X5
	VMAXPS X5, X4, X4
	VBROADCASTSS X4, Z16

	// Pass 2: dst = e^(src − m) and the float64 sums in Z8..Z11.
	LOADCONSTS
	VXORPD Z8, Z8, Z8
	VXORPD Z9, Z9, Z9
	VXORPD Z10, Z10, Z10
	VXORPD Z11, Z11, Z11
	MOVQ DX, CX
smexp32:
	CMPQ CX, $32
	JLT  smexp16
	VMOVUPS (SI), Z0
	VMOVUPS 64(SI), Z12
	VSUBPS Z16, Z0, Z0
	VSUBPS Z16, Z12, Z12
	EXP
	EXPB
	VMOVUPS Z0, (DI)
	VMOVUPS Z12, 64(DI)
	VCVTPS2PD Y0, Z1
	VEXTRACTF64X4 $1, Z0, Y2
	VCVTPS2PD Y2, Z2
	VCVTPS2PD Y12, Z13
	VEXTRACTF64X4 $1, Z12, Y14
	VCVTPS2PD Y14, Z14
	VADDPD Z1, Z8, Z8
	VADDPD Z2, Z9, Z9
	VADDPD Z13, Z10, Z10
	VADDPD Z14, Z11, Z11
	ADDQ $128, SI
	ADDQ $128, DI
	SUBQ $32, CX
	JMP  smexp32
smexp16:
	CMPQ CX, $16
	JLT  smexptail
	VMOVUPS (SI), Z0
	VSUBPS Z16, Z0, Z0
	EXP
	VMOVUPS Z0, (DI)
	VCVTPS2PD Y0, Z1
	VEXTRACTF64X4 $1, Z0, Y2
	VCVTPS2PD Y2, Z2
	VADDPD Z1, Z8, Z8
	VADDPD Z2, Z9, Z9
	ADDQ $64, SI
	ADDQ $64, DI
	SUBQ $16, CX // fewer than 16 left now
smexptail:
	TESTQ CX, CX
	JZ   smsum
	TAILMASK
	VMOVUPS.Z (SI), K1, Z0
	VSUBPS Z16, Z0, Z0
	EXP
	VMOVUPS Z0, K1, (DI)
	VMOVAPS.Z Z0, K1, Z0 // zero the lanes past n before summing
	VCVTPS2PD Y0, Z1
	VEXTRACTF64X4 $1, Z0, Y2
	VCVTPS2PD Y2, Z2
	VADDPD Z1, Z8, Z8
	VADDPD Z2, Z9, Z9
smsum:
	VADDPD Z9, Z8, Z8
	VADDPD Z11, Z10, Z10
	VADDPD Z10, Z8, Z8
	VEXTRACTF64X4 $1, Z8, Y9
	VADDPD Y9, Y8, Y8
	VEXTRACTF128 $1, Y8, X9
	VADDPD X9, X8, X8
	VPERMILPD $1, X8, X9
	VADDSD X9, X8, X8
	VMOVSD X8, ret+24(FP)
	VZEROUPPER
	RET

// func scaleAVX512(dst *float32, n int, s float32)
// dst[i] *= s for i < n.
TEXT ·scaleAVX512(SB), NOSPLIT, $0-20
	MOVQ dst+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS s+16(FP), Z31
scale64:
	CMPQ CX, $64
	JLT  scale16
	VMULPS (DI), Z31, Z0
	VMULPS 64(DI), Z31, Z1
	VMULPS 128(DI), Z31, Z2
	VMULPS 192(DI), Z31, Z3
	VMOVUPS Z0, (DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	ADDQ $256, DI
	SUBQ $64, CX
	JMP  scale64
scale16:
	CMPQ CX, $16
	JLT  scaletail
	VMULPS (DI), Z31, Z0
	VMOVUPS Z0, (DI)
	ADDQ $64, DI
	SUBQ $16, CX
	JMP  scale16
scaletail:
	TESTQ CX, CX
	JZ   scaledone
	TAILMASK
	VMULPS.Z (DI), Z31, K1, Z0
	VMOVUPS Z0, K1, (DI)
scaledone:
	VZEROUPPER
	RET
