; rmsnorm.s - RMSNorm, bit-exact per shared/spec/numerics.md:
;
;   xs[i] = asr(x[i], 4)
;   ms    = max(1, floordiv(sum xs[i]^2, ED))
;   r     = max(1, isqrt(ms))           (exact floor square root, ms <= 2^22)
;   inv   = min(32767, floordiv(2^19, r))
;   y[i]  = sat16(asr(asr(x[i] * inv, 15) * g[i], s_g))
;
; Interface (for engine_step):
;   rms_x (zp word)  -> x: EMBED_DIM int16, little endian, interleaved (lo, hi)
;   rms_g (zp word)  -> g: EMBED_DIM int8 gains
;   rms_y (zp word)  -> y: EMBED_DIM int16 out, same layout (may equal rms_x)
;   A = s_g (signed byte, RMS_SHIFT_MIN..RMS_SHIFT_MAX), then jsr rmsnorm
; The dimension EMBED_DIM comes from model.inc (or ca65 -D EMBED_DIM=..).
; A power of two uses a shift for the mean; any other size a 32/8 division.

.include "kernels_b.inc"

.importzp dv_num, dv_den, kb_zp
.import div32_16u
.import qs_sq1_lo, qs_sq1_hi, qs_sq2_lo, qs_sq2_hi
.exportzp rms_x, rms_g, rms_y, rms_m, rms_q
.export rmsnorm, rms_isqrt

.ifndef EMBED_DIM
        .include "model.inc"            ; the engine build; tests pass -D EMBED_DIM
.endif
.assert EMBED_DIM >= 1 && EMBED_DIM <= 128, error, "rmsnorm: EMBED_DIM must be 1..128 (Y = 2*i)"

RMS_IN_SHIFT    = 4             ; xs = asr(x, 4): |xs| <= 2048
RMS_ONE_HI      = $08           ; 2^19 = $00080000: byte 2
RMS_INV_MAX     = 32767
RMS_R_SAT       = 16            ; r <= 16 -> 2^19 / r >= 32768 -> inv = 32767
RMS_SHIFT_MIN   = -16           ; supported s_g (asr by a negative count shifts left):
RMS_SHIFT_MAX   = 24            ; |u*g| < 2^22, shifted left <= 16 fits rms_e's 40 bits

; log2(EMBED_DIM) when it is a power of two, else -1
RMS_LOG2 .set -1
.repeat 8, I
        .if (1 << I) = EMBED_DIM
RMS_LOG2 .set I
        .endif
.endrepeat

; zero page: the kernels' shared scratch block kb_zp (divide.s), also used
; by attention.s: rmsnorm's pointers must be set right before each call.
; isqrt's r/q/t share rms_p (the product bytes of the element loop) and the
; sum of squares shares rms_e.
rms_x   = kb_zp + 0             ; word
rms_g   = kb_zp + 2             ; word
rms_y   = kb_zp + 4             ; word
rms_s   = kb_zp + 6             ; 4: sum of squares (28 bits), then ms (3 bytes)
rms_m   = rms_s                 ; rms_isqrt input (24 bits, consumed)
rms_e   = kb_zp + 6             ; 5: u*g, sign extended to 40 bits, then shifted
rms_p   = kb_zp + 11            ; 8: partial products
rms_r   = rms_p                 ; 2: isqrt remainder
rms_q   = rms_p + 2             ; 2: isqrt root
rms_t   = rms_p + 4             ; 2: isqrt trial 4q+1; square phase: h*l
rms_inv = kb_zp + 19            ; 2
rms_u   = kb_zp + 21            ; 2
rms_neg = kb_zp + 23            ; bit 7: sign of u*g
rms_ext = kb_zp + 24            ; $ff / $00: sign extension of the shifted value
rms_i   = kb_zp + 25            ; 2*i
rms_gi  = kb_zp + 26            ; i
rms_b1  = kb_zp + 27            ; x high byte ^ $80
.assert rms_b1 < kb_zp + KB_ZP_SIZE, error, "rmsnorm: zero page scratch overflow"

.segment "BSS"
rms_lsh:        .res 1          ; left shifts after the product (0..16)
rms_bo:         .res 1          ; byte offset of the result in rms_e (0..3)

