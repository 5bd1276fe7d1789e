; input.s - the YOU> line editor. Keys come from GETIN (the KERNAL's IRQ
; scans the keyboard); letters fold to lower case, keys outside the 35
; characters are dropped, DEL deletes. A character is refused when the line
; with it would be longer than MAX_INPUT_CHARS or encode to more than
; MAX_INPUT_TOKENS tokens (the rule of soulplayer.chat.fit_input, checked by
; re-encoding on every key). A refusal makes the line full: every further
; character is refused too, until DEL shortens the line, so typed text ends up
; exactly as fit_input cuts it. The border is red while the line is full.

.include "program.inc"
.include "program_const.inc"

.import bpe_encode, print_token, line_ids, petscii_to_id
.import border_normal
.export read_line, read_digits, line_len, soul_input

.segment "BSS"
line_len:       .res 1          ; characters in line_ids
new_id:         .res 1          ; the key being tried, as a base id
line_full:      .res 1          ; nonzero after a refusal, until DEL
digit_max:      .res 1          ; read_digits: most digits allowed

.segment "CODE"

.assert MAX_INPUT_TOKENS = CONTEXT - 2 - REPLY_ROOM, error, "the prompt leaves room for 2 SEPs and the reply"

; read_line: edit a line at the cursor until RETURN (or F1 on an empty line).
; soul_input (exported, for profiling) is its entry: the program starts
; waiting for a line there, with "YOU> " already on the screen.
; in: -
; out: line_ids[0..line_len) = the line as base ids; A = PET_RETURN or PET_F1
; clobbers: A, X, Y
; cycles: waits for keys; each accepted key re-encodes (<= ~ 70k cycles)
.proc read_line
        lda #0
        sta line_len
        sta line_full
        jsr show_cursor
wait:   jsr wait_key
        cmp #PET_RETURN
        beq finish
        cmp #PET_DEL
        beq delete
        cmp #PET_F1
        beq settings
        lda petscii_to_id,x
        beq wait                ; not one of the 35: dropped
        sta new_id
        ldx line_full
        bne refuse
        ldx line_len
        cpx #MAX_INPUT_CHARS
        bcs refuse
        sta line_ids,x
        inx
        txa
        jsr bpe_encode
        cmp #MAX_INPUT_TOKENS+1
        bcs refuse
        inc line_len
        lda new_id
        jsr print_token         ; a base id prints its character
        jsr show_cursor
        jsr border_normal
        jmp wait
refuse: lda #COLOR_RED
        sta BORDER
        sta line_full           ; nonzero: full until DEL
        jmp wait
delete: lda line_len
        beq wait
        jsr erase_last
        lda #0
        sta line_full
        jsr border_normal
        jmp wait
settings:
        ldx line_len            ; F1 only on an empty line
        bne wait
finish: pha
        jsr hide_cursor
        jsr border_normal
        pla
        rts
.endproc
soul_input = read_line

; read_digits: edit a number of up to A digits (0-9, DEL) until RETURN.
; in: A = most digits (1..5)
; out: line_ids[0..line_len) = the digits' values 0..9
; clobbers: A, X, Y
; cycles: waits for keys
.proc read_digits
        sta digit_max
        lda #0
        sta line_len
        jsr show_cursor
wait:   jsr wait_key
        cmp #PET_RETURN
        beq finish
        cmp #PET_DEL
        beq delete
        sec
        sbc #'0'
        cmp #10
        bcs wait                ; not a digit
        ldx line_len
        cpx digit_max
        bcs wait
        sta line_ids,x
        inc line_len
        ora #'0'
        jsr CHROUT
        jsr show_cursor
        jmp wait
delete: lda line_len
        beq wait
        jsr erase_last
        jmp wait
finish: jmp hide_cursor
.endproc

; wait_key: wait for a key.
; in: - ; out: A = X = the key (PETSCII, never 0) ; clobbers: Y ; cycles: waits
.proc wait_key
:       jsr GETIN
        tax
        beq :-
        rts
.endproc

; erase_last: drop the line's last character (line_len > 0) from line_len and
; the screen; the cursor moves back onto it.
; in: - ; out: - ; clobbers: A ; cycles: ~ 6 CHROUTs
.proc erase_last
        dec line_len
        jsr hide_cursor
        lda #PET_LEFT
        jsr CHROUT
        jmp show_cursor
.endproc

; show_cursor: draw the cursor (a reversed space) at the print position,
; leaving the print position on it.
; in: - ; out: - ; clobbers: A ; cycles: ~ 4 CHROUTs
.proc show_cursor
        lda #PET_RVS_ON
        jsr CHROUT
        lda #PET_SPACE
        jsr CHROUT
        lda #PET_RVS_OFF
        jsr CHROUT
        lda #PET_LEFT
        jmp CHROUT
.endproc

; hide_cursor: erase the cursor at the print position (the position stays).
; in: - ; out: - ; clobbers: A ; cycles: ~ 2 CHROUTs
.proc hide_cursor
        lda #PET_SPACE
        jsr CHROUT
        lda #PET_LEFT
        jmp CHROUT
.endproc
