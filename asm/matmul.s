; matmul.s - y = sat16(asr(W.x (+ b), shift)), bit-exact per shared/spec/numerics.md.
;
; Two steps, so that one sweep can serve rows with different shifts (the fused
; q/k/v sweep) and the results can go straight where they are needed:
;   mm_sweep   accumulates acc[r] = sum_c W[r][c]*x[c] (+ b[r]) for all rows,
;              exact in 32 bits (acc0..acc3 = bytes 0..3, one array per byte);
;   mm_finish  turns rows [row0, row0+count) into sat16(asr(acc, shift)).
;
; The column sweep (the multiplicand is fixed per input column):
;   x = 256*xh + xl = 256*xh + 128 + xl'   (xh signed, xl' = xl - 128 signed)
; so every product is signed 8 x signed 8, done with quarter squares
;   a*w = f(a+w) - f(a-w),  f(n) = floor(n*n/4)   (exact: same parity)
; from two page-aligned tables (512 entries, lo and hi pages apart):
;   mm_sqa[i] = f(i-256) + MM_K    mm_sqb[i] = f(i-255)
; The weight comes in as y = w + 128 (gen/weights.py stores it biased), so
;   f(a+w) = mm_sqa[(a+128) + y]   f(w-a) = mm_sqb[(127-a) + y]
; and per column only four operand LOW bytes are patched (xl, xl^$ff, xh^$80,
; xh^$7f); the table pages are fixed. With MM_K = 16384 each product plus MM_K
; is >= 0, so the carry flag is known after every subtraction and no sign
; extension is ever needed. Per column the accumulator gains
;   w*xl' + 256*w*xh + 257*MM_K
; and the start value (gen/weights.py acc_init) holds the bias, 128*rowsum(W)
; and minus the constant per column: the final 32 bits are exact (|acc| < 2^31).

.include "macros.inc"
.include "model.inc"

.exportzp mm_x, mm_out, mm_outh
.export mm_ostep, mm_row0, mm_count, mm_shift
.export mm_sweep, mm_finish, mm_acc0, mm_acc1, mm_acc2, mm_acc3
.export mm_sqa_lo, mm_sqa_hi, mm_sqb_lo, mm_sqb_hi, mm_inner

.ifndef MM_MAX_ROWS
        .error "matmul.s: define MM_MAX_ROWS (model.inc)"
.endif
.assert MM_MAX_ROWS >= 1 && MM_MAX_ROWS <= 255, error, "matmul: rows are indexed by X (1..255)"

MM_K            = 16384         ; keep in step with gen/weights.py MM_K
MM_FAST_DEFICIT = 256 * MM_K    ; a fast column adds this much less (mm_inner_lo)
        .assert (MM_FAST_DEFICIT & $ffff) = 0, error, "fast-column deficit must live in bytes 2-3"
MM_DESC_SIZE    = 6             ; .word w, init ; .byte rows, cols
MM_E_BYTES      = 8             ; finish: the value, sign extended to 64 bits
MM_E_SHIFTED    = 6             ; finish: bytes 0..5 take part in the shifts

.segment "ZEROPAGE"
mm_x:           .res 2          ; in: input vector, cols int16 (lo, hi interleaved)
mm_out:         .res 2          ; finish: where low bytes go
mm_outh:        .res 2          ; finish: where high bytes go
; descriptor copy (same order as the descriptor)
mm_w:           .res 2
mm_init:        .res 2
; work
mm_h0:          .res 1
mm_h1:          .res 1
mm_l0:          .res 1
mm_xi:          .res 1          ; sweep: 2*column; finish: output index
mm_e:           .res MM_E_BYTES ; finish: value being shifted
mm_wcol:        .res 2          ; sweep: this column's weights - 1

.segment "BSS"
mm_ostep:       .res 1          ; finish: 2 = interleaved (mm_outh = mm_out+1), 1 = split
mm_row0:        .res 1          ; finish: first row
mm_count:       .res 1          ; finish: rows
mm_shift:       .res 1          ; finish: s_w + post-shift (signed)
mm_rows:        .res 1          ; descriptor: rows, cols
mm_cols:        .res 1
mm_q:           .res 1          ; finish: result byte offset in mm_e
mm_lsh:         .res 1          ; finish: left shifts
mm_rsh:         .res 1          ; finish: right shifts
mm_r:           .res 1          ; finish: current row
mm_n:           .res 1          ; finish: rows left
mm_fix:         .res 4          ; sweep -> finish: owed by the fast columns (bytes 2, 3 used)

