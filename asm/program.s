; program.s - the soulplayer chat program: start screen, YOU> line input,
; replies from the engine token by token (free or corpus mode: replies.s),
; F1 settings, q to quit.
;
; Loaded at $0801; basic_stub.s (SYS 2061) jumps to main. While running, BASIC ROM is
; banked out ($01 = $36) and BASIC's zero page $02-$8F belongs to the
; program (saved at start, restored on quit); the KERNAL's is left alone
; because the program uses KERNAL I/O (CHROUT, GETIN, the keyboard IRQ).
;
; Profiling labels (exported, in the VICE label file):
;   soul_token  reached once per generated token (the stop token included),
;               the token id in A;
;   soul_input  reached when the program starts waiting for a line (input.s).

.include "program.inc"
.include "program_const.inc"
.include "replies.inc"

.import engine_init, engine_reset, engine_step, engine_prefill, engine_argmax
.import read_line, read_digits, line_len, line_ids
.import bpe_encode, enc_buf, enc_len, print_token
.import sample_next, set_temperature, set_seed, sample_tenths
.import mask_free, masked_argmax, trie_reset, trie_mask, trie_follow, trie_single, reply_mode, reply_count
.export main, soul_token, border_normal

ZP_FIRST        = $02           ; BASIC's zero page, saved and restored
ZP_COUNT        = $90 - ZP_FIRST
BORDER_COLOR    = COLOR_BLACK
SCREEN_COLOR    = COLOR_BLACK
FLASH_COLOR     = COLOR_DARK_GREY
FLASH_JIFFIES   = 8             ; border toggles every 8/60 s while thinking
ID_Q            = TOKEN_Q       ; base id of 'q' (program_const.inc)
ID_SPACE        = TOKEN_SPACE   ; base id of ' ' (program_const.inc)
BLIP_AD         = $09           ; attack 2 ms, decay 750 ms
BLIP_SR         = $00
BLIP_PITCH      = $20           ; + (id & 31): frequency high byte
TENTHS_DIGITS   = 2
SEED_DIGITS     = 5
MODE_DIGITS     = 1

; screen text: ASCII letters -> PETSCII for the lower/upper case charset
; (numbers, not 'a': ca65 translates character constants through the charmap)
ASCII_LOWER_A   = $61
ASCII_UPPER_A   = $41
.repeat 26, i
        .charmap ASCII_LOWER_A + i, $41 + i
        .charmap ASCII_UPPER_A + i, $c1 + i
.endrepeat

.segment "ZEROPAGE"
str_ptr:        .res 2          ; print_string

.segment "BSS"
zp_save:        .res ZP_COUNT
saved_port:     .res 1
saved_border:   .res 1
saved_bg:       .res 1
saved_color:    .res 1
saved_vic:      .res 1
saved_mode:     .res 1
old_irq:        .res 2
thinking:       .res 1          ; nonzero: the IRQ flashes the border
flash_timer:    .res 1
seq_len:        .res 1          ; tokens fed to the engine in this reply
token:          .res 1          ; the token just chosen
forced:         .res 1          ; nonzero: the next choice is forced_tok (corpus mode)
forced_tok:     .res 1
prompt_i:       .res 1
num_lo:         .res 1          ; read_number's value
num_hi:         .res 1
num_i:          .res 1

.segment "RODATA"
title_text:
        .byte PET_CLEAR, PET_LOWERCASE, PET_LOCK_CASE, PET_YELLOW
        .byte "SoulPlayer: ", SOUL_NAME, PET_RETURN
        .byte PET_GREY, "A tiny transformer, bit-exact on a C64.", PET_RETURN
        .byte PET_LIGHT_BLUE, "Type a line, then RETURN. q quits.", PET_RETURN
.if ::HAVE_REPLIES
        .byte "F1: temperature, seed, replies.", PET_RETURN, 0
.else
        .byte "F1 sets temperature and seed.", PET_RETURN, 0
.endif
you_text:                       ; after new_line
        .byte PET_LIGHT_GREEN, "YOU> ", PET_WHITE, 0
soul_text:
        .byte PET_RETURN, PET_YELLOW, SOUL_NAME, "> ", PET_CYAN, 0
temp_text:
        .byte PET_RETURN, PET_LIGHT_BLUE, "Temperature in tenths (0 greedy)? ", PET_WHITE, 0
seed_text:
        .byte PET_RETURN, PET_LIGHT_BLUE, "Seed (0-99999)? ", PET_WHITE, 0
mode_ask_text:
        .byte PET_RETURN, PET_LIGHT_BLUE, "Replies (0 free, 1 corpus)? ", PET_WHITE, 0
