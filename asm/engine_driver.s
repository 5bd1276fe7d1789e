; engine_driver.s - test/CLI driver for the engine (tools/engine_vice.py):
; walks drv_table (written into RAM by the harness before main runs) and
; leaves the requested logits vectors one after another at drv_out.
;
; drv_table: per case a length n (1..CONTEXT), then n pairs (token id, emit);
; emit 1: after this step append logits_lo[0..VS-1], logits_hi[0..VS-1] to
; the output; emit DRV_PREFILL: run this id with engine_prefill instead. A length of 0 ends the table. drv_done is reached at the end.

.include "c64.inc"
.include "macros.inc"
.include "model.inc"

.import engine_init, engine_reset, engine_step, engine_prefill, logits_lo, logits_hi
.export main, drv_done, drv_table, drv_table_end, drv_out

DRV_TABLE_SIZE  = 2048
DRV_PREFILL     = 2             ; (tools/engine_vice.py: PREFILL)

.segment "ZEROPAGE"
drv_tp:         .res 2          ; table pointer
drv_op:         .res 2          ; output pointer
drv_n:          .res 1          ; steps left in this case
drv_emit:       .res 1

.segment "DATA"
drv_table:      .res DRV_TABLE_SIZE
drv_table_end:

.segment "OUTBUF"
drv_out:        .res 1          ; the buffer runs on to the end of RAM ($CFFF)

.segment "CODE"

; main: run every case of drv_table. cycles: the engine's
.proc main
        lda     #BANK_NO_BASIC
        sta     CPU_PORT
        jsr     engine_init
        LDPTR   drv_tp, drv_table
        LDPTR   drv_op, drv_out
next_case:
        ldy     #0
        lda     (drv_tp),y
        beq     drv_done
        sta     drv_n
        jsr     engine_reset
        ldy     #1
step:   lda     (drv_tp),y              ; y = 1: the id of this step
        pha
        iny
        lda     (drv_tp),y
        sta     drv_emit
        pla
        ldx     drv_emit
        cpx     #DRV_PREFILL
        bne     :+
        jsr     engine_prefill
        jmp     skip
:       jsr     engine_step
        lda     drv_emit
        beq     skip
        ldy     #VOCAB_SIZE - 1
:       lda     logits_lo,y
        sta     (drv_op),y
        dey
        cpy     #$ff
        bne     :-
        ADD16_8 drv_op, #VOCAB_SIZE
        ldy     #VOCAB_SIZE - 1
:       lda     logits_hi,y
        sta     (drv_op),y
        dey
        cpy     #$ff
        bne     :-
        ADD16_8 drv_op, #VOCAB_SIZE
skip:   ADD16_8 drv_tp, #2
        ldy     #1
        dec     drv_n
        bne     step
        inc     drv_tp                  ; past the length byte
        bne     next_case
        inc     drv_tp+1
        jmp     next_case
.endproc

; drv_done: the harness stops here (dumps, quit); the debug cartridge exit
; is a fallback when run by hand.
.proc drv_done
        lda     #0
        sta     DEBUGCART_EXIT
        jmp     drv_done
.endproc
