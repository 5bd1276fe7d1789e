; replies.s - the corpus reply mode: the trie of the corpus replies and the
; walk along it (soulplayer.replies.ReplyTrie, soulplayer.chat.generate).
; In corpus mode each step may only choose a token that continues some reply
; of the corpus; trie_mask marks those tokens in sample_mask for the chooser
; (masked_argmax or sample_next), trie_follow steps along the chosen one.
;
; The trie is stored as its root-to-leaf paths in depth-first order (the
; generated replies_data.inc, soulplayer.gen.replies_inc): `reply_data` holds
; REPLY_COUNT replies, each its token ids with bit 7 set on the last one; the
; SEP that ends a reply is implied after it. Depth-first order keeps the
; replies below a trie node together, so the node reached is a run of
; reply_count replies from reply_first, which all begin with the
; reply_depth tokens chosen so far; their tokens at reply_depth are the
; node's children. A node with one child needs no logits to choose
; (trie_single): the program then skips the output layer, and once one reply
; is left (reply_count = 1) it runs no engine step at all.

.include "program.inc"
.include "program_const.inc"
.include "replies.inc"
.include "replies_data.inc"

.import sample_mask, mask_fill
.export trie_reset, trie_mask, trie_follow, trie_single, reply_mode, reply_count, reply_data

REPLY_LAST      = $80           ; bit 7 of a reply's last token

.segment "ZEROPAGE"
reply_ptr:      .res 2          ; the reply being looked at

.segment "BSS"
reply_mode:     .res 1          ; REPLY_MODE_FREE or REPLY_MODE_CORPUS
reply_first:    .res 2          ; the node reached: its first reply,
reply_count:    .res 1          ; its number of replies,
reply_depth:    .res 1          ; the tokens of this reply chosen so far
reply_left:     .res 1          ; replies of the node still to look at
reply_tok:      .res 1          ; trie_follow: the token chosen

.segment "CODE"

.assert REPLY_COUNT < 256, error, "replies are counted in a byte"
.assert VOCAB_SIZE <= REPLY_LAST || REPLY_COUNT = 0, error, "token ids leave bit 7 free for the end mark"

; trie_reset: a new reply starts at the root: every reply, depth 0.
; in: - ; out: reply_first, reply_count, reply_depth ; clobbers: A ; cycles: 26
.proc trie_reset
        lda #<reply_data
        sta reply_first
        lda #>reply_data
        sta reply_first+1
        lda #REPLY_COUNT
        sta reply_count
        lda #0
        sta reply_depth
        rts
.endproc

; trie_mask: sample_mask := 1 for the tokens that continue a reply from the
; node reached (its replies' tokens at reply_depth), 0 for every other id.
; in: the node (reply_count >= 1) ; out: sample_mask ; clobbers: A, X, Y
; cycles: ~ 9 * VOCAB_SIZE + (60 + 14 * length) per reply of the node
.proc trie_mask
        lda #0
        jsr mask_fill
        jsr first_reply
mark:   jsr reply_token
        tax
        lda #1
        sta sample_mask,x
        jsr next_reply
        dec reply_left
        bne mark
        rts
.endproc

; trie_single: does the node reached allow one token only? Its replies are a
; run in depth-first, id order, so their tokens at reply_depth are sorted: it
; is single when none differs from the first one's (the walk stops at the
; first that differs).
; in: the node (reply_count >= 1) ; out: C = 1 and A = the only token, or
; C = 0 (several) ; clobbers: A, Y, reply_ptr, reply_left, reply_tok
; cycles: ~ (60 + 14 * length) per reply looked at
.proc trie_single
        jsr first_reply
        jsr reply_token
        sta reply_tok
next:   dec reply_left
        beq single
        jsr next_reply
        jsr reply_token
        cmp reply_tok
        beq next
        clc                     ; C = 0: a second token
        rts
single: lda reply_tok
        sec                     ; C = 1: the only one
        rts
.endproc

; trie_follow: step along token A: the node's replies with A at reply_depth
; (a run of them, in depth-first order) become the node; reply_depth + 1.
; in: A = a token that trie_mask marked ; out: the node ; clobbers: A, X, Y
; cycles: ~ (60 + 14 * length) per reply of the node
.proc trie_follow
        sta reply_tok
        jsr first_reply
find:   jsr reply_token
        cmp reply_tok
        beq found
        jsr next_reply
        dec reply_left
        bne find
        beq done                ; not a child (never, for a marked token): stay
found:  lda reply_ptr
        sta reply_first
        lda reply_ptr+1
        sta reply_first+1
        ldx #0                  ; X counts the run
count:  inx
        jsr next_reply
        dec reply_left
        beq counted
        jsr reply_token
        cmp reply_tok
        beq count
counted:
        stx reply_count
done:   inc reply_depth
        rts
.endproc

; first_reply: reply_ptr := the node's first reply, reply_left := its count.
; in: reply_first, reply_count ; out: reply_ptr, reply_left ; clobbers: A
; cycles: 24
.proc first_reply
        lda reply_first
        sta reply_ptr
        lda reply_first+1
        sta reply_ptr+1
        lda reply_count
        sta reply_left
        rts
.endproc

; reply_token: the token at reply_depth of the reply at reply_ptr (SEP just
; after its last token). The reply is one of the node's: it is at least
; reply_depth tokens long.
; in: reply_ptr, reply_depth ; out: A = token id ; clobbers: A, Y ; cycles: ~ 30
.proc reply_token
        ldy reply_depth
        beq read
        dey
        lda (reply_ptr),y
        bmi sep                 ; the token before was the last one
        iny
read:   lda (reply_ptr),y
        and #<~REPLY_LAST
        rts
sep:    lda #TOKEN_SEP
        rts
.endproc

; next_reply: reply_ptr := the reply after this one.
; in: reply_ptr ; out: reply_ptr ; clobbers: A, Y (X kept)
; cycles: ~ 14 per token of the reply
.proc next_reply
        ldy #$ff
find:   iny
        lda (reply_ptr),y
        bpl find                ; bit 7: the last token
        iny                     ; Y = the reply's length
        tya
        clc
        adc reply_ptr
        sta reply_ptr
        bcc done
        inc reply_ptr+1
done:   rts
.endproc
