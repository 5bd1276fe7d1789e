; kernel_driver.s - runs single engine kernels on data from a command stream
; (tests/test_vice_kernels.py). kt_cmds is written by the harness before main;
; results are appended at drv_out. Records:
;   1 sel n (count shift)*n x[2*ED]
;                          matmul (sel 0: l0_fc1 with bias -> rows int16
;                          interleaved; sel 1: out -> rows low bytes, then rows
;                          high bytes, as the logits), output ranges of count
;                          rows with their shift, from row 0 up (n <= 3)
;   2 tok pos              embed -> ED int16, then its sum of squares (4 bytes)
;   3 h[2*ED] y[2*ED]      residual_add -> ED int16, then its sum of squares
;                          (rms_s, 4 bytes)
;   4 shift v[2*FF]        l0's fc2 over relu(v) (mm_relu) -> ED int16 at
;                          that shift (one range)
;   5 lo[VS] hi[VS]        engine_argmax -> 1 byte
;   0                      end (drv_done)

.include "c64.inc"
.include "macros.inc"
.include "model.inc"
.include "spec.inc"

.import engine_init, mm_sweep, mm_ostep, mm_pn, mm_pcount, mm_pshift
.import mm_pout_l, mm_pout_h, mm_pouth_l, mm_pouth_h
.importzp mm_x, mm_out
.import embed, res_bind, residual_add, engine_argmax, mm_relu
.importzp res_h, res_y, rms_s
.import layer_table, out_desc, logits_lo, logits_hi, vec_a, vec_h, vec_y, vec_z
.export main, drv_done, kt_cmds, drv_out

KT_CMDS_SIZE    = 2048          ; (tests/test_vice_kernels.py: STREAM_MAX)

.segment "ZEROPAGE"
kt_p:           .res 2          ; command pointer
kt_o:           .res 2          ; output pointer
kt_n:           .res 1
kt_hi:          .res 2          ; matmul: where the next range's high bytes go

.segment "DATA"
kt_cmds:        .res KT_CMDS_SIZE

.segment "OUTBUF"
drv_out:        .res 1

.segment "CODE"

