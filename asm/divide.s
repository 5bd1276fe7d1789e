; divide.s - what rmsnorm.s and attention.s share (each kernel divides with
; its own loop now): the page-aligned quarter-square tables of kernels_b.inc
; (2 KiB, segment PAGEBSS: built by attention_init at start, not loaded) and
; the zero page scratch block kb_zp (the two kernels never run at once).

.include "kernels_b.inc"

.exportzp kb_zp
.export attention_init
.export qs_sq1_lo, qs_sq1_hi, qs_sq2_lo, qs_sq2_hi

.segment "ZEROPAGE"
kb_zp:          .res KB_ZP_SIZE ; scratch shared by rmsnorm.s and attention.s

.segment "PAGEBSS"                      ; page aligned (asm/soul.cfg); attention_init fills them
        .align  $100                    ; (other modules' PAGEBSS may come first)
qs_sq1_lo:      .res QS_HALF    ; f(n) = floor(n * n / 4), n = 0..511
qs_sq1_hi:      .res QS_HALF
qs_sq2_lo:      .res QS_HALF    ; f(n - 255)
qs_sq2_hi:      .res QS_HALF
.assert qs_sq1_hi - qs_sq1_lo = QS_HALF, error, "quarter-square table layout"
.assert qs_sq2_hi - qs_sq2_lo = QS_HALF, error, "quarter-square table layout"
.assert <qs_sq1_lo = 0, error, "quarter-square tables must be page aligned"

.segment "ZEROPAGE"
qs_f:           .res 2          ; attention_init: f(n) so far

; QS_F_STEP off, add: store f(n) = qs_f at qs_sq1_lo/hi + off + X, then
; qs_f += add + floor((X + 1) / 2) (the step to f(n + 1) for n = off + X) and
; X += 1. out: Z = X wrapped to 0. clobbers: A, C
.macro QS_F_STEP off, add
        lda     qs_f
        sta     qs_sq1_lo+off,x
        lda     qs_f+1
        sta     qs_sq1_hi+off,x
        txa                             ; floor((X + 1) / 2): 9-bit X + 1, carry in by ror
        clc
        adc     #1
        ror     a
        .if add <> 0
        clc
        adc     #add
        .endif
        clc
        adc     qs_f
        sta     qs_f
        bcc     :+
        inc     qs_f+1
:       inx
.endmacro

.segment "CODE"

; attention_init: build the quarter-square tables (call once before the first
; rmsnorm_s or attention_head; engine_init does).
;   qs_sq1[n] = f(n) for n = 0..511, from f(n + 1) = f(n) + floor((n + 1) / 2)
;   qs_sq2[n] = f(n - 255) = qs_sq1[|n - 255|]
; in: - ; out: the tables. clobbers: A, X, Y, qs_f. cycles: ~40k
.proc attention_init
        lda     #0
        sta     qs_f
        sta     qs_f+1
        tax
lo_page:                                ; n = X = 0..255
        QS_F_STEP 0, 0
        bne     lo_page
hi_page:                                ; n = 256 + X: f(n + 1) - f(n) = 128 + floor((X + 1) / 2)
        QS_F_STEP 256, 128              ; (the step past n = 511 is never stored)
        bne     hi_page
mirror:                                 ; X = 0..255: sq2[X] = sq1[255 - X], sq2[256 + X] = sq1[X + 1]
        txa
        eor     #$ff
        tay
        lda     qs_sq1_lo,y
        sta     qs_sq2_lo,x
        lda     qs_sq1_hi,y
        sta     qs_sq2_hi,x
        lda     qs_sq1_lo+1,x           ; X = 255 reads sq1[256]: the tables are contiguous
        sta     qs_sq2_lo+256,x
        lda     qs_sq1_hi+1,x
        sta     qs_sq2_hi+256,x
        inx
        bne     mirror
        rts
.endproc
