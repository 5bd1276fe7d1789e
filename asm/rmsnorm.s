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

.include "spec.inc"
.include "kernels_b.inc"

.importzp dv_num, dv_den, kb_zp
.import div32_16u
.import qs_sq1_lo, qs_sq1_hi, qs_sq2_lo, qs_sq2_hi
.import mm_sq0, mm_sq1, mm_sq2, mm_sq_zero      ; squares tables (matmul.s), banked in
.exportzp rms_x, rms_g, rms_y, rms_m, rms_q
.export rmsnorm, rms_isqrt

.ifndef EMBED_DIM
        .include "model.inc"            ; the engine build; tests pass -D EMBED_DIM
.endif
.assert EMBED_DIM >= 1 && EMBED_DIM <= 64, error, "rmsnorm: EMBED_DIM must be 1..64 (X = 2*i + 1 counts down with bpl)"
; the square phase reads n = xs = -2048..2047 at index mm_sq_zero + n
.assert mm_sq_zero >= 2048 && mm_sq_zero + 2047 < mm_sq2 - mm_sq1, lderror, "rmsnorm: squares table range"
.assert <mm_sq0 = 0 && <(mm_sq1 + mm_sq_zero) = 0 && <(mm_sq2 - mm_sq1) = 0, lderror, "rmsnorm: squares tables page layout"

; RMS_IN_SHIFT (xs = asr(x, 4): |xs| <= 2048), RMS_ONE_LOG2, RMS_INV_MAX,
; RMS_OUT_SHIFT come from spec.inc
.assert RMS_IN_SHIFT = 4, error, "rmsnorm: the square phase takes |xs| <= 2048 (h <= 8)"
.assert RMS_OUT_SHIFT = 15, error, "rmsnorm: u = bytes 2..3 of |x| * (2 * inv)"
.assert RMS_ONE_LOG2 >= 16 && RMS_ONE_LOG2 <= 23, error, "rmsnorm: 2^RMS_ONE_LOG2 is byte 2 of the dividend"
RMS_ONE_HI      = 1 << (RMS_ONE_LOG2 - 16)      ; byte 2 of 2^RMS_ONE_LOG2
RMS_R_SAT       = (1 << RMS_ONE_LOG2) / (RMS_INV_MAX + 1)  ; r <= this: 2^19 / r > RMS_INV_MAX
.assert (1 << RMS_ONE_LOG2) / (RMS_R_SAT + 1) <= RMS_INV_MAX, error, "rmsnorm: inv clamp edge"
.assert RMS_INV_MAX = 32767, error, "rmsnorm: a = 2 * inv fits 16 bits"
RMS_SHIFT_MIN   = -16           ; supported s_g (asr by a negative count shifts left):
RMS_SHIFT_MAX   = 24            ; (|u*g| < 2^22: s_g >= 22 gives 0 or -1)
RMS_SAT_NONE    = $80           ; threshold byte only M' = -1 reaches (M' < 2^22)
RMS_FAST_MAX    = 8             ; s_g = 1..8: unrolled shift, 8 - s_g steps
RMS_SH_STEP     = 5             ; bytes of one unrolled step (asl a, rol zp, rol zp)

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
rms_m0  = kb_zp + 6             ; 3: M' = |u| * |g| (- 1), then shifted
rms_m1  = kb_zp + 7
rms_m2  = kb_zp + 8
rms_p0  = kb_zp + 9             ; bytes 0..1 of P = |x| * 2 * inv
rms_p1  = kb_zp + 10
rms_p   = kb_zp + 11            ; 6: isqrt's r, q, t
rms_r   = rms_p                 ; 2: isqrt remainder
rms_q   = rms_p + 2             ; 2: isqrt root
rms_t   = rms_p + 4             ; 2: isqrt trial 4q+1
rms_w   = rms_p                 ; 5: element loop: partial products
rms_inv = kb_zp + 19            ; 2: inv, then a = 2 * inv
rms_u   = kb_zp + 21            ; 2: square phase: x hi, then xs low byte
rms_ul  = rms_u                 ; element loop: |u|
rms_uh  = rms_u + 1
rms_ng  = kb_zp + 23            ; $ff: the product u * g is negative, else $00
rms_xh  = kb_zp + 24            ; |x| high byte
rms_i   = kb_zp + 25            ; 2*i
rms_gi  = kb_zp + 26            ; i
.assert rms_gi < kb_zp + KB_ZP_SIZE, error, "rmsnorm: zero page scratch overflow"