mode_text:
        .byte PET_GREY, "Replies: ", 0
mode_free_text:
        .byte "free", 0
mode_corpus_text:
        .byte "corpus", 0
.assert REPLY_MODE_FREE = 0 && REPLY_MODE_CORPUS = 1, error, "the mode question takes 0 or 1"

.segment "CODE"

; main: entry from BASIC (SYS 2061): set up, chat until q, restore, return.
; in: - ; out: back to BASIC's READY. ; clobbers: everything but BASIC's state
.proc main
        ldx #0
save:   lda ZP_FIRST,x
        sta zp_save,x
        inx
        cpx #ZP_COUNT
        bne save
        lda CPU_PORT
        sta saved_port
        lda #BANK_NO_BASIC
        sta CPU_PORT
        lda BORDER
        sta saved_border
        lda BACKGROUND
        sta saved_bg
        lda TEXT_COLOR
        sta saved_color
        lda VIC_MEMSETUP
        sta saved_vic
        lda SHFLAG_LOCK
        sta saved_mode
        jsr engine_init         ; the engine's tables (~1.5 s)
        lda #0                  ; every RUN starts greedy, seed 1
        jsr set_temperature
        lda #1
        ldx #0
        jsr set_seed
        lda #DEFAULT_REPLY_MODE ; and in the disk's reply mode
        sta reply_mode
        jsr hook_irq
        jsr sid_init
        jsr border_normal
        lda #SCREEN_COLOR
        sta BACKGROUND
        lda #<title_text
        ldx #>title_text
        jsr print_string
        jsr print_mode
        lda #PET_RETURN         ; a blank line before the first prompt
        jsr CHROUT
chat:   jsr new_line
        lda #<you_text
        ldx #>you_text
        jsr print_string
        jsr read_line
        cmp #PET_F1
        beq settings
        lda line_len
        beq chat                ; empty line: a new prompt
        jsr is_quit
        bcs quit                ; q alone (spaces around it allowed) quits
        jsr reply
        jmp chat
settings:
        jsr ask_settings
        jmp chat
quit:   jmp leave
.endproc