; copy kt_n bytes from the command stream to (mm_out) and advance the stream
; (the engine's vectors lie under I/O: RAM banked in for the copy)
.proc take
        ldy     #BANK_ALL_RAM
        sty     CPU_PORT
        ldy     #0
:       lda     (kt_p),y
        sta     (mm_out),y
        iny
        cpy     kt_n
        bne     :-
        ldy     #BANK_NO_BASIC
        sty     CPU_PORT
        ADD16_8 kt_p, kt_n
        rts
.endproc

; append kt_n bytes from (mm_out) to the output (RAM banked in, as take)
.proc emit
        ldy     #BANK_ALL_RAM
        sty     CPU_PORT
        ldy     #0
:       lda     (mm_out),y
        sta     (kt_o),y
        iny
        cpy     kt_n
        bne     :-
        ldy     #BANK_NO_BASIC
        sty     CPU_PORT
        ADD16_8 kt_o, kt_n
        rts
.endproc

.proc main
        lda     #BANK_NO_BASIC
        sta     CPU_PORT
        sei                             ; mm_sweep needs the RAM under I/O banked in
        jsr     engine_init
        LDPTR   kt_p, kt_cmds
        LDPTR   kt_o, drv_out
next:   ldy     #0
        lda     (kt_p),y
        bne     :+
        jmp     drv_done
:       pha
        inc     kt_p
        bne     :+
        inc     kt_p+1
:       pla
        cmp     #1
        beq     op_matmul
        cmp     #2
        bne     :+
        jmp     op_embed
:       cmp     #3
        bne     :+
        jmp     op_residual
:       cmp     #4
        bne     :+
        jmp     op_relu
:       jmp     op_argmax
op_matmul:
        ldy     #0
        lda     (kt_p),y
        pha                             ; sel
        iny
        lda     (kt_p),y
        sta     mm_pn
        ; kt_hi := the high bytes' start: out + rows (split) or out + 1
        pla
        pha
        beq     :+
        lda     #VOCAB_SIZE             ; split: out's rows low bytes first
        ldx     #1                      ; ostep
        bne     :++
:       lda     #1                      ; interleaved
        ldx     #2
:       stx     mm_ostep
        clc
        adc     kt_o
        sta     kt_hi
        lda     kt_o+1
        adc     #0
        sta     kt_hi+1
        ; the ranges: count, shift; out and high bytes step count * ostep
        ldx     #0
        ldy     #2
range:  lda     (kt_p),y
        sta     mm_pcount,x
        iny
        lda     (kt_p),y
        sta     mm_pshift,x
        iny
        lda     kt_o
        sta     mm_pout_l,x
        lda     kt_o+1
        sta     mm_pout_h,x
        lda     kt_hi
        sta     mm_pouth_l,x
        lda     kt_hi+1
        sta     mm_pouth_h,x
        lda     mm_pcount,x
        ldy     mm_ostep
        cpy     #2
        bne     :+
        asl
:       sta     kt_n
        ADD16_8 kt_o, kt_n
        ADD16_8 kt_hi, kt_n
        inx
        txa
        asl
        adc     #2
        tay
        cpx     mm_pn
        bne     range
        sty     kt_n                    ; skip the header
        ADD16_8 kt_p, kt_n
        LDPTR   mm_out, vec_a
        lda     #2 * EMBED_DIM
        sta     kt_n
        jsr     take
        LDPTR   mm_x, vec_a
        pla
        bne     sel_out
        lda     layer_table + LayerRec::fc1     ; l0's fc1 descriptor
        ldx     layer_table + LayerRec::fc1 + 1
        jmp     sweep
sel_out:
        lda     #<out_desc
        ldx     #>out_desc
sweep:  ldy     #BANK_ALL_RAM
        sty     CPU_PORT
        jsr     mm_sweep
        ldy     #BANK_NO_BASIC
        sty     CPU_PORT
        lda     mm_ostep                ; split: the high bytes follow
        cmp     #2
        beq     :+
        MOVPTR  kt_o, kt_hi
:       jmp     next
op_embed:
        ldy     #0
        lda     (kt_p),y
        pha
        iny
        lda     (kt_p),y
        tax
        ADD16_8 kt_p, #2
        ldy     #BANK_ALL_RAM           ; the squares tables under I/O
        sty     CPU_PORT
        pla
        jsr     embed
        ldy     #BANK_NO_BASIC
        sty     CPU_PORT
        LDPTR   mm_out, vec_h
        lda     #2 * EMBED_DIM
        sta     kt_n
        jsr     emit
        LDPTR   mm_out, rms_s
        lda     #4
        sta     kt_n
        jsr     emit
        jmp     next
op_residual:
        LDPTR   mm_out, vec_h
        lda     #2 * EMBED_DIM
        sta     kt_n
        jsr     take
        LDPTR   mm_out, vec_y
        jsr     take
        LDPTR   res_h, vec_h
        LDPTR   res_y, vec_y
        jsr     res_bind
        ldy     #BANK_ALL_RAM           ; the squares tables under I/O
        sty     CPU_PORT
        jsr     residual_add
        ldy     #BANK_NO_BASIC
        sty     CPU_PORT
        LDPTR   mm_out, vec_h
        jsr     emit
        LDPTR   mm_out, rms_s
        lda     #4
        sta     kt_n
        jsr     emit
        jmp     next
op_relu:
        ldy     #0
        lda     (kt_p),y
        sta     mm_pshift
        ADD16_8 kt_p, #1
        LDPTR   mm_out, vec_z
        lda     #2 * FF_DIM
        sta     kt_n
        jsr     take
        lda     #1
        sta     mm_pn
        sta     mm_relu
        lda     #EMBED_DIM
        sta     mm_pcount
        lda     #2
        sta     mm_ostep
        lda     kt_o
        sta     mm_pout_l
        ldx     kt_o+1
        stx     mm_pout_h
        clc
        adc     #1
        sta     mm_pouth_l
        bcc     :+
        inx
:       stx     mm_pouth_h
        LDPTR   mm_x, vec_z
        lda     layer_table + LayerRec::fc2
        ldx     layer_table + LayerRec::fc2 + 1
        ldy     #BANK_ALL_RAM
        sty     CPU_PORT
        jsr     mm_sweep
        ldy     #BANK_NO_BASIC
        sty     CPU_PORT
        ADD16_8 kt_o, #2 * EMBED_DIM
        jmp     next
op_argmax:
        LDPTR   mm_out, logits_lo
        lda     #VOCAB_SIZE
        sta     kt_n
        jsr     take
        LDPTR   mm_out, logits_hi
        jsr     take
        jsr     engine_argmax
        ldy     #0
        sta     (kt_o),y
        inc     kt_o
        bne     :+
        inc     kt_o+1
:       jmp     next
.endproc

.proc drv_done
        lda     #0
        sta     DEBUGCART_EXIT
        jmp     drv_done
.endproc