.segment "BSS"
rms_cnt:        .res 1          ; shift steps of the slow shift loops; plan scratch

.segment "RODATA"
rms_sqpg:                       ; x hi >> 4 -> the page of n = xs in mm_sq1 (xs hi = it - 16 when >= 8)
        .repeat 16, I
        .byte   <(>(mm_sq1 + mm_sq_zero) + I - 16 * (I / 8))
        .endrepeat

.segment "CODE"

; rms_isqrt: exact floor square root of a 24-bit number (2 bits per step).
; in: rms_m (3 bytes, little endian) = n, n < 2^24
; out: rms_q (2 bytes) = floor(sqrt(n)) (<= 4095); rms_m destroyed
; clobbers: A, X, Y, rms_r, rms_t
; cycles: ~115 per step: 12 steps (~1400) for n >= 2^16; a zero top byte
;   skips 4 steps (they would only shift zeros in), so n < 2^16 takes 8 and
;   n < 2^8 takes 4
.proc rms_isqrt
        lda     #0
        sta     rms_r
        sta     rms_r+1
        sta     rms_q
        sta     rms_q+1
        ldx     #12
        .repeat 2
        lda     rms_m+2                 ; top byte 0: r, q stay 0 for 4 steps
        bne     step
        lda     rms_m+1                 ; n <<= 8 instead
        sta     rms_m+2
        lda     rms_m
        sta     rms_m+1
        lda     #0
        sta     rms_m
        .repeat 4
        dex
        .endrepeat
        .endrepeat
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
;   ~20.3k (|x| < 2000, random gains) .. ~24.5k (full range x), of which
;   ~2.6k mean + isqrt + division; per element ~150 for the square (|x| <
;   4096) and ~270 (|x|, |u| < 256) .. ~390 for y (s_g = 1..8; other shifts
;   take a loop of ~25 cycles per step, 8 - s_g or s_g - 8 steps)
.proc rmsnorm
        ; --- plan the final shift: bytes 1..2 of M' << (8 - s_g). For s_g =
        ;     1..8 an unrolled shift (entry patched) after a saturation check
        ;     M' >= 2^(15 + s_g) on byte 2 (threshold 2^(s_g - 1), patched); else
        ;     a loop (s_g <= 0: it checks for overflow itself; s_g > 8: y never
        ;     saturates). Byte 2 >= $80 means M' = -1 (y = 0) for every s_g.
        tax                             ; X = s_g
        ldy     #RMS_SAT_NONE
        sty     chk_thr
        eor     #$ff
        sec
        adc     #RMS_FAST_MAX
        sta     rms_cnt                 ; 8 - s_g
        txa
        beq     @left
        bmi     @left
        cmp     #RMS_FAST_MAX + 1
        bcs     @right
        ldy     rms_cnt                 ; 1..8: threshold $80 >> (8 - s_g)
        lda     #RMS_SAT_NONE
@thr:   dey
        bmi     @entry
        lsr     a
        bne     @thr                    ; always
@entry: sta     chk_thr
        lda     rms_cnt                 ; entry = sh_end - RMS_SH_STEP * (8 - s_g)
        asl     a
        asl     a
        adc     rms_cnt                 ; C = 0: 4 * (8 - s_g) < 256
        .assert RMS_SH_STEP = 5, error, "rmsnorm: the entry offset is 5 * steps"
        sta     rms_cnt
        lda     #<sh_end
        sec
        sbc     rms_cnt
        ldy     #>sh_end
        bcs     @set
        dey
        bcc     @set                    ; always
@left:  lda     #<sh_left               ; s_g <= 0: 8 - s_g steps left
        ldy     #>sh_left
        bne     @set                    ; always (code is not in page 0)
@right: sbc     #RMS_FAST_MAX           ; s_g > 8 (C = 1): s_g - 8 steps right
        sta     rms_cnt
        lda     #<sh_right
        ldy     #>sh_right
@set:   sta     sh_target
        sty     sh_target+1

squares:
        ; --- S = sum of xs^2, xs = asr(x, 4) (-2048..2047), one read per byte
        ;     of xs^2 from the matmul's squares tables (banked in): Y = xs low
        ;     byte, the page of index zero + xs patched from xs high byte
        lda     rms_x                   ; x hi at rms_x + X, x lo at rms_x - 1 + X
        sta     sq_xh
        lda     rms_x+1
        sta     sq_xh+1
        lda     rms_x
        sec
        sbc     #1
        sta     sq_xl
        lda     rms_x+1
        sbc     #0
        sta     sq_xl+1
        lda     #0
        sta     rms_s
        sta     rms_s+1
        sta     rms_s+2
        sta     rms_s+3
        ldx     #2 * EMBED_DIM - 1
