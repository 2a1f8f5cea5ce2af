//go:build amd64 && !purego

#include "textflag.h"

// Each routine handles n values, n a positive multiple of 8; the Go
// wrappers do the tail.

// func biasReLUAVX(x, bias *float32, n int)
TEXT ·biasReLUAVX(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), DI
	MOVQ bias+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPS Y15, Y15, Y15
	SHRQ $3, CX
loop:
	VMOVUPS (DI), Y0
	VADDPS (SI), Y0, Y0
	VMAXPS Y0, Y15, Y0 // max(0, x): a NaN x passes through
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNE loop
	VZEROUPPER
	RET

// func biasAddAVX(x, bias *float32, n int)
TEXT ·biasAddAVX(SB), NOSPLIT, $0-24
	MOVQ x+0(FP), DI
	MOVQ bias+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
loop:
	VMOVUPS (DI), Y0
	VADDPS (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNE loop
	VZEROUPPER
	RET

// func reluBackwardAVX(grad, out *float32, n int)
TEXT ·reluBackwardAVX(SB), NOSPLIT, $0-24
	MOVQ grad+0(FP), DI
	MOVQ out+8(FP), SI
	MOVQ n+16(FP), CX
	VXORPS Y15, Y15, Y15
	SHRQ $3, CX
loop:
	VMOVUPS (SI), Y1
	VCMPPS $0x1e, Y15, Y1, Y1 // GT_OQ: out > 0, false for NaN
	VANDPS (DI), Y1, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNE loop
	VZEROUPPER
	RET

// func scaleAVX(x *float32, n int, a float32)
TEXT ·scaleAVX(SB), NOSPLIT, $0-20
	MOVQ x+0(FP), DI
	MOVQ n+8(FP), CX
	VBROADCASTSS a+16(FP), Y15
	SHRQ $3, CX
loop:
	VMULPS (DI), Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	DECQ CX
	JNE loop
	VZEROUPPER
	RET

// func axpyAVX(x, y *float32, n int, a float32)
TEXT ·axpyAVX(SB), NOSPLIT, $0-28
	MOVQ x+0(FP), SI
	MOVQ y+8(FP), DI
	MOVQ n+16(FP), CX
	VBROADCASTSS a+24(FP), Y15
	SHRQ $3, CX
loop:
	VMOVUPS (DI), Y0
	VFMADD231PS (SI), Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNE loop
	VZEROUPPER
	RET

// func addToAVX(dst, x *float32, n int)
TEXT ·addToAVX(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ x+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
loop:
	VMOVUPS (DI), Y0
	VADDPS (SI), Y0, Y0
	VMOVUPS Y0, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	DECQ CX
	JNE loop
	VZEROUPPER
	RET

// func adamAVX(p, grad, m, v *float32, n int, c *adamConsts)
// c: b1, b2, c1, c2, decay, step, invSqrtBC2, eps at offsets 0..28.
TEXT ·adamAVX(SB), NOSPLIT, $0-48
	MOVQ p+0(FP), DI
	MOVQ grad+8(FP), SI
	MOVQ m+16(FP), R8
	MOVQ v+24(FP), R9
	MOVQ n+32(FP), CX
	MOVQ c+40(FP), AX
	VBROADCASTSS 0(AX), Y8
	VBROADCASTSS 4(AX), Y9
	VBROADCASTSS 8(AX), Y10
	VBROADCASTSS 12(AX), Y11
	VBROADCASTSS 16(AX), Y12
	VBROADCASTSS 20(AX), Y13
	VBROADCASTSS 24(AX), Y14
	VBROADCASTSS 28(AX), Y15
	SHRQ $3, CX
loop:
	VMOVUPS (SI), Y0           // g
	VMULPS (R8), Y8, Y1        // b1*m
	VFMADD231PS Y0, Y10, Y1    // + c1*g
	VMOVUPS Y1, (R8)
	VMULPS Y0, Y0, Y2          // g*g
	VMULPS (R9), Y9, Y3        // b2*v
	VFMADD231PS Y2, Y11, Y3    // + c2*g*g
	VMOVUPS Y3, (R9)
	VSQRTPS Y3, Y3
	VFMADD213PS Y15, Y14, Y3   // den = sqrt v times invSqrtBC2 plus eps
	VDIVPS Y3, Y1, Y1          // m / den
	VMULPS (DI), Y12, Y4       // p*decay
	VFNMADD231PS Y1, Y13, Y4   // - step*m/den
	VMOVUPS Y4, (DI)
	ADDQ $32, DI
	ADDQ $32, SI
	ADDQ $32, R8
	ADDQ $32, R9
	DECQ CX
	JNE loop
	VZEROUPPER
	RET
