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
;   rms_y (zp word)  -> y: EMBED_DIM int16 out, same layout (may equal rms_x);
;                       jsr rms_bind binds both (they stay bound), then
;   rms_g (zp word)  -> g: EMBED_DIM int8 gains
;   rms_s = sum xs[i]^2 (residual_add, here, and embed, kernels.s, leave it
;   there for the vector they write; for any other x, residual_add with
;   y = rms_zeros computes it), A = s_g (signed byte, RMS_SHIFT_MIN..
;   RMS_SHIFT_MAX), then jsr rmsnorm_s.
; The dimension EMBED_DIM comes from model.inc (or ca65 -D EMBED_DIM=..).
; A power of two uses a shift for the mean; any other size a 32/8 division.
; The matmul's squares tables (n^2, n = -2048..2047) must be banked in: the
; sum of squares, the square root and the gain product read them.

.include "macros.inc"
.include "spec.inc"
.include "kernels_b.inc"

.importzp kb_zp
.import qs_sq1_lo, qs_sq1_hi, qs_sq2_lo, qs_sq2_hi
.import mm_sq0, mm_sq1, mm_sq2, mm_sq_zero      ; squares tables (matmul.s), banked in
.exportzp rms_x, rms_g, rms_y, rms_m, rms_q, rms_s, res_h, res_y
.export rmsnorm_s, rms_bind, rms_isqrt, res_bind, residual_add, rms_zeros

.ifndef EMBED_DIM
        .include "model.inc"            ; the engine build; tests pass -D EMBED_DIM