sq_loop:                                ; X = 2i + 1
        lda     $ffff,x                 ; x hi
sq_xh = * - 2           ; operand, patched: rms_x
        sta     rms_u
        lsr     a                       ; xs high byte = x hi >> 4 (sign from the table)
        lsr     a
        lsr     a
        lsr     a
        tay
        lda     rms_sqpg,y
        sta     sq_t1 + 1
        clc
        adc     #>(mm_sq2 - mm_sq1)
        sta     sq_t2 + 1
        lda     rms_u                   ; xs low byte = x hi << 4 | x lo >> 4
        asl     a
        asl     a
        asl     a
        asl     a
        sta     rms_u
        lda     $ffff,x                 ; x lo
sq_xl = * - 2           ; operand, patched: rms_x - 1
        lsr     a
        lsr     a
        lsr     a
        lsr     a
        ora     rms_u
        tay
        clc                             ; S += xs^2 (byte 0: mm_sq0 repeats every 128)
        lda     mm_sq0,y
        adc     rms_s
        sta     rms_s
        lda     mm_sq1,y
sq_t1 = * - 2           ; operand, high byte patched: the page of xs^2 byte 1
        adc     rms_s+1
        sta     rms_s+1
        lda     mm_sq2,y
sq_t2 = * - 2           ; operand, high byte patched: the page of xs^2 byte 2
        adc     rms_s+2
        sta     rms_s+2
        bcc     :+
        inc     rms_s+3                 ; S < 2^28: no carry out
:       dex
        dex
        bpl     sq_loop

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
@patch: asl     rms_inv                 ; a = 2 * inv (<= 65534): u = bytes 2..3 of |x| * a
        rol     rms_inv+1
        lda     rms_inv                 ; multiplicands a lo / a hi
        QS_SET  mu_00, mu_01
        lda     rms_inv+1
        QS_SET  mu_10, mu_11

        ; --- y[i] = sat16(asr(asr(x[i] * inv, 15) * g[i], s_g)), i = 0..ED-1, in
        ;     sign and magnitude: |u| = floor(|x| * a / 2^16), + 1 for x < 0 when
        ;     the remainder is not 0 (asr rounds down); M = |u| * |g|. For a
        ;     positive product y = sat(M >> s_g), for a negative one
        ;     y = ~sat((M - 1) >> s_g) (floor(-M / 2^s) = ~floor((M - 1) / 2^s));
        ;     sat clamps to 32767 (~32767 = -32768). M - 1 comes from the first
        ;     product (QS_MULC with C = 0); M = 0 there gives $ffffff: y = 0.
        lda     #0
        sta     rms_i
        sta     rms_gi
elem:   ldy     rms_i
        lda     (rms_x),y
        tax                             ; X = x lo
        iny
        lda     (rms_x),y               ; x hi
        bpl     xpos
        sta     rms_xh                  ; |x| = -x (-32768 -> $8000 unsigned)
        txa
        eor     #$ff
        clc
        adc     #1
        tax
        lda     rms_xh
        eor     #$ff
        adc     #0
        ldy     #$ff
        bne     xabs                   ; always
