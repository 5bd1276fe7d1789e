; divide.s - what rmsnorm.s and attention.s share: the unsigned 32/16
; division (RMSNorm's 2^19 / r, attention's division by the weight sum), the
; page-aligned quarter-square tables of kernels_b.inc (2 KiB, segment TABLES)
; and the zero page scratch block kb_zp (the two kernels never run at once).

.include "kernels_b.inc"

.exportzp dv_num, dv_den, kb_zp
.export div32_16u
.export qs_sq1_lo, qs_sq1_hi, qs_sq2_lo, qs_sq2_hi

.segment "ZEROPAGE"
dv_num:         .res 4          ; dividend (little endian); quotient/remainder out
dv_den:         .res 2          ; divisor
kb_zp:          .res KB_ZP_SIZE ; scratch shared by rmsnorm.s and attention.s

.segment "TABLES"                       ; page aligned (asm/soul.cfg)
qs_sq1_lo:
        .repeat 512, I
        .byte   <((I * I) / 4)
        .endrepeat
qs_sq1_hi:
        .repeat 512, I
        .byte   >((I * I) / 4)
        .endrepeat
qs_sq2_lo:
        .repeat 512, I
        .byte   <(((I - 255) * (I - 255)) / 4)
        .endrepeat
qs_sq2_hi:
        .repeat 512, I
        .byte   >(((I - 255) * (I - 255)) / 4)
        .endrepeat
.assert qs_sq1_hi - qs_sq1_lo = QS_HALF, error, "quarter-square table layout"
.assert qs_sq2_hi - qs_sq2_lo = QS_HALF, error, "quarter-square table layout"
.assert <qs_sq1_lo = 0, error, "quarter-square tables must be page aligned"

.segment "CODE"

; div32_16u: unsigned division with a 16-bit quotient (restoring, 16 steps;
; the remainder's low byte lives in A).
; in: dv_num (4 bytes, little endian) = dividend N, dv_den (2 bytes) = divisor D,
;     with 1 <= D <= 32768 and N < D * 65536 (the quotient fits 16 bits and
;     the shifted remainder, < 2D, fits 16 bits)
; out: dv_num+0/+1 = quotient floor(N / D), dv_num+3 = remainder high byte,
;      A = remainder low byte (dv_num+2 is stale); dv_den unchanged
; clobbers: A, X, Y, flags
; cycles: 16 steps of 38 (quotient bit 0) or 52 (bit 1): 650..870 with the call
.proc div32_16u
        lda     dv_num+2                ; remainder = r1:A = N >> 16 (< D)
        ldx     #16
step:   asl     dv_num                  ; remainder:quotient <<= 1
        rol     dv_num+1
        rol     a
        rol     dv_num+3                ; < 2D <= 65536: no carry out
        tay
        cmp     dv_den                  ; remainder >= D ?
        lda     dv_num+3
        sbc     dv_den+1
        bcc     keep                    ; no: quotient bit 0
        sta     dv_num+3
        tya
        sbc     dv_den                  ; C = 1 here
        tay
        inc     dv_num                  ; quotient bit 1 (bit 0 was cleared by asl)
keep:   tya
        dex
        bne     step
        rts
.endproc
