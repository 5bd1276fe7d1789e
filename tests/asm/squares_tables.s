; squares_tables.s - test fixture for tests/test_vice_attention.py: the
; matmul's squares tables in asm/matmul.s's layout (mm_sq1, mm_sq2 = bytes 1,
; 2 of n^2 at index mm_sq_zero + n; mm_sq0[j] = j^2 mod 256), so that the
; attention driver need not link the matmul. Python computes the image
; (squares_image.inc: SQ_LEN, SQ_ZERO, SQ0_PAD and sq_image), squares_load
; copies it under I/O.

        .include "macros.inc"
        .include "squares_image.inc"
        .export mm_sq0, mm_sq1, mm_sq2, mm_sq_zero, squares_load

SQ_BYTES = 2 * SQ_LEN + SQ0_PAD
        .assert SQ_BYTES .mod 256 = 0, error, "squares image: whole pages"

        .segment "SQUARES"              ; under I/O, 4 KB aligned (asm/soul.cfg)
mm_sq1: .res    SQ_LEN
mm_sq2: .res    SQ_LEN
mm_sq0: .res    SQ0_PAD
mm_sq_zero = SQ_ZERO

        .segment "ZEROPAGE"
sq_src: .res    2
sq_dst: .res    2

        .segment "CODE"
; squares_load: copy sq_image to mm_sq1.. (whole pages).
; in: BANK_ALL_RAM (the target is under I/O); clobbers: A, X, Y, sq_src, sq_dst
.proc squares_load
        LDPTR   sq_src, sq_image
        LDPTR   sq_dst, mm_sq1
        ldx     #SQ_BYTES / 256
        ldy     #0
copy:   lda     (sq_src),y
        sta     (sq_dst),y
        iny
        bne     copy
        inc     sq_src+1
        inc     sq_dst+1
        dex
        bne     copy
        rts
.endproc