.segment "RODATA"
rms_hsq:                        ; h*h for the high byte h of |xs| (0..8)
        .repeat 9, I
        .byte   I * I
        .endrepeat

.segment "CODE"

; rms_isqrt: exact floor square root of a 24-bit number (2 bits per step).
; in: rms_m (3 bytes, little endian) = n, n < 2^24
; out: rms_q (2 bytes) = floor(sqrt(n)) (<= 4095); rms_m destroyed
; clobbers: A, X, Y, rms_r, rms_t
; cycles: 12 steps of ~115: ~1400
.proc rms_isqrt
        lda     #0
        sta     rms_r
        sta     rms_r+1
        sta     rms_q
        sta     rms_q+1
        ldx     #12
step:   .repeat 2                       ; r = 4r + top 2 bits of n
        asl     rms_m
        rol     rms_m+1
        rol     rms_m+2
        rol     rms_r
        rol     rms_r+1
        .endrepeat
        lda     rms_q                   ; t = 4q + 1
        asl     a
        sta     rms_t
        lda     rms_q+1
        rol     a
        asl     rms_t
        rol     a
        sta     rms_t+1
        inc     rms_t                   ; low 2 bits were 0
        sec                             ; r >= t ? r -= t, q = 2q+1 : q = 2q
        lda     rms_r
        sbc     rms_t
        tay
        lda     rms_r+1
        sbc     rms_t+1
        bcc     keep
        sta     rms_r+1
        sty     rms_r
keep:   rol     rms_q                   ; shifts in C = (r >= t)
        rol     rms_q+1
        dex
        bne     step
        rts
.endproc

; rmsnorm: y = RMSNorm(x) with gain g and shift s_g (see top of file).
; in: rms_x, rms_g, rms_y (zp pointers), A = s_g (RMS_SHIFT_MIN..RMS_SHIFT_MAX)
; out: y[0..EMBED_DIM) written
; clobbers: A, X, Y, kb_zp (rms_*), dv_num, dv_den, the patched operands
; cycles (x64sc, ED=32, measured by tests/test_vice_rmsnorm.py):
;   ~25.5k (|x| < 4096: 150 per element for the squares) .. ~30k (full range),
;   of which ~2.6k mean + isqrt + division, ~570 per element for y
.proc rmsnorm
        ; --- plan the final asr(v, s_g): shift left rms_lsh, take bytes rms_bo..+1
        tax
        bpl     right
        eor     #$ff                    ; s_g < 0: left by -s_g, byte 0
        clc
        adc     #1
        sta     rms_lsh
        lda     #0
        sta     rms_bo
        beq     squares
right:  clc                             ; s_g >= 0: B = ceil(s_g / 8), L = 8B - s_g
        adc     #7
        lsr     a
        lsr     a
        lsr     a
        sta     rms_bo
        asl     a
        asl     a
        asl     a
        stx     rms_lsh
        sec
        sbc     rms_lsh
        sta     rms_lsh

squares:
        ; --- S = sum of asr(x, 4)^2 (|xs| = h*256 + l, h <= 8:
        ;     xs^2 = l^2 + 512*h*l + 65536*h^2; l^2 = f(2l) from the table)
        lda     #0
        sta     rms_s
        sta     rms_s+1
        sta     rms_s+2
        sta     rms_s+3
        ldy     #2 * EMBED_DIM - 1
sq_loop:                                ; Y = 2i + 1
        lda     (rms_x),y
        sta     rms_u+1
        dey
        lda     (rms_x),y
        sta     rms_u
        sty     rms_i
        lda     rms_u+1
        .repeat ::RMS_IN_SHIFT
        cmp     #$80
        ror     a
        ror     rms_u
        .endrepeat
        tax                             ; N := sign of xs (A = its high byte)
        bpl     @abs
        eor     #$ff                    ; |xs| = -xs
        sta     rms_u+1
        lda     rms_u
        eor     #$ff
        clc
        adc     #1
        sta     rms_u
        lda     rms_u+1
        adc     #0
@abs:   sta     rms_u+1                 ; h
        lda     rms_u                   ; l^2 = f(2l), 2l = 0..510
        asl     a
        tax
        bcs     @big
        lda     qs_sq1_lo,x
        ldy     qs_sq1_hi,x
        bcc     @add                    ; always
