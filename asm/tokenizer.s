; tokenizer.s - the BPE encoder (same ids as soulplayer.tokenizer.encode)
; and token printing. The tables come from the generated program_data.inc
; (soulplayer.gen.tokenizer_inc): merges in order, token texts in PETSCII.

.include "program.inc"
.include "program_const.inc"
.include "program_data.inc"

.export bpe_encode, print_token, line_ids, enc_buf, enc_len
.export petscii_to_id, token_len

.segment "ZEROPAGE"
text_ptr:       .res 2          ; print_token: the token's text

.segment "BSS"
line_ids:       .res MAX_INPUT_CHARS    ; the typed line as base ids (4..38)
enc_buf:        .res MAX_INPUT_CHARS    ; bpe_encode's work list and result
enc_len:        .res 1                  ; ids in enc_buf
merge_i:        .res 1                  ; next merge to apply
cur_a:          .res 1                  ; the merge being applied: (a, b) -> ab
cur_b:          .res 1
cur_ab:         .res 1
write_i:        .res 1                  ; compaction write index
text_i:         .res 1                  ; print_token: index into the text
text_n:         .res 1                  ; print_token: length of the text

.segment "CODE"

.assert NUM_MERGES < 256, error, "at most 255 merges"
.assert MAX_INPUT_CHARS < 128, error, "line buffer indexed by X"

; bpe_encode: encode line_ids[0..A) with every merge, in merge order.
; For each merge (a, b) -> ab: scan left to right and replace each
; non-overlapping pair a,b by ab (the list is compacted in place; the write
; index never passes the read index).
; in: A = number of ids in line_ids (0..MAX_INPUT_CHARS)
; out: enc_buf[0..enc_len) = token ids, A = enc_len
; clobbers: A, X, Y
; cycles: ~ 25 per id per merge without a match: ~ 70k for 34 characters
.proc bpe_encode
        sta enc_len
        tax
        bne copy
        rts                     ; empty line
copy:   lda line_ids-1,x
        sta enc_buf-1,x
        dex
        bne copy
        stx merge_i             ; X = 0
next:   ldy merge_i
        cpy #NUM_MERGES
        bcc merge
        jmp done
merge:  inc merge_i
        lda merge_a,y
        sta cur_a
        lda merge_b,y
        sta cur_b
        lda merge_ab,y
        sta cur_ab
        ldx #1                  ; X = second index of the pair (X-1, X)
scan:   cpx enc_len
        bcc test
        jmp next                ; no pair left: next merge
test:   lda enc_buf-1,x
        cmp cur_a
        beq maybe
more:   inx
        bne scan                ; always
maybe:  lda enc_buf,x
        cmp cur_b
        bne more
        dex                     ; first pair at X: compact from here on
        stx write_i
pair:   cpx enc_len             ; X = read index
        bcs finish
        lda enc_buf,x
        cmp cur_a
        bne single
        inx
        cpx enc_len
        bcs single_back         ; a is the last id: no pair
        lda enc_buf,x
        cmp cur_b
        bne single_back
        inx                     ; consumed a, b
        lda cur_ab
        ldy write_i
        sta enc_buf,y
        inc write_i
        jmp pair
single_back:
        dex
single: lda enc_buf,x
        ldy write_i
        sta enc_buf,y
        inc write_i
        inx
        jmp pair
finish: lda write_i
        sta enc_len
        jmp next
done:   lda enc_len
        rts
.endproc

; print_token: print a token's text with CHROUT (specials print nothing).
; in: A = token id
; out: -
; clobbers: A, X, Y
; cycles: CHROUT dominated (~ 1k per character)
.proc print_token
        tax
        lda token_len,x
        beq done
        sta text_n
        lda token_start_lo,x
        clc
        adc #<token_text
        sta text_ptr
        lda token_start_hi,x
        adc #>token_text
        sta text_ptr+1
        lda #0
        sta text_i
loop:   ldy text_i
        lda (text_ptr),y
        jsr CHROUT
        inc text_i
        lda text_i
        cmp text_n
        bne loop
done:   rts
.endproc