.endif
; |u| = |asr(x * inv, 15)| <= 1886 for every int16 x when EMBED_DIM <= 48 (the
; largest element alone is the worst case: any other element only raises r;
; tests/test_vice_rmsnorm.py checks it over all x), so u + g and u - g stay in
; the squares tables' -2048..2047 and |u * g| * 4 < 2^20.
RMS_MAX_DIM     = 48
.assert 2 * RMS_MAX_DIM <= 128, error, "rmsnorm: RMS_ZEROS holds 128 zero bytes"
.assert EMBED_DIM >= 1 && EMBED_DIM <= RMS_MAX_DIM, error, "rmsnorm: EMBED_DIM must be 1..48 (|u| + |g| < 2048)"
; index n at mm_sq1 + mm_sq_zero + n; the square phase computes that index as
; (x + 32768) >> 4 and the page of mm_sq2 from mm_sq1's by eor (4 KB aligned)
.assert mm_sq_zero = 2048 && mm_sq2 - mm_sq1 = 4096, lderror, "rmsnorm: squares tables range"
.assert <mm_sq0 = 0 && (mm_sq1 & $0fff) = 0 && (mm_sq2 & $0fff) = 0, lderror, "rmsnorm: squares tables page layout"
RMS_1TO2        = >mm_sq1 ^ >mm_sq2     ; mm_sq1's page -> mm_sq2's (eor keeps C)
RMS_SQ_PAGE     = >(mm_sq1 + mm_sq_zero)        ; page of n = 0 in mm_sq1
; byte 2 of n^2 is 0 for |n| < 256: 2 * EMBED_DIM zeros from n = -128 (the
; int16 vector y = rms_zeros that residual_add adds to x for a plain sum of
; squares; embed's 32-bit path sums its squares with it)
rms_zeros       = mm_sq2 + mm_sq_zero - 128

; RMS_IN_SHIFT (xs = asr(x, 4): |xs| <= 2048), RMS_ONE_LOG2, RMS_INV_MAX,
; RMS_OUT_SHIFT come from spec.inc
.assert RMS_IN_SHIFT = 4, error, "rmsnorm: the square phase takes xs = (x + 32768) >> 4 - 2048"
.assert RMS_OUT_SHIFT = 15, error, "rmsnorm: u = bytes 2..3 of x * (2 * inv)"
RMS_R_SAT       = (1 << RMS_ONE_LOG2) / (RMS_INV_MAX + 1)  ; r <= this: 2^19 / r > RMS_INV_MAX
.assert (1 << RMS_ONE_LOG2) / (RMS_R_SAT + 1) <= RMS_INV_MAX, error, "rmsnorm: inv clamp edge"
.assert RMS_INV_MAX = 32767, error, "rmsnorm: a = 2 * inv fits 16 bits"
RMS_SHIFT_MIN   = GAIN_MIN_SHIFT        ; supported s_g (spec.inc; asr by a negative
RMS_SHIFT_MAX   = GAIN_MAX_SHIFT        ; count shifts left)
.assert RMS_SHIFT_MIN >= -128 && RMS_SHIFT_MAX <= 127, error, "rmsnorm: s_g is a signed byte"
RMS_XS_MAX      = 32768 >> RMS_IN_SHIFT  ; |xs| <= 2048
RMS_ISQRT_TOP   = (RMS_XS_MAX * RMS_XS_MAX) >> 16       ; byte 2 of 2^22, the largest ms (xs = -2048 everywhere)
; y = asr(D, s_g + 2), D = 4 u g: bytes 1..2 of D << k, k = 6 - s_g. k = 0..3
; (s_g = 3..6) unrolled, where y cannot saturate (|D| < 2^20); k >= 4 a loop
; that checks for overflow, k < 0 a right-shift loop.
RMS_FAST_K      = 3
RMS_SH_STEP     = 5             ; bytes of one unrolled step (asl zp, rol zp, rol a)
; k = 1..3 with EMBED_DIM <= RMS_DOUBLE_MAX_DIM: the gain product takes 2g
; (D' = 2D, one step fewer): |u| + 256 < 2048 there (tests/test_vice_rmsnorm.py
; test_u_bound), and |D'| << 2 < 2^23 still cannot saturate.
RMS_DOUBLE_MAX_DIM = 42
RMS_OP_CLC      = $18           ; the gain as it is
RMS_OP_ASL_A    = $0a           ; the gain doubled

; log2(EMBED_DIM) when it is a power of two, else -1
RMS_LOG2 .set -1
.repeat 8, I
        .if (1 << I) = EMBED_DIM
RMS_LOG2 .set I
        .endif
.endrepeat

; zero page: the kernels' shared scratch block kb_zp (divide.s), also used
; by attention.s: rmsnorm's pointers must be set right before each call.
; The element loop's bytes reuse those of the sum and the square root.
rms_x   = kb_zp + 0             ; word
rms_g   = kb_zp + 2             ; word
rms_y   = kb_zp + 4             ; word
rms_s   = kb_zp + 6             ; 4: sum of squares (29 bits), then ms (bytes 1..3)
rms_m   = rms_s + 1             ; rms_isqrt input (24 bits)
rms_q   = kb_zp + 10            ; 2: rms_isqrt root
rms_sqp = kb_zp + 12            ; 2: rms_isqrt: pointer to a page of mm_sq1
rms_sqq = kb_zp + 14            ; 2: the same page of mm_sq2
rms_bit = kb_zp + 16            ; rms_isqrt: the trial bit
rms_u   = kb_zp + 17            ; square phase: index low byte
rms_xh  = kb_zp + 6             ; element loop: x high byte
rms_p1  = kb_zp + 7             ; byte 1 of P = x * a (for its carry)
rms_p2  = kb_zp + 8             ; byte 2 of P
rms_w   = kb_zp + 9             ; 3: partial products
rms_ul  = kb_zp + 12            ; u = asr(x * inv, 15), 16 bits
rms_uh  = kb_zp + 13
rms_gv  = kb_zp + 15            ; |g| (0..128)
rms_d0  = kb_zp + 16            ; D = 4 u g, 24 bits, then shifted: y = bytes 1..2
rms_d1  = kb_zp + 17
rms_d2  = kb_zp + 18
rms_i   = kb_zp + 19            ; 2*i
rms_inv = kb_zp + 21            ; 2: inv, then a = 2 * inv
rms_cnt = kb_zp + 23            ; shift steps of the shift loops
rms_g9  = kb_zp + 24            ; g < 0, doubled: bit 8 of 2|g|
res_h   = rms_x                 ; residual_add: h (in/out), the next rmsnorm's x
res_y   = rms_q                 ; residual_add: y (word)
.assert rms_g9 < kb_zp + KB_ZP_SIZE, error, "rmsnorm: zero page scratch overflow"

; the s_g whose elements with x hi = 0 or -1 take a quarter-square gain
; product (y = asr(u g, 6) = bytes 1..2 of (u * 2g) << 1; see qs_gain)
RMS_QS_SG       = 6

; T[k - 1] = k * a, k = 1..RMS_T_LEN (24 bits, bytes in rms_t0/1/2): the
; products of a small x hi (1..4 added, -4..-2 subtracted), made once per
; call when inv is not clamped
RMS_T_LEN       = 4
.segment "BSS"
rms_t0:         .res RMS_T_LEN
rms_t1:         .res RMS_T_LEN
rms_t2:         .res RMS_T_LEN

.segment "CODE"

; residual_add: h[i] = sat16(h[i] + y[i]), i = 0..EMBED_DIM-1, and the sum of
; squares of the new h for the RMSNorm that follows (rmsnorm_s).
; in: h and y bound (res_bind), res_h -> h (a saturating element stores
;   through it); the squares tables banked in
; out: h; rms_s = sum asr(h[i], 4)^2 (rmsnorm_s's input, with x = h)
; clobbers: A, X, Y, kb_zp (rms_*)
; cycles (by instruction count): ~30, then per element ~99 for 0 <= xs <
;   256 (xs = asr(h, 4): two bytes of xs^2 from the page of 0), ~112 for
;   -256 < xs < 0 (read at -xs), ~145 beyond (the page patched, three
;   bytes); `soul bench` (x64sc, PAL, screen on, ED=32, original soul) 3.7 k
;   a call with the engine's glue up to the next norm (4.2 k before the
;   two-byte squares, 1.5 k without the sum)
.proc residual_add
        lda     #0
        sta     rms_s
        sta     rms_s+1
        sta     rms_s+2
        sta     rms_s+3
        ldy     #2 * EMBED_DIM - 2      ; Y = 2i, down
        clc
loop:   lda     $ffff,y                 ; (C = 0 at each element)
ra_hl = * - 2           ; operand, patched: h
        adc     $ffff,y
ra_yl = * - 2           ; operand, patched: y
        sta     $ffff,y
ra_hls = * - 2          ; operand, patched: h
        sta     rms_u
        lda     $ffff,y
ra_hh = * - 2           ; operand, patched: h + 1
        adc     $ffff,y
ra_yh = * - 2           ; operand, patched: y + 1
        bvs     ovf
store:  sta     $ffff,y
ra_hhs = * - 2          ; operand, patched: h + 1
        .repeat 4                       ; S += xs^2, xs = asr(h, 4) = (A:rms_u)
        lsr     a                       ; >> 4: A = h hi >> 4, rms_u = xs's low
        ror     rms_u                   ; byte, the squares tables' index
        .endrepeat
        ldx     rms_u
        cmp     #1
        bcc     fast                    ; 0 <= xs < 256: at X in the page of 0
        cmp     #$0f
        bne     big
        txa                             ; -256 <= xs < 0: xs^2 = (256 - X)^2
        eor     #$ff
        tax
        inx
        beq     big                     ; (xs = -256: 65536; X = 0 again)
fast:   clc                             ; |xs| < 256: bytes 0 and 1 (byte 2 is 0)
        lda     mm_sq0,x
        adc     rms_s
        sta     rms_s
        lda     mm_sq1 + mm_sq_zero,x
        adc     rms_s+1
        sta     rms_s+1
        bcc     next
carry:  inc     rms_s+2
        bne     nextc
        inc     rms_s+3                 ; S <= 2^28: no carry out
nextc:  clc
next:   dey                             ; (C = 0)
        dey
        bpl     loop
        rts
big:    and     #$0f                    ; |xs| >= 256: the page of xs =
        eor     #$08                    ; (h + 32768) >> 12 into the operands
        ora     #>mm_sq1
        sta     ra_t1
        eor     #>mm_sq1 ^ >mm_sq2
        sta     ra_t2
        clc
        lda     mm_sq2,x
ra_t2 = * - 1           ; operand high byte, patched: the page of xs^2 byte 2
        adc     rms_s+2
        sta     rms_s+2
        bcc     :+
        inc     rms_s+3
:       clc
        lda     mm_sq0,x
        adc     rms_s
        sta     rms_s
        lda     mm_sq1,x
ra_t1 = * - 1           ; operand high byte, patched: the page of xs^2 byte 1
        adc     rms_s+1
        sta     rms_s+1
        bcc     next
        bcs     carry                   ; (always)
ovf:    lda     #$7f                    ; signed overflow: C = the sum's sign
        adc     #0                      ; $7fff or $8000
        tax
        eor     #$80
        sta     rms_u
        sta     (res_h),y               ; low byte
        txa
        jmp     store
.endproc
.assert 2 * EMBED_DIM - 2 < 128, error, "residual_add: Y counts down to bpl"

; res_bind: bind residual_add to its vectors h (res_h) and y (res_y) (its
; patched operands); they stay bound until the next res_bind.
; in: res_h, res_y -> int16 vectors (not the same) ; out: - ; clobbers: A
; cycles: 63
.proc res_bind
        lda     res_h                   ; the vectors' addresses into the operands
        sta     residual_add::ra_hl
        sta     residual_add::ra_hls
        clc
        adc     #1
        sta     residual_add::ra_hh
        sta     residual_add::ra_hhs
        lda     res_h+1
        sta     residual_add::ra_hl+1
        sta     residual_add::ra_hls+1
        adc     #0
        sta     residual_add::ra_hh+1
        sta     residual_add::ra_hhs+1
        lda     res_y
        sta     residual_add::ra_yl
        clc
        adc     #1
        sta     residual_add::ra_yh
        lda     res_y+1
        sta     residual_add::ra_yl+1
        adc     #0
        sta     residual_add::ra_yh+1
        rts
.endproc

; rms_isqrt: exact floor square root, by binary search in the squares tables
; (11 trial bits c: c^2 <= n ? q = c).
; in: rms_m (3 bytes, little endian) = n <= 2^22; the squares tables banked in
; out: rms_q (2 bytes) = floor(sqrt(n)) (<= 2048); rms_m kept
; clobbers: A, X, Y, rms_sqp, rms_sqq, rms_bit
; cycles (by instruction count): ~400 for n >= 2^16 (the 3 high bits read
;   mm_sq0, 8 low bits ~40 each); below, low bits whose square exceeds n are
;   skipped: ~250 for 2^8 <= n < 2^10, ~190 below 2^8
.proc rms_isqrt
        ldy     #0
        sty     rms_q
        sty     rms_q+1
        sty     rms_sqp
        sty     rms_sqq
        lda     rms_m+2
        cmp     #RMS_ISQRT_TOP
        bcc     high
        lda     #>RMS_XS_MAX            ; n = 2^22: 2048 (beyond the tables)
        sta     rms_q+1
        rts
high:   tax                             ; n < 2^16: q hi = 0
        beq     low
        lda     #4                      ; bits 10..8: c = (q hi | bit) << 8,
hbit:   sta     rms_bit                 ; c^2 = (c hi)^2 << 16 (<= 49: mm_sq0 holds it)
        ora     rms_q+1
        tax
        lda     rms_m+2                 ; C = (n >= c^2)
        cmp     mm_sq0,x
        bcc     :+
        stx     rms_q+1
:       lda     rms_bit
        lsr     a
        bne     hbit
low:    lda     rms_q+1                 ; bits 7..0: the page stays
        clc
        adc     #RMS_SQ_PAGE
        sta     rms_sqp+1
        eor     #RMS_1TO2
        sta     rms_sqq+1
        lda     #$80
        ldx     rms_m+2
        bne     lbit
        ldx     rms_m+1                 ; n < 2^16 (q = 0 so far): skip the bits
        cpx     #>($80 * $80)           ; whose square exceeds n
        bcs     lbit
        lsr     a
        cpx     #>($40 * $40)
        bcs     lbit
        lsr     a
        cpx     #>($20 * $20)
        bcs     lbit
        lsr     a
        cpx     #>($10 * $10)
        bcs     lbit
        lsr     a                       ; n < 256: from bit 3
lbit:   sta     rms_bit
        ora     rms_q
        tay                             ; c lo
        lda     rms_m                   ; C = (n >= c^2)
        cmp     mm_sq0,y
        lda     rms_m+1
        sbc     (rms_sqp),y
        lda     rms_m+2
        sbc     (rms_sqq),y
        bcc     :+
        sty     rms_q
:       lda     rms_bit
        lsr     a
        bne     lbit
        rts
.endproc

; rmsnorm_s: y = RMSNorm(x) with gain g and shift s_g (see top of file).
; in: x and y bound (rms_bind), rms_g (zp pointer), rms_s = the sum of
;   squares of x, A = s_g (RMS_SHIFT_MIN..RMS_SHIFT_MAX)
; out: y[0..EMBED_DIM) written
; clobbers: A, X, Y, kb_zp (rms_*), the patched operands
; cycles (ED=32, x64sc, PAL, screen on): `soul bench` 8.2 k a call on the
;   original soul (41.1 k a token for 5 calls, with the engine's glue up to
;   the next sweep; 43.0 k before the quarter-square gain), 6.8 k on the
;   default soul (34.0 k; 34.4 k), whose calls mostly have a clamped inv.
;   By instruction count, per element: s_g = 6 (QS) ~168 for 0 <= x < 256,
;   ~187 for -256 <= x < 0; else ~199 and ~220; ~235 for other x hi -4..4,
;   ~320 beyond, ~150 with inv clamped, +12 per shift step left (s_g = 3, 4
;   with the doubled gain). Per call ~190..400 isqrt, ~260 the division for
;   r < 128 (~650 above), ~150 the x hi table, ~75 the mean
.proc rmsnorm_s
        ldx     #<(qs_gain - el_bz - 1) ; x hi = 0 and -1: for s_g = RMS_QS_SG
        ldy     #<(qs_gain - el_bn - 1) ; quarter squares, else the squares path
        cmp     #RMS_QS_SG
        beq     @sq
        ldx     #<(narrow - el_bz - 1)
        ldy     #<(narrow - el_bn - 1)
@sq:    stx     el_bz
        sty     el_bn
        ldx     rms_g                   ; the gains' address (A = s_g kept)
        stx     el_g
        ldx     rms_g+1
        stx     el_g+1
        ; --- plan the final shift: y = bytes 1..2 of D << k, k = 6 - s_g
        ;     (D = 4 u g). k = 0..3: the unrolled steps' entry; k >= 4: the
        ;     left loop (overflow checked); k < 0: the right loop. k = 1..3
        ;     take D' = 4 u (2g) and k - 1 steps when EMBED_DIM allows it.
        ldx     #RMS_OP_CLC             ; (X: the opcode of g_dbl, gn_dbl)
        sec
        sbc     #7                      ; s_g - 7
        bpl     @right
        eor     #$ff                    ; k = 6 - s_g >= 0
.if ::EMBED_DIM <= ::RMS_DOUBLE_MAX_DIM
        beq     @k                      ; k = 0
        cmp     #RMS_FAST_K + 1
        bcs     @k                      ; k >= 4: the left loop, g as it is
        ldx     #RMS_OP_ASL_A           ; 2g
        adc     #$ff                    ; k - 1 (C = 0)
@k:
.endif
        sta     rms_cnt
        cmp     #RMS_FAST_K + 1
        bcs     @left
        asl     a                       ; entry = sh_end - RMS_SH_STEP * k
        asl     a
        adc     rms_cnt                 ; C = 0: 5 * k < 256
        .assert RMS_SH_STEP = 5, error, "rmsnorm: the entry offset is 5 * steps"
        sta     rms_cnt
        lda     #<sh_end
        sec
        sbc     rms_cnt
        ldy     #>sh_end
        bcs     @set
        dey
        bcc     @set                    ; always
@left:  lda     #<sh_left               ; k >= 4 steps left
        ldy     #>sh_left
        bne     @set                    ; always (code is not in page 0)
@right: adc     #0                      ; C = 1: -k = s_g - 6 steps right
        sta     rms_cnt
        lda     #<sh_right
        ldy     #>sh_right
@set:   sta     sh_target
        sty     sh_target+1
        stx     g_dbl
        stx     gn_dbl
        ; --- ms = max(1, floordiv(S, EMBED_DIM)) (<= 2^22) at rms_m = bytes
        ;     1..3 of rms_s: S << (8 - log2 ED) for a power of two (S <= ED *
        ;     2^22: no bit leaves), else the quotient moved up a byte
.if ::RMS_LOG2 >= 0
        ldx     #8 - RMS_LOG2
@sh:    asl     rms_s
        rol     rms_s+1
        rol     rms_s+2
        rol     rms_s+3
        dex
        bne     @sh
.else
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
        .assert rms_m = rms_s + 1, error, "rmsnorm: ms is bytes 1..3 of S"
        lda     rms_s+2                 ; (ms < 2^24: byte 3 of the quotient is 0)
        sta     rms_s+3
        lda     rms_s+1
        sta     rms_s+2
        lda     rms_s
        sta     rms_s+1
.endif
        lda     rms_m
        ora     rms_m+1
        ora     rms_m+2
        bne     @ms_ok
        inc     rms_m                   ; ms = max(1, ...)
@ms_ok: jsr     rms_isqrt               ; r = isqrt(ms) >= 1

        ; --- inv = min(32767, 2^19 / r); a clamped inv takes the element
        ;     loop's short entry (u = x - 1 for x > 0, else x, see elemc)
        lda     rms_q+1
        bne     @divide
        lda     rms_q
        cmp     #RMS_R_SAT + 1
        bcs     @divide
        lda     #<elemc
        ldy     #>elemc
        jmp     @entry
@divide:                                ; 2^19 / r, r = 17..2048: the dividend's
        lda     #0                      ; bits 19..15 leave 16 (< r), 15 steps
        sta     rms_inv                 ; remain (the quotient < 2^15)
        sta     rms_inv+1
        sta     rms_w                   ; remainder R = rms_w:A (< 2r <= 4096)
        lda     #1 << (RMS_ONE_LOG2 - 15)
        .assert RMS_R_SAT = 16 && RMS_ONE_LOG2 = 19, error, "rmsnorm: the division skips 5 steps"
        ldx     #15
        ldy     rms_q+1
        bne     @dstep
        ldy     rms_q
        bmi     @dstep
        ldx     #1                      ; r < 128: R < 2r fits a byte; the
        stx     rms_inv+1               ; quotient's bits 14..7 shift into
        inx                             ; rms_inv+1 (a = 2 inv: a's high byte)
        stx     rms_inv                 ; until its bit 0 of 1 leaves, bits
@dbh:   asl     a                       ; 6..0 into rms_inv until its bit 1
        cmp     rms_q                   ; does (C = 0 at each step)
        bcc     :+
        sbc     rms_q                   ; C stays 1: the quotient bit
:       rol     rms_inv+1
        bcc     @dbh
@dbl:   asl     a
        cmp     rms_q
        bcc     :+
        sbc     rms_q
:       rol     rms_inv                 ; (a's low byte, shifted once more below)
        bcc     @dbl
        asl     rms_inv
        jmp     @a
@dstep: asl     a                       ; R = 2R
        rol     rms_w
        tay
        cmp     rms_q                   ; C = (R >= r)
        lda     rms_w
        sbc     rms_q+1
        bcc     @dbit
        sta     rms_w                   ; R -= r (C stays 1)
        tya
        sbc     rms_q
        tay
        sec                             ; the quotient bit
@dbit:  rol     rms_inv                 ; quotient bit C
        rol     rms_inv+1
        tya
        dex
        bne     @dstep
        asl     rms_inv                 ; a = 2 * inv (<= 61680): u = bytes 2..3 of x * a
        rol     rms_inv+1
@a:
        lda     rms_inv                 ; multiplicands a lo / a hi
        QS_SET  mh, mu_01
        lda     rms_inv+1
        QS_SET  mu_10, mu_11
        lda     rms_inv                 ; T[0] = a, T[k] = T[k - 1] + a
        sta     rms_t0
        lda     rms_inv+1
        sta     rms_t1
        ldx     #0
        stx     rms_t2
@t:     clc
        lda     rms_t0,x
        adc     rms_inv
        sta     rms_t0+1,x
        lda     rms_t1,x
        adc     rms_inv+1
        sta     rms_t1+1,x
        lda     rms_t2,x
        adc     #0
        sta     rms_t2+1,x
        inx
        cpx     #RMS_T_LEN - 1
        bne     @t
        lda     #<elem
        ldy     #>elem
@entry: sta     el_next
        sty     el_next+1
        ldx     #2 * EMBED_DIM - 2      ; X = 2i, from the last element down
        jmp     el_again

        ; --- (out of line) x hi other than 0 and -1 (Y = x hi + 1, rms_p1 = P1,
        ;     A = P2; P < 2^24): P += (x hi * a) << 8, from the table for
        ;     x hi = 1..4 (added) and -4..-2 (|x hi| * a subtracted)
wide:   sta     rms_p2
        dey                             ; Y = x hi
        bmi     @neg
        cpy     #RMS_T_LEN + 1
        bcs     wide2
        clc
        lda     rms_p1
        adc     rms_t0-1,y
        lda     rms_p2
        adc     rms_t1-1,y
        sta     rms_ul
        lda     rms_t2-1,y
        adc     #0
        sta     rms_uh
        jmp     gain
@neg:   cpy     #<-RMS_T_LEN
        bcc     wide2
        tya                             ; Y = -x hi - 1: T[Y] = |x hi| * a
        eor     #$ff
        tay
        sec
        lda     rms_p1
        sbc     rms_t0,y
        lda     rms_p2
        sbc     rms_t1,y
        sta     rms_ul
        lda     #0
        sbc     rms_t2,y
        sta     rms_uh
        jmp     gain
wide2:  sty     rms_xh                  ; else the products of x hi unsigned, and
                                        ; u -= a when x < 0 (x hi signed is x hi - 256)
        ldx     rms_xh
        QS_MUL  mu_01, rms_w            ; l2 = lo(x hi * a lo), A = h2
        sta     rms_w+1
        QS_MUL  mu_11, rms_w+2          ; l3 = lo(x hi * a hi), A = h3
        sta     rms_uh                  ; P3 (+ carries below; P < 2^32)
        clc
        lda     rms_p1                  ; the carry of P1 + l2
        adc     rms_w
        lda     rms_p2                  ; P2 + h2 + l3
        adc     rms_w+1
        bcc     @w1
        inc     rms_uh
        clc
@w1:    adc     rms_w+2
        sta     rms_ul
        bcc     @w2
        inc     rms_uh
@w2:    lda     rms_xh
        bpl     @w3
        sec                             ; x < 0: u -= a
        lda     rms_ul
        sbc     rms_inv
        sta     rms_ul
        lda     rms_uh
        sbc     rms_inv+1
        sta     rms_uh
@w3:    ldx     rms_i                   ; (gain takes i from X = 2i)
        jmp     gain

        ; --- s_g = RMS_QS_SG, x hi = 0 or -1 (rms_ul, rms_uh = Y = 0 or -1:
        ;     |u| <= |x| as inv < 2^15): y = asr(u g, 6) = bytes 1..2 of
        ;     P << 1, P = u * m, m = 2g patched into a quarter-square product
        ;     with u lo (g < 0 takes the squares path). X = 2i is kept.
.assert qs_gain - (el_bz + 1) >= -128 && narrow - (el_bz + 1) < 128, error, "rmsnorm: el_bz's targets in reach"
.assert qs_gain - (el_bn + 1) >= -128 && narrow - (el_bn + 1) < 128, error, "rmsnorm: el_bn's targets in reach"
qs_sh:  asl     rms_d0                  ; (A = byte 1, Y = byte 2) y = bytes
        rol     a                       ; 1..2 of P << 1
        sta     $ffff,x
elq_yl = * - 2          ; operand, patched: y (rms_bind)
        tya
        rol     a
        sta     $ffff,x
elq_yh = * - 2          ; operand, patched: y + 1
        dex
        dex
        stx     rms_i
        bpl     elem                    ; (QS: inv not clamped, the next is elem)
        rts
qs_gain:                                ; (the entry, A = u lo, Y = u hi)
        sta     rms_ul
        sty     rms_uh
        txa
        lsr     a
        tay
        lda     (rms_g),y               ; g
        asl     a                       ; m = 2g (0..254), C = g < 0
        bcs     gain
        QS_SET  gq
        ldy     rms_ul
        QS_MULY gq, rms_d0              ; A = byte 1 of u lo * m, C = 1
        ldy     rms_uh
        beq     qs_sh                   ; u hi = 0: P < 2^16, byte 2 = 0 = Y
        sbc     gq_a                    ; u hi = -1: P = u lo * m - m << 8 (gq_a
        bcc     qs_sh                   ; holds m): byte 1, and byte 2 = -1 = Y
        ldy     #0                      ; on a borrow, else 0
        beq     qs_sh                   ; (always)

        ; --- y[i] = sat16(asr(u * g, s_g)), u = asr(x[i] * inv, 15), for
        ;     i = ED-1..0 (X = 2i). u = bytes 2..3 of P = x * a (a = 2 * inv,
        ;     x's bytes unsigned; x < 0 subtracts a << 16). D = 4 u g =
        ;     (u + g)^2 - (u - g)^2 from the squares tables.
elem:   ldy     $ffff,x                 ; x lo
el_xl = * - 2           ; operand, patched: rms_x
        QS_MULY mu_10, rms_w            ; l1, A = h1 (<= 254), C = 1
        sta     rms_p2
        lda     qs_sq1_lo,y             ; h0 = byte 1 of x lo * a lo (byte 0
mh_a = * - 2            ; operand, patched (QS_SET): qs_sq1_lo + a lo
        sbc     qs_sq2_lo,y             ; only for its borrow; C = 1 here)
mh_na = * - 2           ; operand, patched: qs_sq2_lo + ~a lo
        lda     qs_sq1_hi,y
mh_ah = * - 2           ; operand, patched: qs_sq1_hi + a lo
        sbc     qs_sq2_hi,y
mh_nah = * - 2          ; operand, patched: qs_sq2_hi + ~a lo
        clc                             ; P1 = h0 + l1
        adc     rms_w
        sta     rms_p1
        lda     rms_p2                  ; A = P2 = h1 + carry (no carry out)
        adc     #0
        ldy     $ffff,x                 ; x hi
el_xh = * - 2           ; operand, patched: rms_x + 1
        beq     narrow                  ; (Y = u hi = 0)
el_bz = * - 1           ; operand, patched: narrow, or qs_gain (s_g = RMS_QS_SG)
        iny
        beq     xneg1
        jmp     wide                    ; (Y = x hi + 1)
xneg1:  ldy     rms_p1                  ; -256 <= x < 0 (A = P2): u = bytes 2..3
        cpy     rms_inv                 ; of P - a << 8, -256..-1 (|u| <= |x|):
        sbc     rms_inv+1               ; the subtraction always borrows, u hi = -1
        ldy     #$ff
        bcc     narrow                  ; (always)
el_bn = * - 1           ; operand, patched: narrow, or qs_gain (s_g = RMS_QS_SG)
narrow: sta     rms_ul                  ; 0 <= x < 256: u = P2
        sty     rms_uh
gain:   txa                             ; (X = 2i on every path here)
        lsr     a
        tay
        lda     $ffff,y                 ; g
el_g = * - 2            ; operand, patched: rms_g
        bmi     gneg
        clc                             ; Y, page: u + g (C = 0)
g_dbl = * - 1           ; opcode, patched: clc, or asl a for 2g (0..254)
        sta     rms_gv
        adc     rms_ul
        tay
        lda     rms_uh
        adc     #RMS_SQ_PAGE
        sta     dq_pa1
        eor     #RMS_1TO2
        sta     dq_pa2
        sec                             ; X, page: u - g
        lda     rms_ul
        sbc     rms_gv
        tax
        lda     rms_uh
        sbc     #<($100 - RMS_SQ_PAGE)
        sta     dq_pb1
        eor     #RMS_1TO2
        sta     dq_pb2
dq:     sec                             ; D = (u + g)^2 - (u - g)^2
        lda     mm_sq0,y
        sbc     mm_sq0,x
        sta     rms_d0
        lda     mm_sq1,y
dq_pa1 = * - 1          ; operand high byte, patched: the page of u + g
        sbc     mm_sq1,x
dq_pb1 = * - 1          ; operand high byte, patched: the page of u - g
        sta     rms_d1
        lda     mm_sq2,y
dq_pa2 = * - 1          ; operand high byte, patched: the page of u + g
        sbc     mm_sq2,x
dq_pb2 = * - 1          ; operand high byte, patched: the page of u - g
        jmp     sh_end                  ; A = byte 2 of D
sh_target = * - 2       ; operand, patched: sh_end - RMS_SH_STEP * k, or a loop
sh_top:                                 ; k = 1..3 (s_g = 5..3): D << k
        .repeat ::RMS_FAST_K
        asl     rms_d0
        rol     rms_d1
        rol     a
        .endrepeat
sh_end: ldx     rms_i                   ; y[i] = bytes 1..2 (A = byte 2)
        sta     $ffff,x
el_yh = * - 2           ; operand, patched: rms_y + 1
        lda     rms_d1
        sta     $ffff,x
el_yl = * - 2           ; operand, patched: rms_y
        dex
        dex
        bmi     finish                  ; (2 * EMBED_DIM - 2 < 128)
el_again:
        stx     rms_i
        jmp     elem
el_next = * - 2         ; operand, patched: elem, or elemc for inv = 32767
finish: rts

        ; --- (out of line) g < 0: u + |g| (= u - g) at X, u - |g| at Y
gneg:   eor     #$ff
        clc
        adc     #1                      ; |g| (-128 -> $80), C = 0
        clc
gn_dbl = * - 1          ; opcode, patched: clc, or asl a for 2|g| (C = bit 8)
        sta     rms_gv
        lda     #0
        rol     a
        sta     rms_g9
        clc
        lda     rms_ul
        adc     rms_gv
        tax
        lda     rms_uh
        adc     rms_g9                  ; (no carry out: |u| + 256 < 2048)
        clc
        adc     #RMS_SQ_PAGE
        sta     dq_pb1
        eor     #RMS_1TO2
        sta     dq_pb2
        sec
        lda     rms_ul
        sbc     rms_gv
        tay
        lda     rms_uh
        sbc     rms_g9
        clc
        adc     #RMS_SQ_PAGE
        sta     dq_pa1
        eor     #RMS_1TO2
        sta     dq_pa2
        jmp     dq
.assert sh_end - sh_top = RMS_FAST_K * RMS_SH_STEP, error, "rmsnorm: shift step size"

sh_left:                                ; k >= 4 (s_g <= 2): D << k, saturated
        sta     rms_d2
        ldx     rms_cnt
@l:     lda     rms_d2                  ; bits 23 and 22 differ: D << 1 overflows
        clc
        adc     #$40
        bmi     @sat
        asl     rms_d0
        rol     rms_d1
        rol     rms_d2
        dex
        bne     @l
        lda     rms_d2
        jmp     sh_end
@sat:   lda     rms_d2                  ; C = the sign: $7fff or $8000
        asl     a
        lda     #$7f
        adc     #0
        tax
        eor     #$80
        sta     rms_d1
        txa
        jmp     sh_end
sh_right:                               ; k < 0 (s_g >= 7): bytes 1..2 of D >> -k
        ldx     rms_cnt
@r:     cmp     #$80
        ror     a
        ror     rms_d1
        dex
        bne     @r
        jmp     sh_end

        ; --- (out of line) the element when inv = 32767: u = floor(x * 32767 /
        ;     32768) = x - 1 for x > 0, else x (x = -32768 never comes here:
        ;     its square alone makes r >= 295)
elemc:  lda     $ffff,x                 ; x hi
elc_xh = * - 2          ; operand, patched: rms_x + 1
        sta     rms_uh
        lda     $ffff,x                 ; x lo
elc_xl = * - 2          ; operand, patched: rms_x
        sta     rms_ul
        bit     rms_uh
        bmi     @u                      ; x < 0
        ora     rms_uh
        beq     @u                      ; x = 0
        lda     rms_ul
        bne     @dec
        dec     rms_uh
@dec:   dec     rms_ul
@u:     jmp     gain
.endproc

; rms_bind: bind rmsnorm_s to its vectors: x at rms_x, y at rms_y (the
; element loops' patched operands). They stay bound until the next rms_bind
; (engine_init binds vec_h -> vec_a: every norm of a step reads
; vec_h and writes vec_a).
; in: rms_x, rms_y ; out: - ; clobbers: A. cycles: 86
.proc rms_bind
        lda     rms_x
        sta     rmsnorm_s::el_xl
        sta     rmsnorm_s::elc_xl
        clc
        adc     #1
        sta     rmsnorm_s::el_xh
        sta     rmsnorm_s::elc_xh
        lda     rms_x+1
        sta     rmsnorm_s::el_xl+1
        sta     rmsnorm_s::elc_xl+1
        adc     #0
        sta     rmsnorm_s::el_xh+1
        sta     rmsnorm_s::elc_xh+1
        lda     rms_y
        sta     rmsnorm_s::el_yl
        sta     rmsnorm_s::elq_yl
        clc
        adc     #1
        sta     rmsnorm_s::el_yh
        sta     rmsnorm_s::elq_yh
        lda     rms_y+1
        sta     rmsnorm_s::el_yl+1
        sta     rmsnorm_s::elq_yl+1
        adc     #0
        sta     rmsnorm_s::el_yh+1
        sta     rmsnorm_s::elq_yh+1
        rts
.endproc