@big:   lda     qs_sq1_lo+256,x
        ldy     qs_sq1_hi+256,x
@add:   clc
        adc     rms_s
        sta     rms_s
        tya
        adc     rms_s+1
        sta     rms_s+1
        bcc     @hpart
        inc     rms_s+2
        bne     @hpart
        inc     rms_s+3
@hpart: ldx     rms_u+1
        beq     @next
        lda     #0                      ; t = h*l (h <= 8: repeated addition)
        sta     rms_t
        sta     rms_t+1
@hl:    clc
        lda     rms_t
        adc     rms_u
        sta     rms_t
        bcc     @hl1
        inc     rms_t+1
@hl1:   dex
        bne     @hl
        asl     rms_t                   ; 2*h*l < 2^12
        rol     rms_t+1
        clc                             ; S += 2hl * 256
        lda     rms_s+1
        adc     rms_t
        sta     rms_s+1
        lda     rms_s+2
        adc     rms_t+1
        sta     rms_s+2
        bcc     @h2
        inc     rms_s+3
@h2:    ldx     rms_u+1                 ; S += h^2 * 65536
        lda     rms_hsq,x
        clc
        adc     rms_s+2
        sta     rms_s+2
        bcc     @next
        inc     rms_s+3
@next:  ldy     rms_i
        beq     mean
        dey
        jmp     sq_loop

mean:   ; --- ms = max(1, floordiv(S, EMBED_DIM)) (<= 2^22: 3 bytes)
.if ::RMS_LOG2 > 0
        ldx     #RMS_LOG2
@sh:    lsr     rms_s+3
        ror     rms_s+2
        ror     rms_s+1
        ror     rms_s
        dex
        bne     @sh
.elseif ::RMS_LOG2 < 0
        .assert EMBED_DIM < 128, error, "rmsnorm: the remainder must fit a byte"
        lda     #0                      ; remainder
        ldx     #32
@dv:    asl     rms_s
        rol     rms_s+1
        rol     rms_s+2
        rol     rms_s+3
        rol     a
        cmp     #EMBED_DIM
        bcc     @dv1
        sbc     #EMBED_DIM
        inc     rms_s                   ; quotient bit (bit 0 cleared by asl)
@dv1:   dex
        bne     @dv
.endif
        lda     rms_s
        ora     rms_s+1
        ora     rms_s+2
        bne     @ms_ok
        inc     rms_s                   ; ms = max(1, ...)
@ms_ok: jsr     rms_isqrt               ; r = isqrt(ms) >= 1

        ; --- inv = min(32767, 2^19 / r)
        lda     rms_q+1
        bne     @divide
        lda     rms_q
        cmp     #RMS_R_SAT + 1
        bcs     @divide
        lda     #<RMS_INV_MAX
        sta     rms_inv
        lda     #>RMS_INV_MAX
        sta     rms_inv+1
        bne     @patch                  ; always
@divide:
        lda     #0
        sta     dv_num
        sta     dv_num+1
        sta     dv_num+3
        lda     #RMS_ONE_HI
        sta     dv_num+2
        lda     rms_q
        sta     dv_den
        lda     rms_q+1
        sta     dv_den+1
        jsr     div32_16u               ; 2^19 / r < 32768 for r >= 17
        lda     dv_num
        sta     rms_inv
        lda     dv_num+1
        sta     rms_inv+1
@patch: lda     rms_inv                 ; multiplicands inv lo / inv hi
        QS_SET  mul_i0b0, mul_i0b1
        lda     rms_inv+1
        QS_SET  mul_i1b0, mul_i1b1

        ; --- y[i] = sat16(asr(asr(x[i] * inv, 15) * g[i], s_g)), i = 0..ED-1
        lda     #0
        sta     rms_i
        sta     rms_gi