.segment "PAGEBSS"
; page aligned + 1: the loop reads mm_accN-1,x (x = rows..1), so with the
; base at a page start and at most 128 rows two arrays share a page and
; almost no read crosses a page (saves a cycle per read)
MM_ACC_STRIDE   = MM_MAX_ROWS
                .res 1
mm_acc0:        .res MM_ACC_STRIDE
mm_acc1:        .res MM_ACC_STRIDE
mm_acc2:        .res MM_ACC_STRIDE
mm_acc3:        .res MM_ACC_STRIDE
        .assert MM_MAX_ROWS <> 128 || (<mm_acc0 = 1 && <mm_acc2 = 1), warning, "matmul accumulators cross pages"

.segment "TABLES"
; page aligned (segment alignment $100): operands are patched in the low byte only
mm_sqa_lo:
        .repeat 512, I
        .byte   <((I - 256) * (I - 256) / 4 + MM_K)
        .endrepeat
mm_sqa_hi:
        .repeat 512, I
        .byte   >((I - 256) * (I - 256) / 4 + MM_K)
        .endrepeat
mm_sqb_lo:
        .repeat 512, I
        .byte   <((I - 255) * (I - 255) / 4)
        .endrepeat
mm_sqb_hi:
        .repeat 512, I
        .byte   >((I - 255) * (I - 255) / 4)
        .endrepeat
        .assert <mm_sqa_lo = 0 && <mm_sqb_lo = 0, error, "matmul tables must be page aligned"

.segment "CODE"

; mm_inner: one column into every row's accumulator (self-modified by mm_sweep).
; in: X = rows, C = 0; operands patched: wc = column base - 1, al/bl = xl, xl^$ff,
;     ah/bh = xh^$80, xh^$7f
; out: mm_acc += w*xl' + 256*w*xh + 257*MM_K for each row; C = 0
; clobbers: A, X (0), Y, mm_h0, mm_h1, mm_l0
; cycles: ~106 per row (8 table reads, half of them crossing a page)
.proc mm_inner
loop:
wc:     ldy     $ffff,x                 ; y = w + 128; C = 0 here
ah0:    lda     mm_sqa_lo,y             ; H = w*xh + MM_K - 1 (C = 0: one less)
bh0:    sbc     mm_sqb_lo,y
        sta     mm_h0
ah1:    lda     mm_sqa_hi,y
bh1:    sbc     mm_sqb_hi,y             ; C = 1: H >= 0
        sta     mm_h1
al0:    lda     mm_sqa_lo,y             ; L = w*xl' + MM_K
bl0:    sbc     mm_sqb_lo,y
        sta     mm_l0
al1:    lda     mm_sqa_hi,y
bl1:    sbc     mm_sqb_hi,y             ; C = 1: L >= 0
        adc     mm_h0                   ; byte 1: L1 + H0 + 1
        tay
        lda     mm_h1
        adc     #0                      ; byte 2: H1 + carry (<= 129: C = 0 after)
        sta     mm_h1
        lda     mm_l0
        adc     mm_acc0-1,x
        sta     mm_acc0-1,x
        tya
        adc     mm_acc1-1,x
        sta     mm_acc1-1,x
        lda     mm_h1
        adc     mm_acc2-1,x
        sta     mm_acc2-1,x
        bcc     :+
        inc     mm_acc3-1,x
        clc                             ; C = 0 for the next row
:       dex
        bne     loop
        rts
.endproc

; mm_inner_lo: the fast column, x = xl (0..255, xh = 0): only the low
; product, L = w*xl' + MM_K; the 256*(w*0 + MM_K) the regular column would add
; is owed in mm_fix (added by mm_finish). Self-modified like mm_inner.
; in: X = rows, C = 0; operands: wc = column base - 1, al/bl = xl, xl^$ff
; out: mm_acc += w*xl' + MM_K for each row; C = 0
; clobbers: A, X (0), Y, mm_l0
; cycles: ~60 per row
.proc mm_inner_lo
loop:
wc:     ldy     $ffff,x                 ; y = w + 128; C = 0 here
al0:    lda     mm_sqa_lo,y             ; L - 1 (C = 0)
bl0:    sbc     mm_sqb_lo,y
        sta     mm_l0
