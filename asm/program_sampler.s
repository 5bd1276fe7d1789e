; program_sampler.s - temperature sampling with a 16-bit xorshift PRNG,
; reproduced exactly by soulplayer/sampling.py (see there for the rule):
; weight[i] = EXP[min(127, ((max - logit[i]) * k) >> 8)], k = 160 / tenths,
; over the candidates in sample_mask (max too), every other id weighs 0;
; state := xorshift(state); r := state mod sum; the token is the first id
; whose running weight sum exceeds r. The candidates: every id but PAD and
; UNK (mask_free, free mode) or the trie's continuations (replies.s,
; corpus mode), where masked_argmax is the greedy choice.

.include "program.inc"
.include "program_const.inc"

.import logits_lo, logits_hi
.import exp_table               ; EXP (exp_table.s, from spec.inc)
.export sample_next, set_temperature, set_seed, sample_tenths, rng_lo, rng_hi
.export sample_mask, mask_free, masked_argmax

SEED_ZERO       = SAMPLE_SEED_ZERO      ; the state for seed 0 (xorshift never leaves 0)
K_NUMERATOR     = SAMPLE_K_NUMERATOR    ; k = K_NUMERATOR / tenths: k = 16 is T = 1.0
LOGIT_MIN       = $8000         ; -32768, the smallest signed 16-bit logit

.segment "BSS"
sample_tenths:  .res 1          ; temperature in tenths; 0 = greedy
sample_k:       .res 1
rng_lo:         .res 1          ; PRNG state
rng_hi:         .res 1
sample_mask:                    ; nonzero: a candidate id (mask_free, trie_mask);
weight:         .res VOCAB_SIZE ; sample_next turns it into the weights in place
top_lo:         .res 1          ; largest logit
top_hi:         .res 1
d_lo:           .res 1          ; max - logit (unsigned)
d_hi:           .res 1
p0:             .res 1          ; d * k, 24 bits
p1:             .res 1
p2:             .res 1
k_bits:         .res 1
sum_lo:         .res 1          ; sum of weights (<= 255 * 255)
sum_hi:         .res 1
num_lo:         .res 1          ; state, shifted out by the division
num_hi:         .res 1
rem_lo:         .res 1          ; state mod sum, then what is left of it
rem_hi:         .res 1

.segment "CODE"

.assert VOCAB_SIZE < 256, error, "ids are bytes"

; set_temperature: in: A = tenths (0 = greedy, 1..99); out: sample_k set
; clobbers: A, X ; cycles: < 200
.proc set_temperature
        sta sample_tenths
        tax
        beq done
        ldx #0                  ; X := 160 / tenths by repeated subtraction
        lda #K_NUMERATOR
loop:   cmp sample_tenths
        bcc done
        sbc sample_tenths       ; carry is set
        inx
        bne loop                ; always
done:   stx sample_k
        rts
.endproc

; set_seed: in: A = seed low, X = seed high; out: PRNG state (0 -> SEED_ZERO)
; clobbers: A ; cycles: < 30
.proc set_seed
        sta rng_lo
        stx rng_hi
        ora rng_hi
        bne done
        lda #<SEED_ZERO
        sta rng_lo
        lda #>SEED_ZERO
        sta rng_hi
done:   rts
.endproc

; rng_next: state := xorshift16(state) with shifts 7, 9, 8 (J. Metcalf).
; in: - ; out: rng_lo/rng_hi ; clobbers: A ; cycles: 30
.proc rng_next
        lda rng_hi
        lsr
        lda rng_lo
        ror
        eor rng_hi
        sta rng_hi              ; x ^= x << 7 (high byte)
        ror
        eor rng_lo
        sta rng_lo              ; x ^= x >> 9, x ^= x << 7 (low byte)
        eor rng_hi
        sta rng_hi              ; x ^= x << 8
        rts
.endproc

; mask_free: the free mode's candidates: every id but PAD and UNK.
; in: - ; out: sample_mask ; clobbers: A, X ; cycles: ~ 9 * VOCAB_SIZE
.proc mask_free
        lda #1
        ldx #0
loop:   sta sample_mask,x
        inx
        cpx #VOCAB_SIZE
        bne loop
        lda #0
        sta sample_mask+TOKEN_PAD
        sta sample_mask+TOKEN_UNK
        rts
.endproc

