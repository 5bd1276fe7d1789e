; kernels.s - the small vector kernels of the forward step (bit-exact per
; shared/spec/numerics.md): embedding, argmax (the saturating residual add is
; in rmsnorm.s: it sums the squares for the RMSNorm that follows; the ReLU is
; fc2's sweep reading max(0, x), matmul.s mm_relu).
; Vectors are int16, little endian, interleaved (lo, hi), like rmsnorm.s and
; attention.s. Dimensions and shifts come from model.inc (generated).

.include "macros.inc"
.include "spec.inc"
.include "model.inc"

.import w_te, w_pe
.import mm_sq0, mm_sq1, mm_sq2, mm_sq_zero      ; the squares tables (matmul.s), banked in
.import res_bind, residual_add, rms_zeros
.importzp rms_s, res_h, res_y
.import logits_lo, logits_hi, vec_h    ; (engine.s)
.export embed, engine_argmax

.assert EMBED_DIM <= 127 && FF_DIM <= 127, error, "kernels: Y = 2*i indexes a vector"
; two int8 values shifted left by 8 - EMBED_MIN_SHIFT (23) still add up exactly in 32 bits
.assert 8 - EMBED_MIN_SHIFT + 7 < 31, error, "embed: deshifted sums must fit 32 bits"
.assert TE_SHIFT >= EMBED_MIN_SHIFT && TE_SHIFT <= EMBED_MAX_SHIFT, error, "embed: te shift out of range"
.assert PE_SHIFT >= EMBED_MIN_SHIFT && PE_SHIFT <= EMBED_MAX_SHIFT, error, "embed: pe shift out of range"

.segment "ZEROPAGE"
k_te:           .res 2          ; embed (32-bit path): te column
k_pe:           .res 2          ; embed (32-bit path): pe column
k_h:            .res 1          ; embed: high byte of the deshifted te value
k_h2:           .res 1          ; embed: high byte of the deshifted pe value
k_l:            .res 1          ; embed: low byte of te's, then of h

.segment "BSS"
k_a:            .res 4          ; embed: deshifted te value (32 bits)
k_b:            .res 4          ; embed: deshifted pe value
k_i:            .res 1          ; loop index
k_best:         .res 1          ; argmax: best id so far

.segment "CODE"

; DESHIFT s, dst: dst (4 bytes) := deshift(A, s) = A << (8 - s) if s <= 8,
; else asr(A, s - 8); A = int8 value, s = assembly-time shift.
; clobbers: A, C. cycles: ~23 + 24 per left step (dst absolute; 3 steps at s = 5)
.macro DESHIFT s, dst
        sta     dst
        cmp     #$80                    ; C = sign
        lda     #0
        bcc     :+
        lda     #$ff
:       sta     dst+1
        sta     dst+2
        sta     dst+3
        .if s <= 8
        .repeat 8 - s
        asl     dst
        rol     dst+1
        rol     dst+2
        rol     dst+3
        .endrepeat
        .elseif s >= 16
        sta     dst                     ; asr by >= 8 leaves the sign
        .else
        .repeat s - 8
        lda     dst+1
        asl
        ror     dst
        .endrepeat
        .endif
.endmacro

; DESHIFT16 s, hi: A := low byte, hi := high byte of deshift(A, s) for
; 0 <= s (A = int8 value, s = assembly-time shift): it fits 16 bits.
; clobbers: X, C. cycles: ~9 + 7 per left step (8 - s of them for s <= 8),
;   ~11 + 4 per right step (s - 8, at most 7) above
.macro DESHIFT16 s, hi
        .if s > 8
        .if s - 8 >= 7
        asl                             ; asr by >= 7 leaves the sign
        lda     #0
        adc     #$ff
        eor     #$ff
        .else
        .repeat s - 8
        cmp     #$80
        ror
        .endrepeat
        .endif
        .endif
        ldx     #0                      ; sign-extend
        cmp     #$80
        bcc     :+
        dex
:       stx     hi
        .if s < 8
        .repeat 8 - s
        asl
        rol     hi
        .endrepeat
        .endif
.endmacro

;  embed's direct sum of squares (no shifts, no patched page) where xs =
; asr(h, 4) is within -128..127: equal shifts s = EMB_SQ_SHIFT..8 (|h| <=
; 256 << (8 - s) <= 2048), or both deshifted values small enough
EMB_SQ_SHIFT    = 5
.if TE_SHIFT >= 1 && TE_SHIFT <= 8      ; |deshift(v, s)| <= these for int8 v
EMB_TE_MAX      = 128 << (8 - TE_SHIFT)
.else
EMB_TE_MAX      = (128 >> (TE_SHIFT - 8)) + 1
.endif
.if PE_SHIFT >= 1 && PE_SHIFT <= 8
EMB_PE_MAX      = 128 << (8 - PE_SHIFT)
.else
EMB_PE_MAX      = (128 >> (PE_SHIFT - 8)) + 1
.endif
EMB_H_SMALL     = TE_SHIFT >= 1 && PE_SHIFT >= 1 && EMB_TE_MAX + EMB_PE_MAX <= 2048
EMB_SQ_BASE1    = mm_sq1 + mm_sq_zero           ; byte 1 of n^2 at EMB_SQ_BASE1 + n

; EMB_SQ_ADD bias: rms_s += xs^2 for xs = X - bias, |xs| <= 128 (bias = 2^k,
; k <= 7, or 128): bytes 0 and 1 (byte 2 of xs^2 is 0 there); byte 0 from
; mm_sq0 (period 128 in n: X + (-bias mod 128) has the residue of xs).
; in: X ; out: C = 0 ; clobbers: A. cycles: 26-29 (+1 a page crossing)
.macro EMB_SQ_ADD bias
        .assert (bias) <= 128, error, "EMB_SQ_ADD: |xs| <= 128"
        clc
        lda     mm_sq0 + ((-(bias)) & 127),x
        adc     rms_s
        sta     rms_s
        lda     EMB_SQ_BASE1 - (bias),x
        adc     rms_s+1
        sta     rms_s+1
        bcc     :+
        inc     rms_s+2                 ; (ED * 128^2 < 2^24: no carry beyond)
        clc
:
.endmacro
.assert EMBED_DIM * 128 * 128 < 1 << 24, error, "embed: the direct sum fits 3 bytes"

; embed: h[i] = sat16(deshift(te[tok][i], TE_SHIFT) + deshift(pe[pos][i], PE_SHIFT)),
; and the sum of squares of h for the first RMSNorm (rmsnorm_s), as residual_add
; leaves it. te is stored as the output layer's weights are (gen/weights.py:
; column-major, +128; a tied soul's w_te is out_w itself): te[tok][i] + 128 at
; w_te + i*VOCAB_SIZE + tok; pe column-major, pe[pos][i] at w_pe + i*CONTEXT + pos.
; in: A = token id (< VOCAB_SIZE), X = position (< CONTEXT); the squares
;   tables banked in
; out: h at vec_h (engine.s); rms_s = sum asr(h[i], 4)^2
; clobbers: A, X, Y, k_*, kb_zp (rms_*), the patched operands (te, pe)
; cycles: both shifts 1..127 (each deshifted value within +-16384: the sum
;   cannot saturate), by instruction count with the sum of squares: ~110 per
;   dimension for equal shifts 5..8 (5, 5: one biased sum, xs^2 read at
;   w >> (s - 4) without a patched page), ~155 at 7, 8 (|h| < 2048: xs is
;   one byte), ~200 for the other shifts (xs by four shift steps);
;   measured (`soul bench`, x64sc, PAL, screen on, ED=32) 3.9 k a token on
;   the original soul, 5.5 k on the default soul (6.2 k and 6.5 k with
;   RMS_SQ_ADD's shifts; 5.6 k and 4.6 k without the sum). Else (32-bit
;   sums, saturated) ~160 per dimension + each DESHIFT (~70 at shift 6),
;   then residual_add's ~110 per dimension for the sum of squares.
.proc embed
.if ::TE_SHIFT >= 1 && ::PE_SHIFT >= 1
        clc                             ; the te and pe columns' operands
        adc     #<w_te
        sta     em_te
        lda     #>w_te
        adc     #0
        sta     em_te+1
        txa
        clc
        adc     #<w_pe
        sta     em_pe
        lda     #>w_pe
        adc     #0
        sta     em_pe+1
        lda     #0
        sta     rms_s
        sta     rms_s+1
        sta     rms_s+2
        sta     rms_s+3
        ldy     #0                      ; Y = 2i
        clc
loop:                                   ; (C = 0: cleared, then from the cpy)
.if ::TE_SHIFT = ::PE_SHIFT && ::TE_SHIFT >= ::EMB_SQ_SHIFT && ::TE_SHIFT <= 8
        lda     $ffff                   ; equal shifts s = 5..8: from the biased sum
em_pe = * - 2           ; operand, patched: w_pe + i*CONTEXT + pos
        eor     #$80                    ; w = (te + 128) + (pe + 128) = 0..510,
        adc     $ffff                   ; h = (w - 256) << (8 - s) and
em_te = * - 2           ; operand, patched: w_te + i*VOCAB_SIZE + tok
        sta     k_l                     ; xs = asr(h, 4) = (w >> (s - 4)) - 2^(12 - s)
        ror     a                       ; (C = bit 8 of w)
        .repeat ::TE_SHIFT - ::EMB_SQ_SHIFT
        lsr     a
        .endrepeat
        tax                             ; X = w >> (s - 4): xs^2 at EMB_SQ_BASE + X
        lsr     a
        lsr     a
        lsr     a
        lsr     a
        sec                             ; h hi = (w >> s) - 2^(8 - s)
        sbc     #1 << (8 - ::TE_SHIFT)
        sta     vec_h+1,y
        lda     k_l                     ; h lo = w << (8 - s)
        .repeat 8 - ::TE_SHIFT
        asl     a
        .endrepeat
        sta     vec_h,y
        EMB_SQ_ADD (1 << (12 - ::TE_SHIFT))
.else
.if ::TE_SHIFT = ::PE_SHIFT && ::TE_SHIFT <= 8
        lda     $ffff                   ; equal shifts: h = (te + pe) << (8 - s),
em_pe = * - 2           ; operand, patched: w_pe + i*CONTEXT + pos
        eor     #$80                    ; from the biased sum w = (te + 128) +
        adc     $ffff                   ; (pe + 128) = 0..510: h = (w - 256) << (8 - s)
em_te = * - 2           ; operand, patched: w_te + i*VOCAB_SIZE + tok
        tax                             ; (C = bit 8 of w)
        lda     #$ff
        adc     #0
        sta     k_h
        txa
        .repeat 8 - ::TE_SHIFT
        asl     a
        rol     k_h
        .endrepeat
        sta     vec_h,y
        sta     k_l
        lda     k_h
.else
        lda     $ffff                   ; te[tok][i] + 128
em_te = * - 2           ; operand, patched: w_te + i*VOCAB_SIZE + tok
        eor     #$80
        DESHIFT16 ::TE_SHIFT, k_h
        sta     k_l
        lda     $ffff                   ; pe[pos][i]
em_pe = * - 2           ; operand, patched: w_pe + i*CONTEXT + pos
        DESHIFT16 ::PE_SHIFT, k_h2
        clc                             ; h = the sum (no overflow, see above)
        adc     k_l
        sta     vec_h,y
        sta     k_l
        lda     k_h2
        adc     k_h
.endif
        sta     vec_h+1,y
.if ::EMB_H_SMALL
        asl     a                       ; |h| < 2048: xs = asr(h, 4) is the byte
        asl     a                       ; (h hi << 4) | (h lo >> 4), at
        asl     a                       ; EMB_SQ_BASE + (xs + 128)
        asl     a
        sta     k_h
        lda     k_l
        lsr     a
        lsr     a
        lsr     a
        lsr     a
        ora     k_h
        eor     #$80
        tax
        EMB_SQ_ADD 128
.else
        RMS_SQ_ADD k_l, em_t1, em_t2    ; S += xs^2, xs = asr(h, 4) (as residual_add)
        bcc     :+
        inc     rms_s+3
        clc
:
.endif
.endif
        lda     em_te                   ; the next columns (C = 0)
        adc     #<VOCAB_SIZE
        sta     em_te
        bcc     :+
        inc     em_te+1
        clc
:       lda     em_pe
        adc     #<CONTEXT
        sta     em_pe
        bcc     :+
        inc     em_pe+1
:       iny
        iny
        cpy     #2 * EMBED_DIM
.if * + 2 - loop <= 128
        bne     loop
.else
        beq     done
        jmp     loop
.endif
done:   rts
.else
        clc                             ; k_te := w_te + tok (column 0)
        adc     #<w_te
        sta     k_te
        lda     #>w_te
        adc     #0
        sta     k_te+1
        txa                             ; k_pe := w_pe + pos (column 0)
        clc
        adc     #<w_pe
        sta     k_pe
        lda     #>w_pe
        adc     #0
        sta     k_pe+1
        lda     #0
        sta     k_i
loop:
        ldy     #0
        lda     (k_te),y
        eor     #$80                    ; unbias: te[tok][i]
        DESHIFT ::TE_SHIFT, k_a
        lda     (k_pe),y                ; (Y = 0: DESHIFT keeps it)
        DESHIFT ::PE_SHIFT, k_b
        ADD16_8 k_te, #VOCAB_SIZE       ; the next column
        ADD16_8 k_pe, #CONTEXT
        clc                             ; k_a += k_b (32 bits)
        lda     k_a
        adc     k_b
        sta     k_a
        lda     k_a+1
        adc     k_b+1
        sta     k_a+1
        lda     k_a+2
        adc     k_b+2
        sta     k_a+2
        lda     k_a+3
        adc     k_b+3
        sta     k_a+3
        ; sat16: bytes 2 and 3 must both equal the sign of byte 1
        lda     k_a+1
        asl                             ; C = bit 15
        lda     #0
        adc     #$ff
        eor     #$ff                    ; $ff / $00 expected above
        cmp     k_a+2
        bne     sat
        cmp     k_a+3
        beq     store
sat:    lda     k_a+3                   ; the sum's sign: negative -> $8000, else $7fff
        bmi     :+
        lda     #$ff
        sta     k_a
        lda     #$7f
        sta     k_a+1
        bne     store
:       lda     #$00
        sta     k_a
        lda     #$80
        sta     k_a+1
store:  lda     k_i
        asl
        tay
        lda     k_a
        sta     vec_h,y
        lda     k_a+1
        sta     vec_h+1,y
        inc     k_i
        lda     k_i
        cmp     #EMBED_DIM
        beq     done
        jmp     loop
done:   LDPTR   res_h, vec_h            ; the sum of squares: h + zeros
        LDPTR   res_y, rms_zeros
        jsr     res_bind
        jmp     residual_add
.endif
.endproc

; engine_argmax: A := argmax of logits_lo/hi over all ids except PAD (0) and
; UNK (2); the first maximum wins (soulplayer.chat.choose_next).
; in: logits_lo/hi (VOCAB_SIZE signed int16). out: A = id. clobbers: A, X, Y
; cycles: ~25 per id (~3.3k for 128)
.proc engine_argmax
        .assert TOKEN_PAD = 0 && TOKEN_SEP = 1, error, "argmax: the scan starts after PAD, at SEP"
        ldx     #TOKEN_SEP
        stx     k_best
        ldx     #TOKEN_SEP + 1
next:   cpx     #TOKEN_UNK
        beq     skip
        ; logits[x] > logits[best]? (signed: compare with the sign bits flipped)
        ldy     k_best
        lda     logits_hi,x
        eor     #$80
        sta     k_i
        lda     logits_hi,y
        eor     #$80
        cmp     k_i
        bcc     better                  ; hi(best) < hi(x)
        bne     skip                    ; hi(best) > hi(x)
        lda     logits_lo,y
        cmp     logits_lo,x
        bcs     skip                    ; lo(best) >= lo(x): keep the first
better: stx     k_best
skip:   inx
        cpx     #VOCAB_SIZE
        bne     next
        lda     k_best
        rts
.endproc