xpos:   ldy     #0
xabs:   sty     rms_ng                  ; $ff: x < 0 (g's sign is added below)
        sta     rms_xh
        ; P = |x| * a = l0 + (h0 + l1) << 8 + h1 << 16 (products of |x| lo),
        ;     + (l2 + (h2 + l3) << 8) << 8 when |x| >= 256 (products of |x| hi)
        QS_MUL  mu_00, rms_p0           ; l0, A = h0
        sta     rms_p1
        QS_MUL  mu_10, rms_w            ; l1, A = h1 (<= 254)
        ldx     rms_xh
        bne     wide
        tay                             ; P2 = h1 + carry (<= 255), P3 = 0
        clc
        lda     rms_p1
        adc     rms_w
        sta     rms_p1
        tya
        adc     #0
        sta     rms_ul
        stx     rms_uh
        jmp     ceil
wide:   sta     rms_w+1                 ; h1
        QS_MUL  mu_01, rms_w+2          ; l2, A = h2
        sta     rms_w+3
        QS_MUL  mu_11, rms_w+4          ; l3, A = h3
        sta     rms_uh                  ; P3 (< $80: P < 2^31)
        clc
        lda     rms_p1                  ; P1 = h0 + l1 + l2
        adc     rms_w
        sta     rms_p1
        lda     rms_w+1                 ; P2 = h1 + h2 + l3 + carries
        adc     rms_w+3
        tay
        bcc     wide1
        inc     rms_uh
        clc
wide1:  lda     rms_p1
        adc     rms_w+2
        sta     rms_p1
        tya
        adc     rms_w+4
        sta     rms_ul
        bcc     ceil
        inc     rms_uh
ceil:   bit     rms_ng                  ; x < 0 and P mod 2^16 <> 0: |u| += 1
        bpl     gain
        lda     rms_p0
        ora     rms_p1
        beq     gain
        inc     rms_ul
        bne     gain
        inc     rms_uh
gain:   ldy     rms_gi
        lda     (rms_g),y
        bpl     gpos
        eor     #$ff                    ; |g| (-128 -> $80 = 128 unsigned)
        clc
        adc     #1
        tax
        lda     rms_ng
        eor     #$ff
        sta     rms_ng
        txa
gpos:   ldx     rms_uh
        beq     g_one
        QS_SET  mg_0, mg_1
        jmp     g_two
g_one:  QS_SET  mg_0
g_two:  lda     #$7f                    ; C = 1: positive product, M; C = 0: M - 1
        cmp     rms_ng
        ldx     rms_ul
        QS_MULC mg_0, rms_m0            ; |u| lo * |g| (- 1)
        sta     rms_m1
        lda     #0                      ; borrow out (it was 0 - 1): m2 = $ff
        sbc     #0
        sta     rms_m2
        ldx     rms_uh
        beq     check
        QS_MUL  mg_1, rms_w             ; |u| hi * |g| (<= 127 * 128)
        tay
        clc
        lda     rms_m1
        adc     rms_w
        sta     rms_m1
        tya
        adc     rms_m2
        sta     rms_m2
check:  lda     rms_m2                  ; byte 2 >= threshold (patched): saturate
chk_t2: cmp     #RMS_SAT_NONE           ; (or M' = -1: y = 0)
chk_thr = * - 1                         ; operand, patched: the saturation threshold
        bcs     sat
        lda     rms_m0
sh_op:  jmp     sh_end
sh_target = * - 2                       ; operand, patched: sh_end - RMS_SH_STEP * L, or a loop
sat:    lda     rms_m2
        bmi     zero                    ; M' = -1: the product was 0
clamp:  lda     #$ff
        sta     rms_m1
        lda     #$7f
        sta     rms_m2
        bne     sh_end                  ; always
zero:   lda     #0
        sta     rms_m1
        sta     rms_m2
        sta     rms_ng
        beq     sh_end                  ; always
sh_left:                                ; s <= 0: bytes 1..2 of M' << (8 - s), filled
        sta     rms_m0                  ; with ones when negative: ~(M' << -s | ones)
        ldx     rms_cnt                 ; = -(M << -s)
:       lda     rms_ng
        asl     a
        rol     rms_m0
        rol     rms_m1
        rol     rms_m2
        bcs     clamp                   ; overflow: M' >= 2^(15 + s)
        dex
        bne     :-
        bit     rms_m2
        bmi     clamp
        bpl     sh_end                  ; always
sh_right:                               ; s > 8: bytes 1..2 of M' >> (s - 8)
        ldx     rms_cnt
:       lsr     rms_m2
        ror     rms_m1
        dex
        bne     :-
        beq     sh_end                  ; always
sh_top:                                 ; 1 <= s <= 8: bytes 1..2 of M' << (8 - s)
        .repeat ::RMS_FAST_MAX
        asl     a
        rol     rms_m1
        rol     rms_m2
        .endrepeat
sh_end: ldy     rms_i                   ; y = R or ~R
        lda     rms_m1
        eor     rms_ng
        sta     (rms_y),y
        iny
        lda     rms_m2
        eor     rms_ng
        sta     (rms_y),y
        iny
        sty     rms_i
        inc     rms_gi
        cpy     #<(2 * EMBED_DIM)
        beq     finish
        jmp     elem
finish: rts
.assert sh_end - sh_top = RMS_FAST_MAX * RMS_SH_STEP, error, "rmsnorm: shift step size"
.endproc