; find_top: top := the largest logit over the candidates (-32768 if none).
; in: logits_lo/logits_hi, sample_mask ; out: top_lo/top_hi
; clobbers: A, X ; cycles: ~ 30 * VOCAB_SIZE
.proc find_top
        lda #<LOGIT_MIN
        sta top_lo
        lda #>LOGIT_MIN
        sta top_hi
        ldx #0
loop:   lda sample_mask,x
        beq next
        lda top_lo
        cmp logits_lo,x
        lda top_hi
        sbc logits_hi,x         ; top - logit: N^V = top < logit
        bvc no_ovf
        eor #$80
no_ovf: bpl next
        lda logits_lo,x
        sta top_lo
        lda logits_hi,x
        sta top_hi
next:   inx
        cpx #VOCAB_SIZE
        bne loop
        rts
.endproc

; masked_argmax: greedy over the candidates: the first id (lowest) whose
; logit is the largest candidate logit (chat.choose_next with `allowed`).
; in: logits_lo/logits_hi, sample_mask (at least one candidate)
; out: A = token id ; clobbers: A, X ; cycles: ~ 50 * VOCAB_SIZE
.proc masked_argmax
        jsr find_top
        ldx #0
loop:   lda sample_mask,x
        beq next
        lda logits_lo,x
        cmp top_lo
        bne next
        lda logits_hi,x
        cmp top_hi
        beq found
next:   inx
        bne loop                ; always: a candidate holds the top
found:  txa
        rts
.endproc

; sample_next: choose the next token from the engine's logits.
; in: logits_lo/logits_hi (VOCAB_SIZE signed 16-bit values), sample_k > 0,
;     sample_mask (at least one candidate)
; out: A = token id
; clobbers: A, X, Y
; cycles: ~ 30k (a 16x8 multiply per candidate)
.proc sample_next
        jsr find_top
        lda #0
        sta sum_lo
        sta sum_hi
        ldx #0
wloop:  lda sample_mask,x       ; the mask at x, before weight x replaces it
        beq never
        sec                     ; d := top - logit (0..65535)
        lda top_lo
        sbc logits_lo,x
        sta d_lo
        lda top_hi
        sbc logits_hi,x
        sta d_hi
        jsr mul_d_k
        lda p2                  ; index := min(127, (d * k) >> 8)
        bne far
        lda p1
        bpl near
far:    lda #EXP_LAST
near:   tay
        lda exp_table,y
        jmp store
never:  lda #0
store:  sta weight,x
        clc
        adc sum_lo
        sta sum_lo
        bcc no_carry
        inc sum_hi
no_carry:
        inx
        cpx #VOCAB_SIZE
        bne wloop

        jsr rng_next
        jsr state_mod_sum
        ldx #0                  ; first id with r < running sum
pick:   sec
        lda rem_lo
        sbc weight,x
        tay
        lda rem_hi
        sbc #0
        bcc found
        sta rem_hi
        sty rem_lo
        inx
        bne pick                ; always: r < sum
found:  txa
        rts
.endproc

; mul_d_k: p2:p1:p0 := d_hi:d_lo * sample_k (shift and add, msb first).
; in: d_lo, d_hi, sample_k ; out: p0, p1, p2 ; clobbers: A, Y ; cycles: ~ 250
.proc mul_d_k
        lda #0
        sta p0
        sta p1
        sta p2
        lda sample_k
        sta k_bits
        ldy #8
loop:   asl p0
        rol p1
        rol p2
        asl k_bits
        bcc skip
        clc
        lda p0
        adc d_lo
        sta p0
        lda p1
        adc d_hi
        sta p1
        bcc skip
        inc p2
skip:   dey
        bne loop
        rts
.endproc

; state_mod_sum: rem := rng state mod sum (restoring division, 16 steps).
; in: rng_lo/hi, sum_lo/hi (255..65535: at most 255 ids of weight <= 255) ; out: rem_lo/hi
; clobbers: A, X, Y
; cycles: ~ 600
.proc state_mod_sum
        lda rng_lo
        sta num_lo
        lda rng_hi
        sta num_hi
        lda #0
        sta rem_lo
        sta rem_hi
        ldy #16
loop:   asl num_lo
        rol num_hi
        rol rem_lo
        rol rem_hi
        sec
        lda rem_lo
        sbc sum_lo
        tax
        lda rem_hi
        sbc sum_hi
        bcc skip
        sta rem_hi
        stx rem_lo
skip:   dey
        bne loop
        rts
.endproc