elem:   ldy     rms_i
        lda     (rms_x),y
        tax                             ; b0 = low byte of x' = x + 32768
        iny
        lda     (rms_x),y
        eor     #$80
        sta     rms_b1                  ; b1 = high byte of x'
        ; P = x' * inv (unsigned, < 2^31) = i0b0 + (i1b0 + i0b1) << 8 + i1b1 << 16
        QS_MUL  mul_i0b0, rms_p
        sta     rms_p+1
        QS_MUL  mul_i1b0, rms_p+2
        sta     rms_p+3
        ldx     rms_b1
        QS_MUL  mul_i0b1, rms_p+4
        sta     rms_p+5
        QS_MUL  mul_i1b1, rms_p+6
        sta     rms_p+7
        clc                             ; X1 = i1b0 + i0b1 (17 bits)
        lda     rms_p+2
        adc     rms_p+4
        sta     rms_p+2
        lda     rms_p+3
        adc     rms_p+5
        sta     rms_p+3
        bcc     @x1
        inc     rms_p+7                 ; bit 16 of X1 is bit 24 of P
@x1:    clc
        lda     rms_p+1                 ; P1
        adc     rms_p+2
        sta     rms_p+1
        lda     rms_p+6                 ; P2
        adc     rms_p+3
        sta     rms_p+6
        bcc     @x2
        inc     rms_p+7                 ; P3
@x2:    asl     rms_p+1                 ; P >> 15 = (P << 1) >> 16
        rol     rms_p+6
        rol     rms_p+7
        sec                             ; u = asr(x * inv, 15) = (x' * inv >> 15) - inv
        lda     rms_p+6
        sbc     rms_inv
        sta     rms_u
        lda     rms_p+7
        sbc     rms_inv+1
        sta     rms_u+1
        ; v = u * g = +-(|u| * |g|), |u| <= 32767, |g| <= 128
        ldy     rms_gi
        lda     (rms_g),y
        eor     rms_u+1
        sta     rms_neg                 ; bit 7: sign of the product
        lda     (rms_g),y
        bpl     @gpos
        eor     #$ff
        clc
        adc     #1                      ; -128 -> $80 = 128 unsigned
@gpos:  QS_SET  mul_gu0, mul_gu1
        lda     rms_u+1
        bpl     @upos
        lda     #0                      ; |u|
        sec
        sbc     rms_u
        sta     rms_u
        lda     #0
        sbc     rms_u+1
        sta     rms_u+1
@upos:  ldx     rms_u
        QS_MUL  mul_gu0, rms_e
        sta     rms_e+1
        ldx     rms_u+1
        QS_MUL  mul_gu1, rms_p
        sta     rms_e+2                 ; < 2^22 in all: no carry out of e+2
        clc
        lda     rms_e+1
        adc     rms_p
        sta     rms_e+1
        bcc     @e2
        inc     rms_e+2
@e2:    ldx     #0                      ; X = sign extension
        bit     rms_neg
        bpl     @ext
        sec                             ; v = -v (24 bits)
        txa
        sbc     rms_e
        sta     rms_e
        lda     #0
        sbc     rms_e+1
        sta     rms_e+1
        lda     #0
        sbc     rms_e+2
        sta     rms_e+2
        bcs     @ext                    ; no borrow: v was 0, stays positive
        ldx     #$ff
@ext:   stx     rms_ext
        stx     rms_e+3
        stx     rms_e+4
@shift: ldx     rms_lsh                 ; asr(v, s_g) = bytes B.. of v << L
        beq     @sat
@shl:   asl     rms_e
        rol     rms_e+1
        rol     rms_e+2
        rol     rms_e+3
        rol     rms_e+4
        dex
        bne     @shl
@sat:   ldx     rms_bo                  ; in int16 range iff bytes B+2..4 and
        lda     rms_e+1,x               ; bit 7 of byte B+1 equal the sign
        eor     rms_ext
        bmi     @clamp
        lda     rms_ext
@chk:   cpx     #3
        bcs     @store
        cmp     rms_e+2,x
        bne     @clamp
        inx
        bne     @chk                    ; always
@store: ldx     rms_bo
        ldy     rms_i
        lda     rms_e,x
        sta     (rms_y),y
        iny
        lda     rms_e+1,x
        sta     (rms_y),y
        jmp     @next
@clamp: ldy     rms_i                   ; -32768 or 32767
        lda     rms_ext
        eor     #$ff
        sta     (rms_y),y
        iny
        lda     rms_ext
        eor     #$7f
        sta     (rms_y),y
@next:  iny
        sty     rms_i
        inc     rms_gi
        cpy     #<(2 * EMBED_DIM)
        beq     finish
        jmp     elem
finish: rts
.endproc
