//go:build amd64 && !purego

#include "textflag.h"

// func gatherPanel6(dst, src *float32, ld, k int)
// dst[p*6+r] = src[r*ld+p] for r < 6, p < k: six strided rows interleaved.
TEXT ·gatherPanel6(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	MOVQ k+24(FP), CX
	SHLQ $2, R8
	LEAQ (SI)(R8*1), R9
	LEAQ (R9)(R8*1), R10
	LEAQ (R10)(R8*1), R11
	LEAQ (R11)(R8*1), R12
	LEAQ (R12)(R8*1), R13
	XORQ AX, AX
	TESTQ CX, CX
	JE done6
loop6:
	MOVL (SI)(AX*4), BX
	MOVL (R9)(AX*4), DX
	MOVL BX, 0(DI)
	MOVL DX, 4(DI)
	MOVL (R10)(AX*4), BX
	MOVL (R11)(AX*4), DX
	MOVL BX, 8(DI)
	MOVL DX, 12(DI)
	MOVL (R12)(AX*4), BX
	MOVL (R13)(AX*4), DX
	MOVL BX, 16(DI)
	MOVL DX, 20(DI)
	ADDQ $24, DI
	INCQ AX
	CMPQ AX, CX
	JNE loop6
done6:
	RET

// func gatherPanel16(dst, src *float32, ld, k int)
// dst[p*16+c] = src[c*ld+p] for c < 16, p < k, four rows per pass.
TEXT ·gatherPanel16(SB), NOSPLIT, $0-32
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	MOVQ k+24(FP), CX
	SHLQ $2, R8
	TESTQ CX, CX
	JE done16
	MOVQ $4, R12
pass16:
	LEAQ (SI)(R8*1), R9
	LEAQ (R9)(R8*1), R10
	LEAQ (R10)(R8*1), R11
	MOVQ DI, R13
	XORQ AX, AX
loop16:
	MOVL (SI)(AX*4), BX
	MOVL (R9)(AX*4), DX
	MOVL BX, 0(R13)
	MOVL DX, 4(R13)
	MOVL (R10)(AX*4), BX
	MOVL (R11)(AX*4), DX
	MOVL BX, 8(R13)
	MOVL DX, 12(R13)
	ADDQ $64, R13
	INCQ AX
	CMPQ AX, CX
	JNE loop16
	LEAQ (R11)(R8*1), SI
	ADDQ $16, DI
	DECQ R12
	JNE pass16
done16:
	RET

// func spreadPanels6(dst, src *float32, ld, k, panels, pstride int)
// For p < k and q < panels: dst[q*pstride+p*6+c] = src[p*ld+q*6+c], c < 6.
// Walks src row by row, so reads are sequential whatever the stride.
TEXT ·spreadPanels6(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	MOVQ k+24(FP), CX
	MOVQ panels+32(FP), R9
	MOVQ pstride+40(FP), R10
	SHLQ $2, R8
	SHLQ $2, R10
rows6:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R9, DX
cols6:
	MOVUPS (AX), X0
	MOVQ 16(AX), X1
	MOVUPS X0, (BX)
	MOVQ X1, 16(BX)
	ADDQ $24, AX
	ADDQ R10, BX
	DECQ DX
	JNE cols6
	ADDQ R8, SI
	ADDQ $24, DI
	DECQ CX
	JNE rows6
	RET

// func spreadPanels16(dst, src *float32, ld, k, panels, pstride int)
// For p < k and q < panels: dst[q*pstride+p*16+c] = src[p*ld+q*16+c], c < 16.
TEXT ·spreadPanels16(SB), NOSPLIT, $0-48
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ ld+16(FP), R8
	MOVQ k+24(FP), CX
	MOVQ panels+32(FP), R9
	MOVQ pstride+40(FP), R10
	SHLQ $2, R8
	SHLQ $2, R10
rows16:
	MOVQ SI, AX
	MOVQ DI, BX
	MOVQ R9, DX
cols16:
	VMOVUPS (AX), Y0
	VMOVUPS 32(AX), Y1
	VMOVUPS Y0, (BX)
	VMOVUPS Y1, 32(BX)
	ADDQ $64, AX
	ADDQ R10, BX
	DECQ DX
	JNE cols16
	ADDQ R8, SI
	ADDQ $64, DI
	DECQ CX
	JNE rows16
	VZEROUPPER
	RET
