; rmsnorm_driver.s - test driver for asm/rmsnorm.s (tests/test_vice_rmsnorm.py).
; The generated rmsnorm_cases.inc holds:
;   RMS_CASES, rms_cases: per case s_g (1 byte), g (EMBED_DIM), x (2*EMBED_DIM)
;   SQRT_CASES, sqrt_cases: 3 bytes each (little endian)
; Results: rms_out (2*EMBED_DIM per case), sqrt_out (2 bytes per case).
; rms_call / rms_back bracket every rmsnorm call (profiling).

        .include "c64.inc"
        .import rmsnorm_s, rms_bind, res_bind, residual_add, rms_zeros, rms_isqrt, attention_init
        .import squares_load            ; the squares tables (squares_tables.s)
        .importzp rms_x, rms_g, rms_y, rms_m, rms_q, res_y
        .export main, done, rms_out, sqrt_out, rms_call, rms_back

        .include "rmsnorm_cases.inc"

CASE_BYTES = 1 + 3 * EMBED_DIM

        .segment "ZEROPAGE"
src:    .res 2
dst:    .res 2
left:   .res 2

        .segment "BSS"
rms_out:  .res RMS_CASES * 2 * EMBED_DIM
sqrt_out: .res SQRT_CASES * 2

        .segment "CODE"
main:
        sei                             ; as in engine_step: all RAM, the
        lda     #BANK_ALL_RAM           ; squares tables under I/O banked in
        sta     CPU_PORT
        jsr     squares_load
        jsr     attention_init          ; the quarter-square tables
        lda     #<rms_cases
        sta     src
        lda     #>rms_cases
        sta     src+1
        lda     #<rms_out
        sta     dst
        lda     #>rms_out
        sta     dst+1
        lda     #<RMS_CASES
        sta     left
        lda     #>RMS_CASES
        sta     left+1
rcase:  clc                             ; g = src + 1, x = src + 1 + ED
        lda     src
        adc     #1
        sta     rms_g
        lda     src+1
        adc     #0
        sta     rms_g+1
        clc
        lda     rms_g
        adc     #EMBED_DIM
        sta     rms_x
        lda     rms_g+1
        adc     #0
        sta     rms_x+1
        lda     dst
        sta     rms_y
        lda     dst+1
        sta     rms_y+1
        ldy     #0
        lda     (src),y                 ; s_g
rms_call:
        pha
        jsr     rms_bind                ; x -> y
        lda     #<rms_zeros             ; the sum of squares: x + zeros (res_h
        sta     res_y                   ; is rms_x), then the norm
        lda     #>rms_zeros
        sta     res_y+1
        jsr     res_bind
        jsr     residual_add
        pla
        jsr     rmsnorm_s
rms_back:
        clc
        lda     src
        adc     #<CASE_BYTES
        sta     src
        lda     src+1
        adc     #>CASE_BYTES
        sta     src+1
        clc
        lda     dst
        adc     #<(2 * EMBED_DIM)
        sta     dst
        lda     dst+1
        adc     #>(2 * EMBED_DIM)
        sta     dst+1
        lda     left
        bne     :+
        dec     left+1
:       dec     left
        lda     left
        ora     left+1
        bne     rcase

        lda     #<sqrt_cases
        sta     src
        lda     #>sqrt_cases
        sta     src+1
        lda     #<sqrt_out
        sta     dst
        lda     #>sqrt_out
        sta     dst+1
        lda     #<SQRT_CASES
        sta     left
        lda     #>SQRT_CASES
        sta     left+1
scase:  ldy     #2
        lda     (src),y
        sta     rms_m+2
        dey
        lda     (src),y
        sta     rms_m+1
        dey
        lda     (src),y
        sta     rms_m
        jsr     rms_isqrt
        ldy     #0
        lda     rms_q
        sta     (dst),y
        iny
        lda     rms_q+1
        sta     (dst),y
        clc
        lda     src
        adc     #3
        sta     src
        bcc     :+
        inc     src+1
:       clc
        lda     dst
        adc     #2
        sta     dst
        bcc     :+
        inc     dst+1
:       lda     left
        bne     :+
        dec     left+1
:       dec     left
        lda     left
        ora     left+1
        bne     scase
        jmp     done


done:   lda     #BANK_NO_BASIC          ; I/O back for the exit register
        sta     CPU_PORT
        lda     #0
        sta     DEBUGCART_EXIT
        jmp     done
