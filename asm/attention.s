; attention.s - one attention head over the KV cache, bit-exact per
; shared/spec/numerics.md:
;
;   score[i] = sum_d q[d] * k[i][d]                 (exact, 35 bits)
;   sf[i]    = asr(score[i], 14);  m = max_i sf[i]
;   w[i]     = EXP[min(127, m - sf[i])];  W = sum_i w[i]   (>= 255)
;   out[d]   = sat16(floordiv(sum_i w[i] * v[i][d], W))
;
; How (all exact):
; - k is stored biased, k' = k + 32768 (high byte ^ $80), so every
;   product is unsigned. q is used as sign and magnitude, fixed per dimension:
;   score'[i] = sum_d q[d] * k'[i][d] = score[i] + 2^15 * sum_d q[d]. The extra
;   term is the same for every i and a multiple of 2^14, so m - sf[i] (all that
;   the weights depend on) is unchanged: score' is used instead of score.
; - The scores: squares slots (ATF_SLOT) for heads of at most 16 dimensions
;   and |q| <= 1792; else (the general path) each 16x16 product is four 8x8
;   quarter-square products (kernels_b.inc).
; - N = sum_i w[i] * v[i][d] (v stored as it is, v = 256 vh + vl, vh
;   signed): the sums start at 255 v[im] (mod 2^32; |N| < 2^30), im the
;   position of the highest score (w = EXP[0] = 255: 256 v - v, no
;   product), which the loop then skips. w = 0 adds nothing, w = 1 adds v;
;   other weights take L = w * vl (one quarter-square product), then by vh:
;   0, -1, 1, -2 (most values of trained souls) add L + 256 w vh with one
;   adc/sbc of w on the high byte, other vh a second product w * vh.
; - out = floordiv(N, W): when -256 * W <= N < 256 * W (|out| <= 256, most
;   outputs of trained souls) one unsigned 8-step division of N (or N + 256 W)
;   with the remainder N >> 8 < W; else floordiv(N', W) - 2^15 with
;   N' = N + 2^15 * W >= 0, 16 steps.
;   The 8-step path also takes -2048 <= out < 2048 (ATT_DIV_KMAX): R = N >> 8
;   first brought into 0..W-1 by a few subtractions of W (each adds 256 to
;   out) or additions (each -256). The quotient is a w-weighted mean of
;   int16 values, so it is always in int16 range: sat16 never changes it.
; - The weights read sf and m as 16 bits (m - sf in 0..$ffff): the fast
;   scores of heads up to 8 store sf + 2^15 (ATT_SF16); the general path
;   and wider heads narrow their 24-bit sf after the max.
;
; KV cache layout (this file owns it; segment KVCACHE), k's high bytes stored
; ^ $80, v as it is:
; - kv_k_lo, kv_k_hi: N_LAYERS * EMBED_DIM rows of CONTEXT bytes; row
;   (layer*ED + j) holds dimension j of every position (the scores run over
;   positions with X = i, one dimension at a time);
; - kv_v_lo, kv_v_hi: N_LAYERS * CONTEXT rows of EMBED_DIM bytes; row
;   (layer*CONTEXT + t) holds position t (the weighted sum runs over a head's
;   dimensions with X = d from row t + h*HEAD_DIM, one position at a time).
; attn_store_kv writes position t of a layer; attention_head reads head h of
; layer L as block L*N_HEADS + h.
;
; Interface (for engine_step):
;   attn_store_kv: kvs_k, kvs_v (zp words) -> k, v: EMBED_DIM int16 little
;       endian, interleaved; A = layer, X = position t.
;   attention_head: att_q (zp word) -> q of this head: HEAD_DIM int16 little
;       endian interleaved (q + 2*HEAD_DIM*h); att_out (zp word) -> HEAD_DIM
;       int16 out (same layout); A = block L*N_HEADS + h; X = t + 1 positions.
; Dimensions from model.inc (or ca65 -D for all of): EMBED_DIM, HEAD_DIM, N_HEADS,
; CONTEXT, N_LAYERS.

.include "macros.inc"
.include "spec.inc"
.include "kernels_b.inc"

.importzp kb_zp
.import qs_sq1_lo, qs_sq1_hi, qs_sq2_lo, qs_sq2_hi
.exportzp att_q, att_out, kvs_k, kvs_v
.export attention_head, attn_store_kv, attn_init
.import exp_table                       ; EXP (exp_table.s)
.import mm_sq0, mm_sq1, mm_sq2, mm_sq_zero      ; squares tables (matmul.s), banked in
.export kv_k_lo, kv_k_hi, kv_v_lo, kv_v_hi

.ifndef CONTEXT
        .include "model.inc"            ; the engine build; tests pass the dims with -D
.endif
.assert N_HEADS * HEAD_DIM = EMBED_DIM, error, "attention: N_HEADS * HEAD_DIM <> EMBED_DIM"
.assert CONTEXT >= 1 && CONTEXT <= 128, error, "attention: positions are indexed with bpl loops"
.assert N_LAYERS * N_HEADS <= 256, error, "attention: block numbers are bytes"
.assert EMBED_DIM <= 127, error, "attention: Y = 2*j + 1 over a k/v vector"
.assert 255 * CONTEXT < 32768, error, "attention: W < 2^15 (the division keeps 2R + 1 in 16 bits)"

ATT_SF_LSHIFT   = 16 - SCORE_SHIFT      ; sf = asr(score, SCORE_SHIFT) = bytes 2..4 of score << this
.assert ATT_SF_LSHIFT >= 1 && ATT_SF_LSHIFT <= 7, error, "attention: SCORE_SHIFT must be 9..15 (s1 shifts into s2; the k' bias 2^15 * sum q must be a multiple of 2^SCORE_SHIFT)"
ATT_EXP_LAST    = EXP_LAST
ATT_DIV_KMAX    = 8             ; the 8-step division takes -256 * KMAX <= out < 256 * KMAX
ATT_BLOCK       = HEAD_DIM * CONTEXT    ; bytes of one head in kv_k_lo/hi
ATT_LAYER       = EMBED_DIM * CONTEXT   ; bytes of one layer in each cache array
ATT_CACHE       = N_LAYERS * ATT_LAYER

; The fast scores (see attention_head): 2 score = sum_d (q_d + kl)^2
; + 256 (q_d + kh)^2 - 257 q_d^2 - (kl^2 + 256 kh^2), k = 256 kh + kl (kl
; unsigned, kh signed), from the matmul's squares tables, modulo 2^32. Exact
; when |2 score| < 2^31: |q| <= 1792, HEAD_DIM <= 16, and the sf shift is 15.
; The per-key term Kc = sum_d (kl^2 + 256 kh^2) (< 2^27) is stored with the key.
ATT_FAST        = HEAD_DIM <= ATT_FAST_HEAD_DIM && SCORE_SHIFT = 14
.ifndef ATT_KC_UNDERIO
ATT_KC_UNDERIO  = 0             ; 1: Kc in ENGBSS under I/O (gen.weights.kc_underio decides)
.endif
ATT_QHI_MIN     = -7            ; fast path: q high byte in -7..6 (q in -1792..1791)
ATT_QHI_SPAN    = 14
; Heads of at most 8 on the fast path (ATT_SF16): |score| <= HEAD_DIM * 1792 * 32768
; < 2^29, so sf = asr(score, 14) is in -2^15..2^15-1 and y = 2 score + 2^30 in
; 0..2^31-1: the key loop stores sf' = y >> 15 = sf + 2^15 as 16 bits
; unsigned and keeps the running maximum of those. The weights read sf and m
; as 16 bits (m >= sf: m - sf in 0..$ffff); the general path (and wider fast
; heads) bring their 24-bit sf into that form (narrow).
ATT_SF16        = ATT_FAST && HEAD_DIM * (-ATT_QHI_MIN * 256) * 32768 < $20000000
ATT_A_BIAS3     = $40 * ATT_SF16        ; byte 3 of the 2^30 in the fast scores' C
ATT_KCN         = N_LAYERS * N_HEADS * CONTEXT  ; bytes of each Kc byte array
ATT_KROW1       = <ATT_CACHE = 0 && CONTEXT >= 2        ; attn_store_kv: one low byte for the k rows
ATT_KCX         = N_HEADS * CONTEXT <= 256      ; attn_store_kv: a layer's Kc rows at X = h*CONTEXT + t
.if ATT_FAST
        ; every read is n = q + kl (-1792..2046) or q - 128 + k'hi (-1920..1918)
        .assert mm_sq_zero >= 1920 && mm_sq_zero + 2046 < mm_sq2 - mm_sq1, lderror, "attention: squares table range"
        .assert <mm_sq0 = 0 && <(mm_sq1 + mm_sq_zero) = 0 && <(mm_sq2 - mm_sq1) = 0, lderror, "attention: squares tables page layout"
        .assert >(mm_sq1 + mm_sq_zero) + ATT_QHI_MIN >= 1, lderror, "attention: the fast patch's adc #$ff must carry"
.endif

; zero page: the kernels' shared scratch block kb_zp (divide.s), also used
; by rmsnorm.s: attention's pointers must be set right before each call.
att_q   = kb_zp + 0             ; word (attention_head input)
att_out = kb_zp + 2             ; word (attention_head input)
kvs_k   = att_q                 ; attn_store_kv's inputs share the words
kvs_v   = att_out
att_kl  = kb_zp + 4             ; row pointers into the cache arrays
att_kh  = kb_zp + 6
att_vl  = kb_zp + 8
att_vh  = kb_zp + 10
att_p   = kb_zp + 12            ; 8: partial products
att_qs  = kb_zp + 20            ; bit 7: q[d] < 0
att_ql  = att_qs                ; fast setup: q[d] low byte
att_a   = att_p                 ; 4: fast scores: 2 score (mod 2^32); Q2 = sum q^2 at setup
att_c   = att_p + 4             ; 4: fast setup: 1 - Q2 (bytes 1..3); Kc sums in attn_store_kv
att_sp  = kb_zp + 21            ; word: fast setup: -> byte 1 of q^2 - q low; attn_store_kv: -> Kc
att_sp2 = kb_zp + 23            ; word: fast setup: -> byte 2 of q^2 - q low
att_dq  = att_p                 ; 2: division quotient (the final step)
att_rl  = att_p + 2             ; division remainder, low byte (the high byte in A)
att_nb  = att_c                 ; 4: 2^15 * W (the division's 16-step path; bytes 2, 3 only: byte 0 is 0, byte 1 stays in A)
att_wv  = att_c                 ; w of the weighted sum's position (w >= 2)
att_m   = att_sp2 + 1           ; 3: max sf (24 bits signed; the weights read 16: ATT_SF16, narrow)
att_w   = att_sp                ; word: W, from the weights to the division
att_i   = att_sp2               ; the weighted sum's position, the division's d
att_d   = kb_zp + 27            ; dimension counter / output index
.assert att_sp2 + 1 < att_d && att_d < kb_zp + KB_ZP_SIZE, error, "attention: zero page scratch overflow"
.assert att_w + 1 < att_i && att_i < att_m && att_m + 2 < att_d, error, "attention: W, i, m and d overlap"

.segment "ZEROPAGE"
dv_den:         .res 2          ; the division's divisor D = W

.segment "KVCACHE"
kv_k_lo:        .res ATT_CACHE  ; row (layer*ED + j), column t
kv_k_hi:        .res ATT_CACHE
kv_v_lo:        .res ATT_CACHE  ; row (layer*CONTEXT + t), column j
kv_v_hi:        .res ATT_CACHE
.assert kv_v_hi = kv_v_lo + ATT_CACHE, error, "attention: the v hi rows follow the v lo rows"
.assert kv_k_hi = kv_k_lo + ATT_CACHE, error, "attention: the k'hi rows follow the k'lo rows"
.if ATT_FAST
.if ATT_KC_UNDERIO
.segment "ENGBSS"                       ; only engine_step (banked in) touches Kc
.endif
att_kc:         .res 4 * ATT_KCN        ; Kc byte k of (block b, position t) at
                                        ; k * ATT_KCN + b * CONTEXT + t
.endif

.segment "BSS"
att_t:          .res 3          ; m - sf work; block offset
att_n:          .res 1          ; positions
att_im:         .res 1          ; position of the highest score
att_sb:         .res 1          ; attn_store_kv: layer, then block
att_st:         .res 1          ; attn_store_kv: t (then h*CONTEXT + t)
.segment "ENGBSS"               ; under I/O: only attention_head (banked in) touches these
att_pos_lo:     .res CONTEXT    ; offset t * EMBED_DIM of position t in a layer of kv_v_lo/hi
att_pos_hi:     .res CONTEXT    ; (attn_init; attn_store_kv reads them too, banked in)
att_s0:         .res CONTEXT    ; score' (40 bits), then sf in bytes 2..4 (the weights read 2..3)
att_s1:         .res CONTEXT
att_s2:         .res CONTEXT
att_s3:         .res CONTEXT
att_s4:         .res CONTEXT
; N[d] = sum_i w[i] * v[i][d] (mod 2^32), at X = d: in zero page for heads of
; at most 8 (zp,x: a cycle less a store, 7 on the weighted sum's hot paths;
; 4 * HEAD_DIM bytes there; wider heads keep them under I/O, where
; gen/weights.py's engbss_work_bytes counts them by the same spec constant)
ATT_NZP         = HEAD_DIM <= ATT_NZP_HEAD_DIM
.if ::ATT_NZP
.segment "ZEROPAGE"
.endif
att_n0:         .res HEAD_DIM
att_n1:         .res HEAD_DIM
att_n2:         .res HEAD_DIM
att_n3:         .res HEAD_DIM

.segment "RODATA"
.assert ATT_EXP_LAST = 127, error, "attention: m - sf >= 128 is detected by bit 7"
.assert EXP_LAST_VALUE = 0, error, "attention: positions far below the maximum add nothing"
.assert EXP_FIRST = 255, error, "attention: the weighted sums start with 255 v at the highest score"
        ; kv_k_lo + the offset of block b = L*N_HEADS + h (row 0 of the head)
        STEP_TABLE_LOHI att_kb_lo, att_kb_hi, {N_LAYERS * N_HEADS}, ATT_BLOCK, kv_k_lo
att_vb_lo:      ; kv_v_lo + layer L's offset + h*HEAD_DIM (the head in row 0, position 0)
        .repeat N_LAYERS * N_HEADS, I
        .byte   <(kv_v_lo + (I / N_HEADS) * ATT_LAYER + (I .mod N_HEADS) * HEAD_DIM)
        .endrepeat
att_vb_hi:
        .repeat N_LAYERS * N_HEADS, I
        .byte   >(kv_v_lo + (I / N_HEADS) * ATT_LAYER + (I .mod N_HEADS) * HEAD_DIM)
        .endrepeat
        STEP_TABLE_LOHI att_lay_lo, att_lay_hi, {N_LAYERS}, ATT_LAYER, 0        ; offset of layer L in each cache array
.if ATT_FAST
        STEP_TABLE_LOHI att_kcb_lo, att_kcb_hi, {N_LAYERS * N_HEADS}, CONTEXT, 0        ; b * CONTEXT: block b's row in each Kc byte array
att_lay_blk:    ; block of head 0 of layer L
        .repeat N_LAYERS, I
        .byte   I * N_HEADS
        .endrepeat
.endif

; ATT_DIV_STEP qbyte: one step of the unrolled division in attention_head.
; in: C = previous quotient bit; qbyte = the dividend byte being consumed
;     (quotient bits come in at the bottom as its dividend bits leave the top);
;     A = R high, att_rl = R low (R < D = dv_den, D < 2^15)
; out: C = this quotient bit, A/att_rl = the new remainder. clobbers: Y
; cycles: 18 (bit 0 by the high bytes), 36 (bit 1 by the high bytes); 27 or
;   41 when 2R + bit and D share the high byte (the low bytes decide)
.macro ATT_DIV_STEP qbyte
        .local  sub, done
        rol     qbyte                   ; quotient bit in, the next dividend bit out
        rol     att_rl                  ; R = 2R + bit (< 2^16: C = 0 after)
        rol     a
        cmp     dv_den+1
        bcc     done                    ; R high < D high: bit 0 (C = 0)
        bne     sub                     ; R high > D high: R > D
        ldy     att_rl                  ; the same high byte: the low bytes decide
        cpy     dv_den
        bcc     done                    ; bit 0 (C = 0)
sub:    tay                             ; R >= D (C = 1): R -= D
        lda     att_rl
        sbc     dv_den
        sta     att_rl
        tya
        sbc     dv_den+1                ; C = 1 after (no borrow): bit 1
done:
.endmacro

; ATT_QS_MULCY lab, dst: kernels_b.inc's QS_MULC with the multiplier in Y:
; C = 1 in gives a*y (dst = low byte, A = high byte, C = 1 out); QS_SET
; patches it. cycles: 19 (+1 per page crossing)
.macro ATT_QS_MULCY lab, dst
lab = * - 1
        lda     qs_sq1_lo,y
        sbc     qs_sq2_lo,y
        sta     dst
        lda     qs_sq1_hi,y
        sbc     qs_sq2_hi,y
        .assert * - lab = 15, error, "ATT_QS_MULCY: dst must be a zero page byte"
        QS_OPERANDS lab
.endmacro

.segment "CODE"

; ATT_HI hi, lo: the pointer hi := lo + ATT_CACHE (the same row in the ^$80
; array: kv_k_hi follows kv_k_lo, kv_v_hi kv_v_lo). clobbers: A, C
.macro ATT_HI hi, lo
.if <::ATT_CACHE = 0
        lda     lo
        sta     hi
        clc
.else
        clc
        lda     lo
        adc     #<::ATT_CACHE
        sta     hi
.endif
        lda     lo+1
        adc     #>::ATT_CACHE
        sta     hi+1
.endmacro

; ATT_TAKE_MAX: the running maximum m := sf[X] (att_s2..4), im := X.
; clobbers: A
.macro ATT_TAKE_MAX
        stx     att_im
        lda     att_s2,x
        sta     att_m
        lda     att_s3,x
        sta     att_m+1
        lda     att_s4,x
        sta     att_m+2
.endmacro

; ATT_N01_ADD: bytes 0, 1 of the weighted sum N[X] += (A:att_p) + C, the
; carry out of byte 1 left in C for the caller's high bytes. clobbers: A, Y
.macro ATT_N01_ADD
        tay
        lda     att_n0,x
        adc     att_p
        sta     att_n0,x
        tya
        adc     att_n1,x
        sta     att_n1,x
.endmacro

; ATT_PTR ptr, base: ptr := base + (att_t, att_t+1). clobbers: A, C
.macro ATT_PTR ptr, base
        clc
        lda     att_t
        adc     #<(base)
        sta     ptr
        lda     att_t+1
        adc     #>(base)
        sta     ptr+1
.endmacro

; ATT_KC_ROWS index, fmt: the operands named fmt with K = 0..3 (.sprintf) :=
; att_kc + the block's offset (att_kcb_lo/hi at the index register) + K * ATT_KCN,
; the four byte rows of a block's Kc. clobbers: A, C
.macro ATT_KC_ROWS index, fmt
        clc
        lda     att_kcb_lo,index
        adc     #<att_kc
        sta     .ident(.sprintf(fmt, 0))
        lda     att_kcb_hi,index
        adc     #>att_kc
        sta     .ident(.sprintf(fmt, 0)) + 1
        .repeat 3, K
        clc
        lda     .ident(.sprintf(fmt, K))
        adc     #<ATT_KCN
        sta     .ident(.sprintf(fmt, K + 1))
        lda     .ident(.sprintf(fmt, K)) + 1
        adc     #>ATT_KCN
        sta     .ident(.sprintf(fmt, K + 1)) + 1
        .endrepeat
.endmacro

; ATT_VROW lo_op, hi_op [, lo_op2, hi_op2]: point the operands lo_op, hi_op
; (abs,x loads of the weighted sum; and lo_op2, hi_op2 when given) at row X
; (position i) of the head's v lo and v hi.
; in: X = i. clobbers: A, C. cycles: 34 (ATT_CACHE a multiple of 256: both
; rows share the low byte), else 48; +16 with the second pair
.macro ATT_VROW lo_op, hi_op, lo_op2, hi_op2
        clc
        lda     att_vl
        adc     att_pos_lo,x
        ATT_STA2 lo_op, lo_op2, 0
.if <::ATT_CACHE = 0
        ATT_STA2 hi_op, hi_op2, 0       ; v hi's row: the same low byte
.endif
        lda     att_vl+1
        adc     att_pos_hi,x
        ATT_STA2 lo_op, lo_op2, 1
.if <::ATT_CACHE = 0
        adc     #>::ATT_CACHE           ; C = 0: row addresses stay below $10000
.else
        clc
        lda     att_vh
        adc     att_pos_lo,x
        ATT_STA2 hi_op, hi_op2, 0
        lda     att_vh+1
        adc     att_pos_hi,x
.endif
        ATT_STA2 hi_op, hi_op2, 1
.endmacro

; ATT_STA2 op, op2, off: sta op + off, and sta op2 + off too when op2 is
; given (ATT_VROW's optional second pair)
.macro ATT_STA2 op, op2, off
        sta     op + off
        .ifnblank op2
        sta     op2 + off
        .endif
.endmacro

; attn_init: the position offset tables att_pos_lo/hi (t * EMBED_DIM), under
; I/O: call once with the RAM there banked in, before attn_store_kv or
; attention_head (engine_init does). in: - ; out: the tables
; clobbers: A, X, Y. cycles: ~30 a position
.proc attn_init
        ldx     #0                      ; X = t
        ldy     #0                      ; Y = high byte
        txa                             ; A = low byte
@pos:   sta     att_pos_lo,x
        pha
        tya
        sta     att_pos_hi,x
        pla
        clc
        adc     #EMBED_DIM
        bcc     :+
        iny
:       inx
        cpx     #CONTEXT
        bne     @pos
        rts
.endproc

; attn_store_kv: append position t of one layer to the KV cache.
; in: kvs_k, kvs_v (zp) -> k, v (EMBED_DIM int16 LE each); A = layer; X = t
; out: kv_k_*[(layer*ED + j)*CONTEXT + t] = k[j],
;      kv_v_*[(layer*CONTEXT + t)*ED + j] = v[j] (as it is);
;      with the fast scores, Kc of each of the layer's heads at position t
; clobbers: A, X, Y, att_kl/kh, att_c, att_d, att_t, the patched operands
; cycles (`soul bench`, x64sc, PAL, screen on, the original soul, 2 calls a
;   token, as of issue 8's fifth attention round): 10,402 a token, ~5.2k a
;   call; earlier rounds: docs/architecture.md
.proc attn_store_kv
        sta     att_sb
        stx     att_st
        tay                             ; Y = layer, X = t
        clc                             ; v: layer offset + t*ED (row t)
        lda     att_lay_lo,y
        adc     att_pos_lo,x
        sta     att_t
        lda     att_lay_hi,y
        adc     att_pos_hi,x
        sta     att_t+1
        clc
        lda     att_t
        adc     #<kv_v_lo
        sta     vst_lo_row
        lda     att_t+1
        adc     #>kv_v_lo
        sta     vst_lo_row+1
        clc
        lda     att_t
        adc     #<kv_v_hi
        sta     vst_hi_row
        lda     att_t+1
        adc     #>kv_v_hi
        sta     vst_hi_row+1
        ldx     #EMBED_DIM - 1          ; v row, from the last j down: X = j, Y = 2j + 1
        ldy     #2 * EMBED_DIM - 1
vdim:   lda     (kvs_v),y               ; vh, as it is (signed)
        sta     kv_v_hi,x
vst_hi_row = * - 2      ; operand, patched: row t of the layer
        dey
        lda     (kvs_v),y
        sta     kv_v_lo,x
vst_lo_row = * - 2      ; operand, patched: row t of the layer
        dey
        dex
        bpl     vdim
        ldy     att_sb                  ; k: layer offset + t (column t of row 0)
        lda     att_st
        clc
        adc     att_lay_lo,y
        sta     att_t
        lda     att_lay_hi,y
        adc     #0
        sta     att_t+1
        ATT_PTR att_kl, kv_k_lo         ; (att_kl),y with Y = 2j: row j = att_kl + 2j
.if ::ATT_KROW1
        lda     att_kl                  ; (att_kh),y with Y = 2j as well: the k'hi
        sta     att_kh                  ; row is the k'lo row + ATT_CACHE, a whole
        lda     att_kl+1                ; number of pages (one low byte for both)
        adc     #>ATT_CACHE             ; C = 0: below $10000
        sta     att_kh+1
.else
        ATT_PTR att_kh, kv_k_hi - 1     ; (att_kh),y with Y = 2j + 1
.endif
.if ::ATT_FAST
        ldx     att_sb                  ; Kc stores: byte K of (block of head 0, t)
        ldy     att_lay_blk,x
        ATT_KC_ROWS y, "kcs_%d"
.endif
        ldy     #0                      ; Y = 2j over k
khead:
.if ::ATT_FAST
        lda     #0                      ; Kc = sum over the head's dims of kl^2 + 256 kh^2
        sta     att_c                   ; (< 2^27), for the fast scores; kl^2 < 2^16,
        sta     att_c+1                 ; kh^2 <= 2^14 (byte 2 is 0), read at n = kl
        sta     att_c+2                 ; and n = k'hi - 128 (byte 0: mm_sq0 repeats
        sta     att_c+3                 ; every 128)
.endif
        tya                             ; 2j of the head's end
        clc
        adc     #2 * HEAD_DIM
        sta     att_d
kdim:   lda     (kvs_k),y               ; kl (C = 0 here: from the adc above or
        sta     (att_kl),y              ; the cpy below, Y < att_d)
.if ::ATT_FAST
        tax
        lda     mm_sq0,x
        adc     att_c
        sta     att_c
        lda     mm_sq1 + mm_sq_zero,x
        adc     att_c+1
        sta     att_c+1
        bcc     :+                      ; C = 0 after either way
        inc     att_c+2                 ; Kc < 2^27: no carry out of byte 2 here
        clc
:
.endif
        iny
        lda     (kvs_k),y
        eor     #$80                    ; k'hi = kh + 128
.if ::ATT_KROW1
        dey                             ; the k'hi row's pointer is read at Y = 2j
        sta     (att_kh),y
        iny
.else
        sta     (att_kh),y
.endif
.if ::ATT_FAST
        tax                             ; C = 0
        lda     mm_sq0,x
        adc     att_c+1
        sta     att_c+1
        lda     mm_sq1 + mm_sq_zero - 128,x
        adc     att_c+2
        sta     att_c+2
        bcc     :+                      ; C = 0 after either way
        inc     att_c+3
        clc
:
.endif
        iny
.if ::ATT_KROW1
        lda     att_kl                  ; next row: both pointers += CONTEXT - 2
        adc     #CONTEXT - 2            ; (Y moved 2), one low byte; C = 0 here
        sta     att_kl
        sta     att_kh
        bcc     :+
        inc     att_kl+1
        inc     att_kh+1
:
.else
        .assert att_kh = att_kl + 2, error, "row pointers"
        .repeat 2, J                    ; next row: both pointers += CONTEXT - 2 (Y moved 2)
        .if ::CONTEXT >= 2
        ADD16_8 att_kl + 2 * J, #CONTEXT - 2
        .else
        lda     att_kl + 2 * J          ; CONTEXT 1: -1
        bne     :+
        dec     att_kl + 2 * J + 1
:       dec     att_kl + 2 * J
        .endif
        .endrepeat
.endif
        cpy     att_d                   ; the head's end
        bne     kdim
.if ::ATT_FAST
        ldx     att_st
        .repeat 4, K
        lda     att_c+K
        sta     att_kc,x
        .ident(.sprintf("kcs_%d", K)) = * - 2   ; operand, patched: Kc byte K row of head 0
        .endrepeat
.if ::ATT_KCX
        txa                             ; the next head's rows: X += CONTEXT
        clc                             ; (N_HEADS * CONTEXT <= 256)
        adc     #CONTEXT
        sta     att_st
.else
        .repeat 4, K                    ; the next head's rows
        ADD16_8 .ident(.sprintf("kcs_%d", K)), #CONTEXT
        .endrepeat
.endif
.endif
        cpy     #<(2 * EMBED_DIM)
        beq     :+
        jmp     khead
:       rts
.endproc

.if ::ATT_FAST
; ATF_SLOT D: the fast scores' slot for dimension D of the key at position X.
; in: X = position i; operands patched by fpatch in attention_head (q = q[D])
; out: att_a += (q + kl)^2 + 256 (q + kh)^2 (mod 2^32), kl = k'lo, kh = k'hi - 128
;      (the last slot, D = HEAD_DIM - 1, leaves byte 3 in A, not stored)
; clobbers: A, Y, C. cycles: ~75 (+1 per page crossing; +4 when byte 2 carries)
.macro ATF_SLOT D
.ident(.sprintf("atf_slot%d", D)):
        ldy     kv_k_lo,x
.ident(.sprintf("atf_kl%d", D)) = * - 2  ; operand, patched: row D of the block in kv_k_lo
        clc
        lda     att_a
        adc     mm_sq0,y
.ident(.sprintf("atf_l0_%d", D)) = * - 2 ; operand, patched: mm_sq0 + (q mod 128) (low byte)
        sta     att_a
        lda     att_a+1
        adc     mm_sq1,y
.ident(.sprintf("atf_l1_%d", D)) = * - 2 ; operand, patched: mm_sq1 + zero + q
        sta     att_a+1
        lda     att_a+2
        adc     mm_sq2,y
.ident(.sprintf("atf_l2_%d", D)) = * - 2 ; operand, patched: mm_sq2 + zero + q
        sta     att_a+2
        bcc     :+                      ; C = 0 for the high half either way
        inc     att_a+3
        clc
:       ldy     kv_k_hi,x
.ident(.sprintf("atf_kh%d", D)) = * - 2  ; operand, patched: row D of the block in kv_k_hi
        lda     att_a+1
        adc     mm_sq0,y
.ident(.sprintf("atf_h0_%d", D)) = * - 2 ; operand, patched: mm_sq0 + (q mod 128) (low byte)
        sta     att_a+1
        lda     att_a+2
        adc     mm_sq1,y
.ident(.sprintf("atf_h1_%d", D)) = * - 2 ; operand, patched: mm_sq1 + zero + q - 128
        sta     att_a+2
        lda     att_a+3
        adc     mm_sq2,y
.ident(.sprintf("atf_h2_%d", D)) = * - 2 ; operand, patched: mm_sq2 + zero + q - 128
        .if D < ::HEAD_DIM - 1
        sta     att_a+3
        .assert * - .ident(.sprintf("atf_slot%d", D)) = ATF_SLOT_SIZE, error, "attention: fast slot size"
        .endif                          ; (the last slot leaves byte 3 in A)
        ; the offsets fpatch stores at
        .assert .ident(.sprintf("atf_kl%d", D)) - .ident(.sprintf("atf_slot%d", D)) = ATF_SO_KL, error, "attention: ATF_SO_KL"
        .assert .ident(.sprintf("atf_l0_%d", D)) - .ident(.sprintf("atf_slot%d", D)) = ATF_SO_L0, error, "attention: ATF_SO_L0"
        .assert .ident(.sprintf("atf_l1_%d", D)) - .ident(.sprintf("atf_slot%d", D)) = ATF_SO_L1, error, "attention: ATF_SO_L1"
        .assert .ident(.sprintf("atf_l2_%d", D)) - .ident(.sprintf("atf_slot%d", D)) = ATF_SO_L2, error, "attention: ATF_SO_L2"
        .assert .ident(.sprintf("atf_kh%d", D)) - .ident(.sprintf("atf_slot%d", D)) = ATF_SO_KH, error, "attention: ATF_SO_KH"
        .assert .ident(.sprintf("atf_h0_%d", D)) - .ident(.sprintf("atf_slot%d", D)) = ATF_SO_H0, error, "attention: ATF_SO_H0"
        .assert .ident(.sprintf("atf_h1_%d", D)) - .ident(.sprintf("atf_slot%d", D)) = ATF_SO_H1, error, "attention: ATF_SO_H1"
        .assert .ident(.sprintf("atf_h2_%d", D)) - .ident(.sprintf("atf_slot%d", D)) = ATF_SO_H2, error, "attention: ATF_SO_H2"
.endmacro
ATF_SLOT_SIZE   = 54            ; bytes of one ATF_SLOT; its patched operands'
ATF_SO_KL       = 1             ; offsets (the fast setup's loop writes them
ATF_SO_L0       = 7             ; at X = the slot's offset in a page)
ATF_SO_L1       = 14
ATF_SO_L2       = 21
ATF_SO_KH       = 31
ATF_SO_H0       = 36
ATF_SO_H1       = 43
ATF_SO_H2       = 50
ATF_PST_N       = 14            ; the per-query patch's stores (ATF_PST 0..13)

; ATF_PST off, n: the per-query patch's store number n: A into byte off of
; the slot at X (its offset from ATF_PBASE + 256 g; fpatch moves the
; operand a page up when X passes one, and back to ATF_PBASE per query).
; cycles: 5
.macro ATF_PST off, n
        .assert n < ATF_PST_N, error, "ATF_PST: store number"
        sta     ATF_PBASE + off,x
.ident(.sprintf("atf_pst%d", n)) = * - 2   ; operand, patched: its page
.endmacro

.endif

; attention_head: one head for the query at position t over positions 0..t.
; in: att_q -> q (HEAD_DIM int16 LE), att_out -> out (HEAD_DIM int16 LE),
;     A = cache block L*N_HEADS + h, X = t + 1 (1..CONTEXT)
; out: out[0..HEAD_DIM) written
; clobbers: A, X, Y, att_* zero page, dv_den, the patched operands
; cycles (`soul bench`, x64sc, PAL, screen on, the original soul, 8 calls a
;   token over positions 1..20, as of issue 8's fifth attention round):
;   158,646 a token, ~19.8k a call. Per token: the per-query setup and patch
;   16.5k, the scores with the running max 63.7k (724 a key), the weights
;   and the sums' start 3.9k, the w tests 5.3k, the weighted sums 54.8k
;   (w > 1: 808 a position, w = 1: 355), the divisions 22.6k (353 each, all
;   8 steps). Earlier rounds and the default soul: docs/architecture.md
.proc attention_head
        stx     att_n
        sta     att_sb
        tay
        lda     att_kb_lo,y             ; k: row 0 of the head's block
        sta     att_kl
        lda     att_kb_hi,y
        sta     att_kl+1
        lda     att_vb_lo,y             ; v: dimension 0 of the head in row 0
        sta     att_vl                  ; (position 0) of the layer
        lda     att_vb_hi,y
        sta     att_vl+1
.if (!::ATT_FAST) || (<::ATT_CACHE <> 0)
        ATT_HI  att_kh, att_kl          ; (the fast page-aligned path needs only att_kl)
.endif
.if <::ATT_CACHE <> 0
        ATT_HI  att_vh, att_vl          ; (ATT_VROW needs it here)
.endif
        ldx     att_n
        dex
        beq     one                     ; one position: out = v[0] exactly
.if ::ATT_FAST
        jmp     fast
.else
        jmp     general
.endif

        ; --- t + 1 = 1: w[0] = EXP[0] = 255 = W, so out[d] = floor(255 * v / 255) = v
one:    ATT_HI  att_vh, att_vl
        lda     #0
        sta     att_d                   ; 2*d
        tax                             ; d
@copy:  txa
        tay
        lda     (att_vh),y
        sta     att_p
        lda     (att_vl),y
        ldy     att_d
        sta     (att_out),y
        iny
        lda     att_p
        sta     (att_out),y
        iny
        sty     att_d
        inx
        cpy     #2 * HEAD_DIM
        bne     @copy
        rts

.if ::ATT_FAST
        ; --- fast scores: 2 score[i] = C - Kc[i] + sum_d slot_d(i) (mod 2^32,
        ;     exact: |2 score| < 2^31), C = -257 sum_d q[d]^2; then
        ;     sf[i] = asr(2 score[i], 15) straight into s2..s4
fast:   lda     #0
        sta     att_a
        sta     att_a+1
        sta     att_a+2
        sta     att_a+3
        sta     att_d                   ; 2d
        sta     att_sp                  ; the q^2 pointers' low bytes (read at Y = q low)
        sta     att_sp2
ATF_X0  = <fslots & $7f                 ; X of slot 0: the stores' base ATF_PBASE
ATF_PBASE = fslots - ATF_X0             ; ends in $00 or $80, so base + offset (< 128)
                                        ; keeps one high byte, and X0 + 54 (HD - 1)
                                        ; < 512 for heads of 8: one page step a query
        .assert ATF_SO_H2 + 1 < 128, error, "attention: patch offsets must stay below 128"
        ldx     #ATF_X0                 ; slot 0 = ATF_PBASE + X
        lda     #>ATF_PBASE             ; the patch stores back at that page
fpage:  .repeat ::ATF_PST_N, I          ; A = the page the stores' operands name
        sta     .ident(.sprintf("atf_pst%d", I)) + 1
        .endrepeat
        clc
        ; --- per dimension d: check q[d]'s range (else the general path), patch
        ;     slot d's table operands (q) and rows (dimension d of the block in
        ;     kv_k_lo/hi, from att_kl/att_kh, which step on), Q2 += q[d]^2.
        ;     The stores: ATF_PST at X = the slot's offset in its page, which
        ;     steps by ATF_SLOT_SIZE; when it passes a page, every store's
        ;     operand moves a page up. C = 0 at fpatch.
fpatch: ldy     att_d
        lda     (att_q),y               ; q low
        sta     att_ql
        iny
        lda     (att_q),y               ; q high
        iny
        sty     att_d                   ; 2(d + 1)
        adc     #<(-ATT_QHI_MIN)        ; C = 0
        cmp     #ATT_QHI_SPAN
        bcc     @inq
        jmp     fslow                   ; |q| too large: the exact general path
@inq:   adc     #<(>(mm_sq1 + mm_sq_zero) + ATT_QHI_MIN)   ; C = 0: high byte of mm_sq1 + zero + q
        ATF_PST ATF_SO_L1 + 1, 0
        sta     att_sp+1
        ldy     att_ql                  ; Y = q low
        cpy     #$80                    ; C = 1: q low >= 128, q - 128 does not borrow
        adc     #$ff                    ; high byte of mm_sq1 + zero + q - 128
        ATF_PST ATF_SO_H1 + 1, 1
        adc     #>(mm_sq2 - mm_sq1) - 1 ; C = 1 (the adc #$ff carried: A >= 1): the same in mm_sq2
        ATF_PST ATF_SO_H2 + 1, 2
        lda     att_sp+1                ; C = 0: no carry past $ffff
        adc     #>(mm_sq2 - mm_sq1)
        ATF_PST ATF_SO_L2 + 1, 3
        sta     att_sp2+1
        tya                             ; low bytes: q, q - 128, q mod 128
        ATF_PST ATF_SO_L1, 4
        ATF_PST ATF_SO_L2, 5
        eor     #$80
        ATF_PST ATF_SO_H1, 6
        ATF_PST ATF_SO_H2, 7
        and     #$7f                    ; byte 0 repeats every 128: mm_sq0 + (q mod 128)
        ATF_PST ATF_SO_L0, 8
        ATF_PST ATF_SO_H0, 9
        lda     mm_sq0,y                ; Q2 += q^2 (< 2^22 each), Y = q low (byte 0
        adc     att_a                   ; repeats every 128); C = 0 from the high
        sta     att_a                   ; byte in mm_sq2 above
        lda     (att_sp),y
        adc     att_a+1
        sta     att_a+1
        lda     (att_sp2),y
        adc     att_a+2
        sta     att_a+2
        bcc     @rows                   ; C = 0 after either way
        inc     att_a+3
        clc
@rows:
.if <::ATT_CACHE = 0                    ; rows: store, then step by CONTEXT; the
        lda     att_kl+1                ; k'hi row is the k'lo row + ATT_CACHE, a
        ATF_PST ATF_SO_KL + 1, 10  ; whole number of pages: the same low byte
        adc     #>::ATT_CACHE           ; C = 0; no carry past $ffff
        ATF_PST ATF_SO_KH + 1, 11
        lda     att_kl
        ATF_PST ATF_SO_KL, 12
        ATF_PST ATF_SO_KH, 13
        adc     #CONTEXT                ; A = att_kl, C = 0
        sta     att_kl
        bcc     :+
        inc     att_kl+1
:
.else
        .assert att_kh = att_kl + 2, error, "attention: row pointers"
        .repeat 2, J                    ; C = 0 (each high byte's adc stays below $ffff)
        lda     att_kl + 2 * J
        ATF_PST ATF_SO_KL + J * (ATF_SO_KH - ATF_SO_KL), 10 + 2 * J
        adc     #CONTEXT
        sta     att_kl + 2 * J
        lda     att_kl + 2 * J + 1
        ATF_PST ATF_SO_KL + J * (ATF_SO_KH - ATF_SO_KL) + 1, 11 + 2 * J
        adc     #0
        sta     att_kl + 2 * J + 1
        .endrepeat
.endif
        ldy     att_d                   ; 2(d + 1)
        cpy     #2 * HEAD_DIM
        beq     @patched
        txa                             ; the next slot (C = 0: Y < 2 * HEAD_DIM)
        adc     #ATF_SLOT_SIZE
        tax
        bcs     @page
        jmp     fpatch                  ; C = 0
@page:  lda     atf_pst0 + 1            ; past a page: every store's operand too
        adc     #0                      ; C = 1: the next page
        jmp     fpage
@patched:
        sec                             ; C + 1 = 1 - Q2 - 256 Q2 (+ 2^30 with
        lda     #1                      ; ATT_SF16) into the key loop's immediates
        sbc     att_a                   ; fc0..3 (it subtracts Kc with C = 0: -1)
        sta     fc0
        lda     #0
        sbc     att_a+1
        sta     att_c+1
        lda     #0
        sbc     att_a+2
        sta     att_c+2
        lda     #ATT_A_BIAS3
        sbc     att_a+3
        sta     att_c+3
        sec                             ; - 256 Q2
        lda     att_c+1
        sbc     att_a
        sta     fc1
        lda     att_c+2
        sbc     att_a+1
        sta     fc2
        lda     att_c+3
        sbc     att_a+2
        sta     fc3
        ldx     att_sb                  ; Kc rows of the block
        ATT_KC_ROWS x, "fkc%d"
        ldx     att_n
        dex
.if ::ATT_SF16
        lda     #0                      ; the running max: m = 0 (no sf' is
        sta     att_m                   ; below; the first key takes it, and im)
        sta     att_m+1
.endif
        clc
fkey:   lda     #0                      ; a = C - Kc[i] (C = 0 here: the max test
fc0 = * - 1             ; operand, patched: byte 0 of C + 1 (per query)
        sbc     att_kc,x                ; leaves it, or the clc)
fkc0 = * - 2            ; operand, patched: the block's row of Kc byte 0
        sta     att_a
        lda     #0
fc1 = * - 1             ; operand, patched: byte 1 of C + 1
        sbc     att_kc + ATT_KCN,x
fkc1 = * - 2            ; operand, patched: the same row of Kc byte 1
        sta     att_a+1
        lda     #0
fc2 = * - 1             ; operand, patched: byte 2 of C + 1
        sbc     att_kc + 2 * ATT_KCN,x
fkc2 = * - 2            ; operand, patched: byte 2
        sta     att_a+2
        lda     #0
fc3 = * - 1             ; operand, patched: byte 3 of C + 1
        sbc     att_kc + 3 * ATT_KCN,x
fkc3 = * - 2            ; operand, patched: byte 3
        sta     att_a+3
fslots: .repeat ::HEAD_DIM, D
        ATF_SLOT D
        .endrepeat
.if ::ATT_SF16
        sta     att_a+3                 ; byte 3 of a = 2 score + 2^30 (< $80)
        lda     att_a+1                 ; sf' = bits 15..30 of a
        asl     a
        lda     att_a+2
        rol     a
        sta     att_s2,x
        tay                             ; Y = sf' low byte
        lda     att_a+3
        rol     a                       ; (C = 0 after: bit 31 is 0)
        sta     att_s3,x
        cpy     att_m                   ; sf' >= m: m := sf', im := i (ties
        sbc     att_m+1                 ; too: their w is EXP[0] as well)
        bcc     @nomax                  ; C = 0: sf' < m
        sty     att_m
        lda     att_s3,x
        sta     att_m+1
        stx     att_im
        clc                             ; for fkey
@nomax: dex                             ; C = 0
        bmi     :+
        jmp     fkey
:       jmp     weights                 ; m and im are known
.else
        tay                             ; byte 3 of a
        lda     att_a+1                 ; sf = bits 15..38 of a, sign extended
        asl     a                       ; (24 bits: heads over 8); the max and
        lda     att_a+2                 ; the 16-bit form as on the general path
        rol     a
        sta     att_s2,x
        tya
        rol     a
        sta     att_s3,x
        lda     #0                      ; C = sign: s4 = $ff or $00
        adc     #$ff
        eor     #$ff
        sta     att_s4,x
        clc                             ; for fkey
        dex
        bmi     :+
        jmp     fkey
:       jmp     maxsf
.endif

fslow:  ldy     att_sb                  ; the general path: att_kl, att_kh back
        lda     att_kb_lo,y             ; to dimension 0 of the block
        sta     att_kl
        lda     att_kb_hi,y
        sta     att_kl+1
        ATT_HI  att_kh, att_kl
        jmp     general
.endif

        ; --- score'[i] = sum_d q[d] * k'[i][d], 40 bits signed, i in X
general:
        ldx     att_n
        dex
        lda     #0
clear:  sta     att_s0,x
        sta     att_s1,x
        sta     att_s2,x
        sta     att_s3,x
        sta     att_s4,x
        dex
        bpl     clear
        sta     att_d                   ; d = 0
qdim:   lda     att_d
        asl     a
        tay
        lda     (att_q),y               ; |q[d]| -> (att_p+0, att_p+1), sign -> att_qs
        sta     att_p
        iny
        lda     (att_q),y
        sta     att_qs
        bpl     @qpos
        lda     #0
        sec
        sbc     att_p
        sta     att_p
        lda     #0
        sbc     att_qs
@qpos:  sta     att_p+1                 ; -32768 -> $8000 = 32768 unsigned
        ora     att_p
        bne     @nonzero
        jmp     nextd                   ; q[d] = 0 adds nothing
@nonzero:
        lda     att_p+1                 ; four products (q high 0: two of them are 0)
        QS_SET  mk_a1b0, mk_a1b1
        lda     att_p
        QS_SET  mk_a0b0, mk_a0b1
        lda     att_kl                  ; this row of k into the loads
        sta     kl_row
        lda     att_kl+1
        sta     kl_row+1
        lda     att_kh
        sta     kh_row
        lda     att_kh+1
        sta     kh_row+1
        ldx     att_n
        dex
pos:
        lda     kv_k_lo,x
kl_row = * - 2          ; operand, patched: row d of k'lo
        tay
        QS_MULY mk_a0b0, att_p
        sta     att_p+1
        QS_MULY mk_a1b0, att_p+2
        sta     att_p+3
        lda     kv_k_hi,x
kh_row = * - 2          ; operand, patched: row d of k'hi
        tay
        QS_MULY mk_a0b1, att_p+4
        sta     att_p+5
        QS_MULY mk_a1b1, att_p+6
        sta     att_p+7
        clc                             ; P = a0b0 + (a1b0 + a0b1) << 8 + a1b1 << 16
        lda     att_p+2
        adc     att_p+4
        sta     att_p+2
        lda     att_p+3
        adc     att_p+5
        sta     att_p+3
        bcc     @c1
        inc     att_p+7                 ; P < 2^32: no overflow
@c1:    clc
        lda     att_p+1
        adc     att_p+2
        sta     att_p+1
        lda     att_p+6
        adc     att_p+3
        sta     att_p+6
        bcc     @c2
        inc     att_p+7
@c2:    bit     att_qs
        bmi     sub
        clc                             ; score' += P
        lda     att_s0,x
        adc     att_p
        sta     att_s0,x
        lda     att_s1,x
        adc     att_p+1
        sta     att_s1,x
        lda     att_s2,x
        adc     att_p+6
        sta     att_s2,x
        lda     att_s3,x
        adc     att_p+7
        sta     att_s3,x
        bcc     @a4
        inc     att_s4,x
@a4:    dex
        bmi     nextd
        jmp     pos
sub:    sec                             ; score' -= P
        lda     att_s0,x
        sbc     att_p
        sta     att_s0,x
        lda     att_s1,x
        sbc     att_p+1
        sta     att_s1,x
        lda     att_s2,x
        sbc     att_p+6
        sta     att_s2,x
        lda     att_s3,x
        sbc     att_p+7
        sta     att_s3,x
        bcs     @s4
        dec     att_s4,x
@s4:    dex
        bmi     nextd
        jmp     pos
nextd:  ADD16_8 att_kl, #CONTEXT         ; next row of k
        ADD16_8 att_kh, #CONTEXT
        inc     att_d
        lda     att_d
        cmp     #HEAD_DIM
        bne     @more
        jmp     scores
@more:  jmp     qdim

        ; --- sf[i] = asr(score'[i], 14) (bytes s2..s4 after << 2); m = max sf
scores: ldx     att_n
        dex
sf:     lda     att_s1,x
        .repeat ::ATT_SF_LSHIFT
        asl     a
        rol     att_s2,x
        rol     att_s3,x
        rol     att_s4,x
        .endrepeat
        dex
        bpl     sf
maxsf:  ldx     att_n                   ; (general path) m = sf[n-1], then the max over the rest;
        dex                             ; att_im = its position (w = EXP[0] there)
        ATT_TAKE_MAX
max:    dex
        bmi     narrow
        lda     att_m                   ; m - sf[x] < 0 -> m = sf[x]
        cmp     att_s2,x
        lda     att_m+1
        sbc     att_s3,x
        lda     att_m+2
        sbc     att_s4,x
        bvc     @nv
        eor     #$80
@nv:    bpl     max
        ATT_TAKE_MAX
        jmp     max
        ; --- the 16-bit form the weights read: sf := sf - m - 1 = -(m - sf + 1)
        ;     (mod 2^16) and m := $ffff, so that m - sf reads m - sf as it was
        ;     when that is below 2^16 (the top byte of -(m - sf + 1) is $ff);
        ;     else sf's high byte := that top byte (<> $ff: m - sf >= 256)
narrow: ldx     att_n
        dex
@pos:   clc
        lda     att_s2,x
        sbc     att_m
        sta     att_s2,x
        lda     att_s3,x
        sbc     att_m+1
        sta     att_s3,x
        lda     att_s4,x
        sbc     att_m+2
        cmp     #$ff
        beq     :+
        sta     att_s3,x
:       dex
        bpl     @pos
        lda     #$ff
        sta     att_m
        sta     att_m+1

        ; --- W := w[im] = EXP[0]; the other w[i] = EXP[min(127, m - sf[i])]
        ;     are taken, and summed into W, in the weighted sum's position
        ;     loop (vpos); im's sf is moved 256 above m there (m - sf reads
        ;     $ffxx: skipped as w = 0), its 255 v is in the sums' start
weights:
        lda     #EXP_FIRST
        sta     att_w
        lda     #0
        sta     att_w+1
        ldx     att_im                  ; sf[im] := m + 256 (mod 2^16): the high
        inc     att_s3,x                ; byte of m - sf reads $ff
        ; --- N[d] = sum_i w[i] * v[i][d] (mod 2^32; |N| < 2^30), at X = d,
        ;     v = 256 vh + vl (vh signed, as stored): the sums start at
        ;     255 v[im] (w = EXP[0] = 255: 256 v - v, no product), which the
        ;     loop then skips
        ldx     att_im                  ; the sums start with position im
        ATT_VROW ni_l_row, ni_h_row, ni_l2_row, ni_h2_row
        ldx     #HEAD_DIM - 1
.if ::ATT_NZP
        ldy     #0                      ; the sign byte of v >= 0
.endif
        sec
ninit:  lda     #0                      ; 255 v = 256 v - v: (-vl, vl - vh - b,
        sbc     kv_v_lo,x               ; vh - s - b, s), s = the sign byte of v
ni_l_row = * - 2        ; operand, patched: row im of v lo
        sta     att_n0,x                ; (C = 1 at ninit)
        lda     kv_v_lo,x
ni_l2_row = * - 2       ; operand, patched: the same
        sbc     kv_v_hi,x
ni_h_row = * - 2        ; operand, patched: row im of v hi
        sta     att_n1,x
        lda     kv_v_hi,x
ni_h2_row = * - 2       ; operand, patched: the same
        bmi     @neg
        sbc     #0                      ; s = 0 (no borrow: vh = 0 leaves b = 0, so C = 1)
        sta     att_n2,x
.if ::ATT_NZP
        sty     att_n3,x
.else
        lda     #0
        sta     att_n3,x
.endif
        dex
        bpl     ninit                   ; C = 1
        bmi     @start                  ; always
@neg:   sbc     #$ff                    ; s = $ff
        sta     att_n2,x
        lda     #$ff
        sta     att_n3,x
        sec
        dex
        bpl     ninit                   ; C = 1
@start:
        lda     att_n
        sta     att_i
vpos:   dec     att_i
        bpl     @have
        jmp     divide
@have:  ldx     att_i
        sec                             ; m - sf[i] (16 bits, >= 0)
        lda     att_m
        sbc     att_s2,x
        tay
        lda     att_m+1
        sbc     att_s3,x
        bne     vpos                    ; >= 256: w = 0, nothing to add
        tya
        bmi     vpos                    ; >= 128
        lda     exp_table,y
        beq     vpos                    ; EXP[127] = 0
        tay                             ; Y = w
        clc                             ; W += w
        adc     att_w
        sta     att_w
        bcc     :+
        inc     att_w+1
:       cpy     #1
        bne     vmul
        jmp     vone                    ; w = 1 (EXP[83..126]): N += v

vl0:    lda     vh_row                  ; vl = 0 (C = 0): vh through a pointer to
        sta     att_kh                  ; this row (vh_row, the operand patched
        lda     vh_row+1                ; for the position)
        sta     att_kh+1
        txa
        tay
        lda     (att_kh),y
        bne     :+
        jmp     vnext                   ; v = 0 (C = 0)
:       tay
        sec
        jmp     vhu

vmul:   sty     att_wv                  ; w >= 2
        tya
        QS_SET  mv_lo, mv_hi
        ATT_VROW vl_row, vh_row         ; the loads read row i (C = 0 after)
        ldx     #HEAD_DIM - 1
        ; --- per dimension (X = d, from the head's last one down; C = 0 at
        ;     vdim): L = w * vl first (vl = 0: vl0), then by vh: 0 (N += L),
        ;     -1 (N += L - 256 w), 1 (N += L + 256 w); else N += L, then
        ;     N += 256 w vh (vhu). L - 1 comes out of the product (C = 0),
        ;     and the C = 1 it leaves adds the 1 back in the first byte.
vdim:   ldy     kv_v_lo,x
vl_row = * - 2          ; operand, patched: row i of v lo
        beq     vl0                     ; (C = 0)
        ATT_QS_MULCY mv_lo, att_p       ; C = 0: A:p = L - 1 (L >= 1: C = 1 after)
        ldy     kv_v_hi,x
vh_row = * - 2          ; operand, patched: row i of v hi
        beq     vadd                    ; vh = 0 (C = 1)
        cpy     #$ff                    ; C = 1 at each target (the last cpy equal, or Y > 1)
        beq     vm
        cpy     #$fe
        beq     vm2
        cpy     #1
        beq     vp
        jmp     vgen
vp:     clc                             ; vh = 1: A := hi(L - 1) + w; hi(L - 1) < w
        adc     att_wv
        bcs     vpbig                   ; (>= 256, w large: the 17-bit case)
        sec                             ; + 1
vadd:   ATT_N01_ADD                     ; C = 1: N += (A:p) + 1 (<= 65535)
        bcc     vnext                   ; C = 0 for the next dimension either way
        inc     att_n2,x
        bne     :+
        inc     att_n3,x
:       clc
vnext:  dex
        bpl     vdim
        jmp     vpos

vm2:    sbc     att_wv                  ; vh = -2 (C = 1): A := hi(L - 1) - 2 w; the
        sec                             ; first sbc always borrows (C = 0), the
        sbc     att_wv                  ; second not when the result is >= -256
        bcc     vm2big                  ; (w large: -512..-257)
        bcs     vmt                     ; always: C = 1
vm:     sbc     att_wv                  ; vh = -1 (C = 1): A := hi(L - 1) - w, always
        sec                             ; negative (-w..-1): N += (s, A:p) + 1, s = $ffff
vmt:    ATT_N01_ADD
        bcc     @dec                    ; carry: + s + 1 leaves n2, n3 (C = 0 after)
        clc
        dex
        bpl     vdim
        jmp     vpos
@dec:   lda     att_n2,x                ; no carry: + s, n2:n3 - 1 (C = 0 stays)
        bne     :+
        dec     att_n3,x
:       dec     att_n2,x
        bcc     vnext                   ; always

vpbig:  sbc     att_wv                  ; vh = 1, hi(L - 1) + w >= 256 (C = 1): A back
        sec                             ; to hi(L - 1) (borrows), C = 1 for vgen
        jmp     vgen
vm2big: adc     att_wv                  ; vh = -2, -512 <= hi(L - 1) - 2 w < -256 (C = 0):
        clc                             ; A back to hi(L - 1) (A + w + w, mod 256),
        adc     att_wv                  ; C = 1 for vgen
        sec
        jmp     vgen

vgen:   sta     att_p+1                 ; other vh (C = 1): N += (A:p) + 1 first
        lda     att_n0,x
        adc     att_p
        sta     att_n0,x
        lda     att_n1,x
        adc     att_p+1
        sta     att_n1,x
        bcc     :+
        inc     att_n2,x
        bne     :+
        inc     att_n3,x
:       sec
        ; --- vhu: N += 256 w vh (vh <> 0 in Y, C = 1): U = w * (vh & $ff)
        ;     is exact (C = 1); vh < 0: w vh = U - 256 w
vhu:    ATT_QS_MULCY mv_hi, att_p+2     ; C = 1: U (A = its high byte), C = 1 after
        cpy     #$80
        bcc     @pos                    ; vh > 0: + (0, U) << 8
        sbc     att_wv                  ; vh < 0 (C = 1): U - 256 w (-128 w..-w, 16 bits
        ldy     #$ff                    ; signed): + ($ff, U - 256 w) << 8
        bne     @add                    ; always
@pos:   ldy     #0
@add:   sta     att_p+3
        clc
        lda     att_n1,x
        adc     att_p+2
        sta     att_n1,x
        lda     att_n2,x
        adc     att_p+3
        sta     att_n2,x
        tya
        adc     att_n3,x                ; (mod 2^32)
        sta     att_n3,x
        clc
        jmp     vnext

        ; --- w[i] = 1: N[d] += v[i][d], no product
vone:   ATT_VROW v1l_row, v1h_row       ; X = i: the loads read row i (C = 0 after)
        ldx     #HEAD_DIM - 1
v1dim:  lda     att_n0,x                ; X = d, from the head's last dimension down; C = 0
        adc     kv_v_lo,x
v1l_row = * - 2         ; operand, patched: row i of v lo
        sta     att_n0,x
        lda     kv_v_hi,x
v1h_row = * - 2         ; operand, patched: row i of v hi
        bmi     @neg
        adc     att_n1,x                ; vh >= 0: + (0, vh)
        sta     att_n1,x
        bcc     @next                   ; C = 0 for the next dimension either way
        inc     att_n2,x
        bne     :+
        inc     att_n3,x
:       clc
@next:  dex
        bpl     v1dim
        jmp     vpos
@neg:   adc     att_n1,x                ; vh < 0: + ($ffff, vh)
        sta     att_n1,x
        bcs     :+                      ; carry: n2, n3 unchanged
        lda     att_n2,x                ; no carry: n2:n3 - 1 (C = 0)
        bne     @dec
        dec     att_n3,x
@dec:   dec     att_n2,x
        bcc     @next                   ; always
:       clc
        bcc     @next                   ; always

        ; --- out[d] = floordiv(N[d], W). When -256 * KMAX * W <= N < 256 * KMAX * W
        ;     (-2048 <= out < 2048: every output of the trained souls measured) an
        ;     8-step division: R = N >> 8 reduced into 0..W-1 by k (0..KMAX-1)
        ;     subtractions of W (N >= 0) or k (1..KMAX) additions (N < 0; k = 1
        ;     when -256 * W <= N < 0), dividend byte N & 255, out = 256 (+-k) + the
        ;     8-bit quotient (N = 256 (R +- k W) + N & 255 with R < W). Else
        ;     floordiv(N', W) - 2^15 on N' = N + 2^15 * W (0 <= N' <= 65535 * W):
        ;     16 steps.
        ;     Restoring division, unrolled: the remainder R < W < 2^15 is kept in
        ;     A (high) and att_rl (low); 2R + 1 < 2^16, so no 17th bit. Each step
        ;     rotates the previous quotient bit (C) into the dividend byte it
        ;     consumes: one byte per 8 steps, 9 rols each; it compares the
        ;     high bytes first (the low bytes only when they are equal). out =
        ;     (att_dq, att_dq+1): the 8-step paths set att_dq+1 to +-k.
divide: lda     att_w
        sta     dv_den
        lda     att_w+1
        sta     dv_den+1
        ldx     #HEAD_DIM - 1           ; X = d, from the last dimension down
dloop:  lda     att_n3,x
        beq     @npos                   ; 0 <= N < 2^24
        cmp     #$ff
        bne     @slow
        clc                             ; -2^24 <= N < 0: R = N >> 8 + k W for the
        lda     att_n1,x                ; least k >= 1 that carries out of 16 bits
        adc     dv_den                  ; (then 0 <= R < W), out high byte -k
        sta     att_rl
        lda     att_n2,x
        adc     dv_den+1
        tay                             ; Y = R high
        lda     #$ff                    ; out high byte -1
        bcs     @fast
@nnext: cmp     #<(-ATT_DIV_KMAX)       ; R still negative; A = -k
        beq     @slow                   ; k = KMAX: out < -256 * KMAX
        sbc     #1                      ; C = 1 (A > -KMAX): k += 1
        sta     att_dq+1
        clc                             ; R += W
        lda     att_rl
        adc     dv_den
        sta     att_rl
        tya
        adc     dv_den+1
        tay
        lda     att_dq+1
        bcc     @nnext
        bcs     @fast                   ; always: 0 <= R < W
@npos:  lda     #0                      ; R = N >> 8 (high byte in Y), out high
        sta     att_dq+1                ; byte k = 0; while R >= W: R -= W, k += 1
        ldy     att_n2,x
        lda     att_n1,x
@pnext: sta     att_rl                  ; R < W ? (A = R low)
        cmp     dv_den
        tya
        sbc     dv_den+1
        bcc     @fast2                  ; yes: 8 steps, out = 256 k + quotient
        tay                             ; C = 1: R -= W
        lda     att_rl
        sbc     dv_den
        inc     att_dq+1
        pha
        lda     att_dq+1
        cmp     #ATT_DIV_KMAX
        pla
        bcc     @pnext                  ; k = KMAX: out >= 256 * KMAX
@slow:  jmp     dslow                   ; out of line (beyond the branches' reach)
@fast:  sta     att_dq+1
@fast2: lda     att_n0,x
        sta     att_dq
        tya                             ; A = R high
dlow:   .repeat 7                       ; bits 7..1 into the low byte (the stale
        ATT_DIV_STEP att_dq             ; bit again falls out at the 9th rol)
        .endrepeat
        rol     att_dq                  ; bit 0: the last step needs no remainder
        rol     att_rl
        rol     a
        cmp     dv_den+1                ; C = (2R + bit >= D): the high bytes,
        bne     :+                      ; or the low bytes when those are equal
        ldy     att_rl
        cpy     dv_den
:       rol     att_dq
        txa                             ; out[d] at 2d
        asl     a
        tay
        lda     att_dq
        sta     (att_out),y
        iny
        lda     att_dq+1
        sta     (att_out),y
        dex
        bmi     @done
        jmp     dloop
@done:  rts

dslow:  lda     dv_den+1                ; N' = N + 2^15 * W: 2^15 W = (0, b1, b2, b3),
        lsr     a                       ; b3 = W >> 9, b2 = (W >> 1) & $ff,
        sta     att_nb+3                ; b1 = (W & 1) << 7
        lda     dv_den
        ror     a
        sta     att_nb+2
        lda     #0
        ror     a                       ; C = 0 after
        adc     att_n1,x                ; quotient bytes := N' bits 0..15
        sta     att_dq+1
        lda     att_n2,x
        adc     att_nb+2
        sta     att_rl
        lda     att_n0,x                ; (C kept)
        sta     att_dq
        lda     att_n3,x                ; R := N' >> 16 (< W)
        adc     att_nb+3
        stx     att_i                   ; d
        ldx     #8                      ; quotient bits 15..8 into the high byte
dhigh:  ATT_DIV_STEP att_dq+1           ; (C in: the previous quotient bit; the
        dex                             ; first one is stale and falls out at
        bne     dhigh                   ; the 9th rol, where bit 8 goes in; a
        rol     att_dq+1                ; loop: only out outside -2048..2047)
        tay                             ; - 2^15 (A and C kept)
        lda     att_dq+1
        eor     #$80
        sta     att_dq+1
        tya
        ldx     att_i
        jmp     dlow
.endproc
