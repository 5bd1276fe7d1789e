; attention_driver.s - test driver for asm/attention.s (tests/test_vice_attention.py).
; Runs the script in the generated attention_cases.inc (label att_script,
; OUT_BYTES = size of the results), record by record:
;   1, layer, t, k (2*EMBED_DIM bytes), v (2*EMBED_DIM)  -> attn_store_kv
;   2, block, n, q (2*HEAD_DIM)                          -> attention_head,
;                                                           out appended to att_results
;   0                                                    -> done
; att_call / att_back bracket every attention_head call (profiling).

        .include "c64.inc"
        .import attention_head, attn_store_kv, attention_init, attn_init
        .import squares_load            ; the squares tables (squares_tables.s)
        .importzp att_q, att_out, kvs_k, kvs_v
        .export main, done, att_results, att_call, att_back

        .include "attention_cases.inc"

REC_END = 0
REC_STORE = 1
STORE_BYTES = 3 + 4 * EMBED_DIM
ATTEND_BYTES = 3 + 2 * HEAD_DIM

        .segment "ZEROPAGE"
src:    .res 2
dst:    .res 2

        .segment "BSS"
att_results: .res OUT_BYTES

        .segment "CODE"
main:   sei                             ; as in engine_step: all RAM, the
        lda     #BANK_ALL_RAM           ; squares tables under I/O banked in
        sta     CPU_PORT
        jsr     squares_load
        jsr     attention_init          ; the quarter-square tables
        jsr     attn_init               ; the position offset tables
        lda     #<att_script
        sta     src
        lda     #>att_script
        sta     src+1
        lda     #<att_results
        sta     dst
        lda     #>att_results
        sta     dst+1
record: ldy     #0
        lda     (src),y
        bne     :+
        jmp     done
:       cmp     #REC_STORE
        bne     attend
        clc                             ; k = src + 3, v = k + 2*ED
        lda     src
        adc     #3
        sta     kvs_k
        lda     src+1
        adc     #0
        sta     kvs_k+1
        clc
        lda     kvs_k
        adc     #2 * EMBED_DIM
        sta     kvs_v
        lda     kvs_k+1
        adc     #0
        sta     kvs_v+1
        ldy     #2
        lda     (src),y
        tax                             ; t
        dey
        lda     (src),y                 ; layer
        jsr     attn_store_kv
        clc
        lda     src
        adc     #<STORE_BYTES
        sta     src
        lda     src+1
        adc     #>STORE_BYTES
        sta     src+1
        jmp     record
attend: clc                             ; q = src + 3
        lda     src
        adc     #3
        sta     att_q
        lda     src+1
        adc     #0
        sta     att_q+1
        lda     dst
        sta     att_out
        lda     dst+1
        sta     att_out+1
        ldy     #2
        lda     (src),y
        tax                             ; n = t + 1
        dey
        lda     (src),y                 ; block (all RAM stays banked in: the
att_call:                               ; work arrays and Kc live under I/O too)
        jsr     attention_head
att_back:
        clc
        lda     src
        adc     #ATTEND_BYTES
        sta     src
        bcc     :+
        inc     src+1
:       clc
        lda     dst
        adc     #2 * HEAD_DIM
        sta     dst
        bcc     :+
        inc     dst+1
:       jmp     record

done:   lda     #BANK_NO_BASIC          ; I/O back for the exit register
        sta     CPU_PORT
        lda     #0
        sta     DEBUGCART_EXIT
        jmp     done