; leave: undo main's changes (IRQ, SID, colours, charset, zero page, banking)
; and return to BASIC, which prints READY.
; in: - ; out: - (returns from main's caller) ; clobbers: A, X
.proc leave
        jsr unhook_irq
        lda #0
        sta SID_CTRL
        sta SID_VOLUME
        lda saved_border
        sta BORDER
        lda saved_bg
        sta BACKGROUND
        lda saved_color
        sta TEXT_COLOR
        lda #PET_UNLOCK_CASE
        jsr CHROUT
        lda #PET_UPPERCASE
        jsr CHROUT
        lda #PET_CLEAR
        jsr CHROUT
        lda saved_vic
        sta VIC_MEMSETUP
        lda saved_mode
        sta SHFLAG_LOCK
        ldx #0
restore:
        lda zp_save,x
        sta ZP_FIRST,x
        inx
        cpx #ZP_COUNT
        bne restore
        lda saved_port
        sta CPU_PORT
        rts
.endproc

; reply: encode the line, feed [SEP] ids [SEP] to the engine, then choose,
; print and feed tokens until SEP/END or a full context (chat.generate;
; feed_chosen skips the logits that no choice reads).
; in: line_ids[0..line_len) ; out: - ; clobbers: A, X, Y
; cycles: dominated by engine_step (one per prompt token and reply token)
.proc reply
        lda line_len
        jsr bpe_encode
        lda #<soul_text
        ldx #>soul_text
        jsr print_string
        lda #FLASH_JIFFIES
        sta flash_timer
        sta thinking
        jsr engine_reset
        lda #0
        sta seq_len
        sta prompt_i
        lda #TOKEN_SEP
        jsr prefill
prompt: ldx prompt_i
        cpx enc_len
        beq prompt_end
        inc prompt_i
        lda enc_buf,x
        jsr prefill
        jmp prompt
prompt_end:
        jsr trie_reset          ; corpus mode: at the trie's root
        lda #TOKEN_SEP          ; the last prompt token: with logits unless
        jsr feed_chosen         ; the first choice is forced (as any chosen token)
next:   lda seq_len
        cmp #CONTEXT
        bcs done
        jsr choose
chosen: sta token               ; soul_token: A = the chosen id
        cmp #TOKEN_SEP
        beq done
        cmp #TOKEN_END
        beq done
        jsr print_token
        jsr blip
        lda seq_len             ; with the chosen token: a full context?
        clc
        adc #1
        cmp #CONTEXT
        bcs done
        lda token
        jsr feed_chosen
        jmp next
done:   lda #0
        sta thinking
        jmp border_normal
.endproc
soul_token = reply::chosen

; is_quit: is the line `q` with only spaces around it (soulplayer.chat_cli.is_quit)?
; in: line_ids[0..line_len) ; out: C set = quit ; clobbers: A, X, Y
.proc is_quit
        ldx #0
        ldy #0                  ; q's seen
next:   cpx line_len
        beq done
        lda line_ids,x
        inx
        cmp #ID_SPACE
        beq next
        cmp #ID_Q
        bne no
        iny
        cpy #2
        bcc next                ; C clear: the first q
no:     clc
        rts
done:   cpy #1                  ; C set: exactly one q
        rts
.endproc

; new_line: move the cursor to the start of the next screen row, unless it is
; at the start of a row already (a reply that filled its last row exactly
; left it there: a RETURN would leave that row blank).
; in: - ; out: - ; clobbers: A
.proc new_line
        lda PNTR
        beq done                ; column 0
        cmp #SCREEN_COLS
        beq done                ; column 0 of a logical line's second row
        lda #PET_RETURN
        jmp CHROUT
done:   rts
.endproc

; feed: run one token through the engine (appends to its KV cache); prefill:
; the same without logits (prompt tokens before the last). The step runs with
; interrupts off: flash_timer = 1 makes the IRQ pending at its end toggle the
; border, so the border still flashes once per step.
; in: A = token id ; out: seq_len + 1 ; clobbers: A, X, Y
.proc feed
        ldx #1
        stx flash_timer
        inc seq_len
        jmp engine_step
.endproc
.proc prefill
        ldx #1
        stx flash_timer
        inc seq_len
        jmp engine_prefill
.endproc

; check_forced: is the next choice forced (corpus mode, a trie node with one
; token: chat.generate takes it without logits or a sampler draw)?
; in: reply_mode, the trie node ; out: forced, forced_tok
; clobbers: A, Y, trie_single's reply_ptr, reply_left, reply_tok
; cycles (by instruction count): ~20 in free mode, else ~30 + trie_single's
.proc check_forced
        lda #0
        sta forced
        lda reply_mode
        beq done                ; free mode: every choice reads logits
        jsr trie_single
        bcc done                ; C = 0: several tokens
        sta forced_tok
        inc forced
done:   rts
.endproc

; feed_chosen: feed the chosen token the way the next choice needs it: with
; logits (feed), without (prefill: the next token is forced, but the replies
; branch later), or not at all (one corpus reply left: every later token is
; forced and nothing reads this reply's KV cache again).
; in: A = token id, the trie node after it (the root for the prompt's last
; token) ; out: seq_len + 1, forced
; clobbers: A, X, Y, as check_forced ; cycles: check_forced's + ~20, + the
; engine step (feed or prefill) unless one reply is left
.proc feed_chosen
        pha
        jsr check_forced
        pla
        ldx forced
        beq feed                ; the next choice reads logits
        ldx reply_count
        dex
        bne prefill             ; more than one reply left
        inc seq_len
        rts
.endproc

; choose: the next token, greedy (temperature 0) or sampled, among every id
; but PAD and UNK (free mode) or among the tokens that continue a corpus
; reply from the trie node reached (corpus mode, which then steps along it;
; a forced token, check_forced, is taken without logits or a draw).
; in: the engine's logits ; out: A = id ; clobbers: A, X, Y
; cycles: free greedy ~ 5.5k (engine_argmax); corpus greedy ~ 4-17k (measured,
; the default soul), sampled ~ 30k more
.proc choose
        lda reply_mode
        beq free
        lda forced
        beq masked
        lda forced_tok
        jmp follow
masked: jsr trie_mask
        lda sample_tenths
        bne sampled
        jsr masked_argmax
        jmp follow
sampled:
        jsr sample_next
follow: pha
        jsr trie_follow
        pla
        rts
free:   lda sample_tenths
        beq greedy
        jsr mask_free
        jmp sample_next
greedy: jmp engine_argmax
.endproc
.assert REPLY_MODE_FREE = 0, error, "choose tests reply_mode for free with beq"

; ask_settings: F1 - read temperature (tenths), seed and (with replies on the
; disk) the reply mode; empty keeps a value; then show the reply mode.
; in: - ; out: sampler settings, reply_mode ; clobbers: A, X, Y
.proc ask_settings
        lda #<temp_text
        ldx #>temp_text
        jsr print_string
        lda #TENTHS_DIGITS
        jsr read_number
        bcs seed
        lda num_lo
        jsr set_temperature
seed:   lda #<seed_text
        ldx #>seed_text
        jsr print_string
        lda #SEED_DIGITS
        jsr read_number
        bcs done
        lda num_lo
        ldx num_hi
        jsr set_seed
done:
.if ::HAVE_REPLIES
        lda #<mode_ask_text
        ldx #>mode_ask_text
        jsr print_string
        lda #MODE_DIGITS
        jsr read_number
        bcs show
        lda num_lo
        cmp #REPLY_MODE_CORPUS + 1
        bcs show                ; another digit: keep the mode
        sta reply_mode
show:
.endif
        lda #PET_RETURN
        jsr CHROUT
        jmp print_mode
.endproc

; print_mode: the line "Replies: free" or "Replies: corpus", then RETURN.
; in: reply_mode ; out: - ; clobbers: A, X, Y
.proc print_mode
        lda #<mode_text
        ldx #>mode_text
        jsr print_string
        lda #<mode_free_text
        ldx #>mode_free_text
        ldy reply_mode
        beq print
        lda #<mode_corpus_text
        ldx #>mode_corpus_text
print:  jsr print_string
        lda #PET_RETURN
        jmp CHROUT
.endproc

; read_number: read up to A digits; value mod 65536 (a seed 0..99999 keeps its
; low 16 bits, as soulplayer.sampling.seed_state does).
; in: A = most digits ; out: C set = nothing typed, else num_lo/num_hi
; clobbers: A, X, Y
.proc read_number
        jsr read_digits
        lda #0
        sta num_lo
        sta num_hi
        sta num_i
        lda line_len
        bne digit
        sec
        rts
digit:  lda num_lo              ; num := num * 10 + digit
        ldx num_hi
        asl num_lo
        rol num_hi
        asl num_lo
        rol num_hi              ; num * 4
        clc
        adc num_lo
        sta num_lo
        txa
        adc num_hi
        sta num_hi              ; num * 5
        asl num_lo
        rol num_hi              ; num * 10
        ldx num_i
        lda line_ids,x
        clc
        adc num_lo
        sta num_lo
        bcc no_carry
        inc num_hi
no_carry:
        inc num_i
        lda num_i
        cmp line_len
        bne digit
        clc
        rts
.endproc

; print_string: print a 0-terminated string (at most 255 bytes) with CHROUT.
; in: A/X = address low/high ; out: - ; clobbers: A, Y
.proc print_string
        sta str_ptr
        stx str_ptr+1
        ldy #0
loop:   lda (str_ptr),y
        beq done
        jsr CHROUT
        iny
        bne loop
done:   rts
.endproc

; border_normal: the border colour while not thinking and not refusing.
; in: - ; out: - ; clobbers: A
.proc border_normal
        lda #BORDER_COLOR
        sta BORDER
        rts
.endproc

; sid_init: voice 1 as a short triangle blip, full volume.
; in: - ; out: - ; clobbers: A
.proc sid_init
        lda #BLIP_AD
        sta SID_AD
        lda #BLIP_SR
        sta SID_SR
        lda #0
        sta SID_FREQ_LO
        sta SID_CTRL
        lda #$0f
        sta SID_VOLUME
        rts
.endproc

; blip: restart voice 1 at a pitch from the token id.
; in: token ; out: - ; clobbers: A
.proc blip
        lda token
        and #$1f
        clc
        adc #BLIP_PITCH
        sta SID_FREQ_HI
        lda #SID_TRIANGLE
        sta SID_CTRL
        lda #SID_TRIANGLE | SID_GATE
        sta SID_CTRL
        rts
.endproc

; hook_irq / unhook_irq: chain irq_flash in front of the KERNAL's IRQ.
; in: - ; out: - ; clobbers: A
.proc hook_irq
        lda #0
        sta thinking
        sei
        lda CINV
        sta old_irq
        lda CINV+1
        sta old_irq+1
        lda #<irq_flash
        sta CINV
        lda #>irq_flash
        sta CINV+1
        cli
        rts
.endproc

.proc unhook_irq
        sei
        lda old_irq
        sta CINV
        lda old_irq+1
        sta CINV+1
        cli
        rts
.endproc

; irq_flash: while thinking, toggle the border every FLASH_JIFFIES IRQs;
; then the KERNAL's handler (keyboard, clock).
; in: from the KERNAL's IRQ entry (A, X, Y saved) ; clobbers: A
.proc irq_flash
        lda thinking
        beq chain
        dec flash_timer
        bne chain
        lda #FLASH_JIFFIES
        sta flash_timer
        lda BORDER
        eor #(BORDER_COLOR ^ FLASH_COLOR)
        sta BORDER
chain:  jmp (old_irq)
.endproc
