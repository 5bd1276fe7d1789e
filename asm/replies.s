; replies.s - the corpus reply mode: the trie of the corpus replies and the
; walk along it (soulplayer.replies.ReplyTrie, soulplayer.chat.generate).
; In corpus mode each step may only choose a token that continues some reply
; of the corpus; trie_mask marks those tokens in sample_mask for the chooser
; (masked_argmax or sample_next), trie_follow steps along the chosen one.
;
; The trie is stored as its root-to-leaf paths (the generated
; replies_data.inc, soulplayer.gen.replies_inc): `reply_data` holds
; REPLY_COUNT replies, each its token ids and then SEP. reply_alive[i] says
; whether reply i still begins with the tokens chosen so far: the replies
; alive are the trie node reached, and their tokens at reply_depth are its
; children.

.include "program.inc"
.include "program_const.inc"
.include "replies.inc"
.include "replies_data.inc"

.import sample_mask
.export trie_reset, trie_mask, trie_follow, reply_mode, reply_data

.segment "ZEROPAGE"
reply_ptr:      .res 2          ; the reply being looked at

.segment "BSS"
reply_mode:     .res 1          ; REPLY_MODE_FREE or REPLY_MODE_CORPUS
reply_depth:    .res 1          ; tokens of this reply chosen so far
reply_tok:      .res 1          ; trie_follow: the token chosen
reply_i:        .res 1          ; trie_mask: the reply's index
reply_alive:    .res REPLY_COUNT + 1    ; nonzero: reply i matches so far (+1: never empty)

.segment "CODE"

.assert REPLY_COUNT < 256, error, "replies are counted and indexed in X"
.assert TOKEN_SEP <> 0, error, "a reply ends at its SEP"

; trie_reset: a new reply starts at the root: every reply is alive.
; in: - ; out: reply_alive, reply_depth = 0 ; clobbers: A, X
; cycles: ~ 10 * REPLY_COUNT
.proc trie_reset
        lda #0
        sta reply_depth
        lda #1
        ldx #0
loop:   cpx #REPLY_COUNT
        beq done
        sta reply_alive,x
        inx
        bne loop                ; always (X < 256)
done:   rts
.endproc

; trie_mask: sample_mask := 1 for the tokens that continue a reply from the
; node reached (each alive reply's token at reply_depth), 0 for every other id.
; in: reply_alive, reply_depth ; out: sample_mask ; clobbers: A, X, Y
; cycles: ~ 9 * VOCAB_SIZE + 12 * REPLY_BYTES + 40 * REPLY_COUNT
.proc trie_mask
        lda #0
        tax
clear:  sta sample_mask,x
        inx
        cpx #VOCAB_SIZE
        bne clear
        jsr first_reply         ; X := 0
loop:   cpx #REPLY_COUNT
        beq done
        lda reply_alive,x
        beq skip
        stx reply_i
        ldy reply_depth
        lda (reply_ptr),y       ; an alive reply is longer than reply_depth
        tax
        lda #1
        sta sample_mask,x
        ldx reply_i
skip:   jsr next_reply
        inx
        bne loop                ; always (X < 256)
done:   rts
.endproc

; trie_follow: step along token A: the alive replies whose token at
; reply_depth is another one die; reply_depth + 1.
; in: A = the token chosen ; out: reply_alive, reply_depth ; clobbers: A, X, Y
; cycles: ~ 12 * REPLY_BYTES + 40 * REPLY_COUNT
.proc trie_follow
        sta reply_tok
        jsr first_reply         ; X := 0
loop:   cpx #REPLY_COUNT
        beq done
        lda reply_alive,x
        beq skip
        ldy reply_depth
        lda (reply_ptr),y
        cmp reply_tok
        beq skip
        lda #0
        sta reply_alive,x
skip:   jsr next_reply
        inx
        bne loop                ; always (X < 256)
done:   inc reply_depth
        rts
.endproc

; first_reply: reply_ptr := the first reply.
; in: - ; out: reply_ptr, X = 0 ; clobbers: A, X ; cycles: 14
.proc first_reply
        lda #<reply_data
        sta reply_ptr
        lda #>reply_data
        sta reply_ptr+1
        ldx #0
        rts
.endproc

; next_reply: reply_ptr := past the SEP that ends this reply.
; in: reply_ptr ; out: reply_ptr ; clobbers: A, Y (X kept)
; cycles: ~ 12 per token of the reply
.proc next_reply
        ldy #0
find:   lda (reply_ptr),y
        iny
        cmp #TOKEN_SEP
        bne find
        tya                     ; reply_ptr += Y (the reply with its SEP)
        clc
        adc reply_ptr
        sta reply_ptr
        bcc done
        inc reply_ptr+1
done:   rts
.endproc