al1:    lda     mm_sqa_hi,y
bl1:    sbc     mm_sqb_hi,y             ; C = 1: L - 1 >= 0
        tay
        lda     mm_l0
        adc     mm_acc0-1,x             ; + 1 from C: adds L
        sta     mm_acc0-1,x
        tya
        adc     mm_acc1-1,x
        sta     mm_acc1-1,x
        bcc     :+
        inc     mm_acc2-1,x
        clc                             ; C = 0 for the next row (Z from inc kept)
        bne     :+
        inc     mm_acc3-1,x
:       dex
        bne     loop
        rts
.endproc

; mm_sweep: acc[r] = init[r] + sum_c (column c's contribution), r = 0..rows-1.
; in: A/X = descriptor address (lo/hi): .word W (column-major, biased), init
;     (4 arrays of rows bytes); .byte rows (1..MM_MAX_ROWS), cols (1..127);
;     mm_x -> x (cols int16, interleaved)
; out: mm_acc0..3[0..rows-1]; mm_rows, mm_cols set
; clobbers: A, X, Y, mm_w, mm_init, mm_h0, mm_h1, mm_l0, mm_xi, the patched operands
; cycles: about 110 per row and column (+ 90 per column, 30 per row):
;         ~10.7k for 96x32 at a page-crossing rate of one half
.proc mm_sweep
        sta     mm_init                 ; borrow mm_init as the descriptor pointer
        stx     mm_init+1
        ldy     #5                      ; descriptor: w, init, rows, cols
        lda     (mm_init),y
        sta     mm_cols
        dey
        lda     (mm_init),y
        sta     mm_rows
        dey
        lda     (mm_init),y             ; init (kept on the stack: it is the pointer)
        pha
        dey
        lda     (mm_init),y
        pha
        dey
        lda     (mm_init),y
        sta     mm_w+1
        dey
        lda     (mm_init),y
        sta     mm_w
        pla
        sta     mm_init
        pla
        sta     mm_init+1
        ; accumulators := init (4 arrays of rows bytes)
        .repeat 4, K
        ldy     mm_rows
:       dey
        lda     (mm_init),y
        sta     mm_acc0 + K * MM_ACC_STRIDE,y
        tya
        bne     :-
        .if K < 3
        ADD16_8 mm_init, mm_rows
        .endif
        .endrepeat
        ; the weight operand is column base - 1 (X runs rows..1)
        sec
        lda     mm_w
        sbc     #1
        sta     mm_wcol
        lda     mm_w+1
        sbc     #0
        sta     mm_wcol+1
        lda     #0
        sta     mm_xi
        sta     mm_fix+2                ; deficit of the fast columns (see mm_inner_lo)
        sta     mm_fix+3
column:
        ldy     mm_xi
        iny
        lda     (mm_x),y                ; xh
        beq     fast
        eor     #$80
        sta     mm_inner::ah0+1
        sta     mm_inner::ah1+1
        eor     #$ff
        sta     mm_inner::bh0+1
        sta     mm_inner::bh1+1
        dey
        lda     (mm_x),y                ; xl
        sta     mm_inner::al0+1
        sta     mm_inner::al1+1
        eor     #$ff
        sta     mm_inner::bl0+1
        sta     mm_inner::bl1+1
        lda     mm_wcol
        sta     mm_inner::wc+1
        lda     mm_wcol+1
        sta     mm_inner::wc+2
        ldx     mm_rows
        clc
        jsr     mm_inner
        jmp     next
fast:   dey                             ; 0 <= x <= 255: one product per row
        lda     (mm_x),y                ; xl
        sta     mm_inner_lo::al0+1
        sta     mm_inner_lo::al1+1
        eor     #$ff
        sta     mm_inner_lo::bl0+1
        sta     mm_inner_lo::bl1+1
        lda     mm_wcol
        sta     mm_inner_lo::wc+1
        lda     mm_wcol+1
        sta     mm_inner_lo::wc+2
        ldx     mm_rows
        clc
        jsr     mm_inner_lo
        clc                             ; mm_fix += 256*MM_K = $400000
        lda     mm_fix+2
        adc     #<(MM_FAST_DEFICIT >> 16)
        sta     mm_fix+2
        bcc     next
        inc     mm_fix+3
next:   clc                             ; next column: rows bytes further
        lda     mm_xi
        adc     #2
        sta     mm_xi
        clc
        lda     mm_wcol
        adc     mm_rows
        sta     mm_wcol
        bcc     :+
        inc     mm_wcol+1
:       dec     mm_cols
        beq     :+
        jmp     column
:       rts
.endproc

; mm_finish: out[i] = sat16(asr(acc[row0 + i], mm_shift)), i = 0..count-1.
; in: mm_row0, mm_count (>= 1), mm_shift (signed: < 0 shifts left),
;     mm_out / mm_outh -> where the low / high bytes go, mm_ostep = index step
;     (2 with mm_outh = mm_out + 1 for an interleaved int16 vector, 1 for split
;     lo/hi arrays)
; out: the output vector; clobbers: A, X, Y, mm_e, mm_q, mm_lsh, mm_rsh, mm_r, mm_n, mm_xi
; cycles: ~150 per row for shifts 1..4 and 8..12 (one shift step), ~40 more per extra step
.proc mm_finish
        ; shift k -> drop mm_q whole bytes after mm_lsh left or mm_rsh right steps
        lda     #0
        sta     mm_q
        sta     mm_lsh
        sta     mm_rsh
        lda     mm_shift
        bpl     right
        eor     #$ff                    ; -k = ~k + 1
        clc
        adc     #1
        cmp     #17                     ; v << 16 already saturates any v <> 0
        bcc     :+
        lda     #16
:       sta     mm_lsh
        jmp     setup_done
right:  cmp     #40                     ; asr by >= 32 leaves only the sign
        bcc     :+
        lda     #39
:       pha
        lsr
        lsr
        lsr
        sta     mm_q
        pla
        and     #7
        cmp     #4
        bcs     :+
        sta     mm_rsh                  ; 0..3 right steps
        jmp     setup_done
:       eor     #$07                    ; 4..7 -> 8 - r = 4..1 left steps, one more byte
        clc
        adc     #1
        sta     mm_lsh
        inc     mm_q
setup_done:
        lda     mm_row0
        sta     mm_r
        lda     mm_count
        sta     mm_n
        lda     #0
        sta     mm_xi
row:
        ldy     mm_r
        lda     mm_acc0,y
        sta     mm_e
        lda     mm_acc1,y
        sta     mm_e+1
        clc                             ; + what the fast columns owe
        lda     mm_acc2,y
        adc     mm_fix+2
        sta     mm_e+2
        lda     mm_acc3,y
        adc     mm_fix+3
        sta     mm_e+3
        asl                             ; C = sign
        lda     #0
        adc     #$ff                    ; C=1: $00, C=0: $ff
        eor     #$ff                    ; sign byte: $ff if negative, else $00
        sta     mm_e+4
        sta     mm_e+5
        sta     mm_e+6
        sta     mm_e+7
        ldx     mm_lsh
        beq     no_left
:       asl     mm_e                    ; 48-bit left shift (|v| < 2^31, <= 16 steps)
        rol     mm_e+1
        rol     mm_e+2
        rol     mm_e+3
        rol     mm_e+4
        rol     mm_e+5
        dex
        bne     :-
no_left:
        ldx     mm_rsh
        beq     no_right
:       lda     mm_e+7                  ; 48-bit arithmetic right shift
        asl
        ror     mm_e+5
        ror     mm_e+4
        ror     mm_e+3
        ror     mm_e+2
        ror     mm_e+1
        ror     mm_e
        dex
        bne     :-
no_right:
        ; sat16: bytes above the result must all be the sign, and so must bit 15
        ldx     mm_q
        lda     mm_e+1,x
        eor     mm_e+7
        bmi     saturate
        inx
:       inx
        cpx     #MM_E_SHIFTED           ; bytes 6, 7 are sign copies, never shifted
        bcs     fits
        lda     mm_e,x
        cmp     mm_e+7
        beq     :-
saturate:
        ldy     mm_xi
        lda     mm_e+7                  ; $ff if negative, else $00
        eor     #$ff
        sta     (mm_out),y              ; low byte: $00 / $ff
        eor     #$80
        sta     (mm_outh),y             ; high byte: $80 / $7f
        jmp     next
fits:
        ldx     mm_q
        ldy     mm_xi
        lda     mm_e,x
        sta     (mm_out),y
        lda     mm_e+1,x
        sta     (mm_outh),y
next:
        lda     mm_xi
        clc
        adc     mm_ostep
        sta     mm_xi
        inc     mm_r
        dec     mm_n
        beq     :+
        jmp     row
:       rts
.endproc
