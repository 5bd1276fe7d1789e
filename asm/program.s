; program.s - the soulplayer chat program: start screen, YOU> line input,
; replies from the engine token by token, F1 settings, q to quit.
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

.import engine_reset, engine_step, engine_argmax, attention_init
.import read_line, read_digits, line_len, line_ids
.import bpe_encode, enc_buf, enc_len, print_token
.import sample_next, set_temperature, set_seed, sample_tenths
.export main, soul_token, border_normal

ZP_FIRST        = $02           ; BASIC's zero page, saved and restored
ZP_COUNT        = $90 - ZP_FIRST
BORDER_COLOR    = COLOR_BLACK
SCREEN_COLOR    = COLOR_BLACK
FLASH_COLOR     = COLOR_DARK_GREY
FLASH_JIFFIES   = 8             ; border toggles every 8/60 s while thinking
ID_Q            = TOKEN_Q       ; base id of 'q' (program_const.inc)
BLIP_AD         = $09           ; attack 2 ms, decay 750 ms
BLIP_SR         = $00
BLIP_PITCH      = $20           ; + (id & 31): frequency high byte
TENTHS_DIGITS   = 2
SEED_DIGITS     = 5

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
        .byte "F1 sets temperature and seed.", PET_RETURN, 0
you_text:
        .byte PET_RETURN, PET_LIGHT_GREEN, "YOU> ", PET_WHITE, 0
soul_text:
        .byte PET_RETURN, PET_YELLOW, SOUL_NAME, "> ", PET_CYAN, 0
temp_text:
        .byte PET_RETURN, PET_LIGHT_BLUE, "Temperature in tenths (0 greedy)? ", PET_WHITE, 0
seed_text:
        .byte PET_RETURN, PET_LIGHT_BLUE, "Seed (0-99999)? ", PET_WHITE, 0

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
        jsr attention_init      ; the engine's tables, built at start (not loaded)
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
        lda #0                  ; every RUN starts greedy, seed 1
        jsr set_temperature
        lda #1
        ldx #0
        jsr set_seed
        jsr hook_irq
        jsr sid_init
        jsr border_normal
        lda #SCREEN_COLOR
        sta BACKGROUND
        lda #<title_text
        ldx #>title_text
        jsr print_string
chat:   lda #<you_text
        ldx #>you_text
        jsr print_string
        jsr read_line
        cmp #PET_F1
        beq settings
        ldx line_len
        beq chat                ; empty line: a new prompt
        dex
        bne talk
        lda line_ids
        cmp #ID_Q
        beq quit                ; q alone quits
talk:   jsr reply
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
; print and feed tokens until SEP/END or a full context (chat.generate).
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
        jsr feed
prompt: ldx prompt_i
        cpx enc_len
        beq prompt_end
        inc prompt_i
        lda enc_buf,x
        jsr feed
        jmp prompt
prompt_end:
        lda #TOKEN_SEP
        jsr feed
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
        jsr feed
        jmp next
done:   lda #0
        sta thinking
        jmp border_normal
.endproc
soul_token = reply::chosen

; feed: run one token through the engine (appends to its KV cache).
; in: A = token id ; out: seq_len + 1 ; clobbers: A, X, Y
.proc feed
        inc seq_len
        jmp engine_step
.endproc

; choose: the next token: greedy (engine_argmax) or sampled (temperature).
; in: the engine's logits ; out: A = id ; clobbers: A, X, Y
.proc choose
        lda sample_tenths
        beq greedy
        jmp sample_next
greedy: jmp engine_argmax
.endproc

; ask_settings: F1 - read temperature (tenths) and seed; empty keeps a value.
; in: - ; out: sampler settings ; clobbers: A, X, Y
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
done:   rts
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
