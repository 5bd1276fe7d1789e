; matmul.s - y = sat16(asr(W.x (+ b), shift)), bit-exact per shared/spec/numerics.md.
;
; Two steps, so that one sweep can serve rows with different shifts (the fused
; q/k/v sweep) and the results can go straight where they are needed:
;   mm_sweep   accumulates acc[r] = sum_c W[r][c]*x[c] (+ b[r]) for all rows,
;              exact in 32 bits (acc0..acc3 = bytes 0..3, one array per byte);
;   mm_finish  turns rows [row0, row0+count) into sat16(asr(acc, shift)).
;
; The column sweep (the multiplicand x = x[c] is fixed per input column):
; products are quarter squares, a*w = f(a+w) - f(a-w), f(n) = floor(n*n/4)
; (exact: same parity), read from two tables of 767 16-bit entries (lo and
; hi bytes MM_TAB_PAGES pages apart) that cover every a in -256..255:
;   mm_ta[i] = f(i-384) + MM_K  (mod 2^16)     mm_tb[i] = f(i-383)
; The weight comes in as y = w + 128 (gen/weights.py stores it biased), so
;   f(a+w) = mm_ta[(a+256) + y]    f(w-a) = mm_tb[(255-a) + y]
; and per column the four operand bases (16 bits each) are patched. Three
; kinds of column:
;   x = 0             skipped;
;   -256 <= x <= 255  one product, w*x + MM_K - 1 in 0..65535 (mm_inner_lo);
;   otherwise         x = 256*q + r, r = signed low byte, q = high byte + (r < 0)
;                     (both in -128..128): w*r + MM_K + 256*(w*q + MM_K) (mm_inner).
; MM_K keeps every added value >= 0, so no sign extension is ever needed; the
; constants the columns add are owed in mm_fix, which the accumulators start
; from (with the bias): the final 32 bits are exact (|acc| < 2^31).

.include "macros.inc"
.include "model.inc"

.exportzp mm_x, mm_out, mm_outh
.export mm_ostep, mm_row0, mm_count, mm_shift
.export mm_sweep, mm_finish, mm_acc0, mm_acc1, mm_acc2, mm_acc3
.export mm_ta_lo, mm_ta_hi, mm_tb_lo, mm_tb_hi, mm_inner

.ifndef MM_MAX_ROWS
        .error "matmul.s: define MM_MAX_ROWS (model.inc)"
.endif
.assert MM_MAX_ROWS >= 1 && MM_MAX_ROWS <= 255, error, "matmul: rows are indexed by X (1..255)"

MM_K            = $8000         ; table offset: w*x + MM_K - 1 is in 0..65535 for |x| <= 256
        .assert MM_K - 1 >= 128 * 255 && MM_K - 1 + 128 * 256 <= $ffff, error, "matmul: MM_K must keep one product in 16 bits"
        .assert MM_K + 128 * 128 <= $ffff, error, "matmul: two-product columns rely on unwrapped table values"
MM_TAB_LEN      = 767           ; f(-384..382) / f(-383..383)
MM_TAB_PAGES    = 3             ; lo and hi halves of a table are this many pages apart
MM_FAST_OWED    = MM_K - 1      ; what a one-product column adds beyond w*x
MM_GEN_OWED     = 257 * MM_K    ; what a two-product column adds beyond w*x
        .assert MM_TAB_LEN <= MM_TAB_PAGES * 256, error, "matmul: table longer than its pages"
MM_DESC_SIZE    = 6             ; .word w, bias (0: none) ; .byte rows, cols
MM_E_BYTES      = 8             ; finish: the value, sign extended to 64 bits
MM_E_SHIFTED    = 6             ; finish: bytes 0..5 take part in the shifts

.segment "ZEROPAGE"
mm_x:           .res 2          ; in: input vector, cols int16 (lo, hi interleaved)
mm_out:         .res 2          ; finish: where low bytes go
mm_outh:        .res 2          ; finish: where high bytes go
; descriptor copy (same order as the descriptor)
mm_w:           .res 2
mm_init:        .res 2          ; bias low bytes (0: no bias)
; work
mm_h0:          .res 1
mm_h1:          .res 1
mm_l0:          .res 1
mm_xi:          .res 1          ; sweep: 2*column; finish: output index
mm_e:           .res MM_E_BYTES ; finish: value being shifted
mm_wcol:        .res 2          ; sweep: this column's weights - 1; init: bias high bytes

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
mm_fix:         .res 4          ; sweep: minus what the columns add beyond W.x

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
; page aligned (segment alignment $100)
mm_ta_lo:
        .repeat MM_TAB_LEN, I
        .byte   <((I - 384) * (I - 384) / 4 + MM_K)
        .endrepeat
        .res    MM_TAB_PAGES * 256 - MM_TAB_LEN
mm_ta_hi:
        .repeat MM_TAB_LEN, I
        .byte   >((I - 384) * (I - 384) / 4 + MM_K)
        .endrepeat
        .res    MM_TAB_PAGES * 256 - MM_TAB_LEN
mm_tb_lo:
        .repeat MM_TAB_LEN, I
        .byte   <((I - 383) * (I - 383) / 4)
        .endrepeat
        .res    MM_TAB_PAGES * 256 - MM_TAB_LEN
mm_tb_hi:
        .repeat MM_TAB_LEN, I
        .byte   >((I - 383) * (I - 383) / 4)
        .endrepeat
        .res    MM_TAB_PAGES * 256 - MM_TAB_LEN     ; the next module's tables stay aligned
        .assert <mm_ta_lo = 0 && <mm_tb_lo = 0, error, "matmul tables must be page aligned"
        .assert mm_ta_hi - mm_ta_lo = MM_TAB_PAGES * 256 && mm_tb_hi - mm_tb_lo = MM_TAB_PAGES * 256, error, "matmul table halves"

.segment "CODE"

; mm_inner: a two-product column into every row's accumulator (self-modified
; by mm_sweep). Both factors are in -128..128, so the table values stay below
; 2^16 and the carry after each product is known.
; in: X = rows, C = 0; operands patched: wc = column base - 1, ah/bh = the
;     table bases for q, al/bl = for r (see mm_sweep)
; out: mm_acc += w*r + MM_K + 256*(w*q + MM_K) for each row; C = 0
; clobbers: A, X (0), Y, mm_h0, mm_h1, mm_l0
; cycles: ~106 per row (8 table reads, half of them crossing a page)
.proc mm_inner
loop:
wc:     ldy     $ffff,x                 ; y = w + 128; C = 0 here
ah0:    lda     $ffff,y                 ; H = w*q + MM_K - 1 (C = 0: one less)
bh0:    sbc     $ffff,y
        sta     mm_h0
ah1:    lda     $ffff,y
bh1:    sbc     $ffff,y                 ; C = 1: H >= 0
        sta     mm_h1
al0:    lda     $ffff,y                 ; L = w*r + MM_K
bl0:    sbc     $ffff,y
        sta     mm_l0
al1:    lda     $ffff,y
bl1:    sbc     $ffff,y                 ; C = 1: L >= 0
        adc     mm_h0                   ; byte 1: L1 + H0 + 1
        tay
        lda     mm_h1
        adc     #0                      ; byte 2: H1 + carry (<= 193: C = 0 after)
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

; mm_inner_lo: a one-product column, -256 <= x <= 255. Self-modified like mm_inner.
; in: X = rows, C = 0; operands: wc = column base - 1, al/bl = the table bases for x
; out: mm_acc += w*x + MM_K - 1 (16 bits, unsigned) for each row; C = 0
; clobbers: A, X (0), Y, mm_l0
; cycles: ~63 per row (carry into byte 2 on about half the rows) + page crossings
.proc mm_inner_lo
loop:
wc:     ldy     $ffff,x                 ; y = w + 128; C = 0 here
al0:    lda     $ffff,y                 ; w*x + MM_K - 1 (C = 0: one less), mod 2^16
bl0:    sbc     $ffff,y
        sta     mm_l0
al1:    lda     $ffff,y
bl1:    sbc     $ffff,y                 ; C: whatever (mm_ta wraps for large |a+w|)
        tay
        clc
        lda     mm_l0
        adc     mm_acc0-1,x
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

; MM_OWE k: mm_fix -= k (32 bits). clobbers: A, C. cycles: 26
.macro MM_OWE k
        sec
        .repeat 4, B
        lda     mm_fix + B
        sbc     #<(k >> (8 * B))
        sta     mm_fix + B
        .endrepeat
.endmacro

; mm_sweep: acc[r] = b[r] + sum_c W[r][c]*x[c], r = 0..rows-1 (exact, 32 bits).
; in: A/X = descriptor address (lo/hi): .word W (column-major, biased), bias
;     (0: none; else rows low bytes, then rows high bytes of the int16 bias);
;     .byte rows (1..MM_MAX_ROWS), cols (1..127); mm_x -> x (cols int16, interleaved)
; out: mm_acc0..3[0..rows-1]; mm_rows, mm_cols set
; clobbers: A, X, Y, mm_w, mm_init, mm_fix, mm_h0, mm_h1, mm_l0, mm_xi, mm_wcol,
;     the patched operands
; cycles: per row and column ~65 for -256 <= x <= 255, ~108 otherwise, 0 for
;     x = 0; + ~200 per column and ~35 per row
.proc mm_sweep
        sta     mm_init                 ; borrow mm_init as the descriptor pointer
        stx     mm_init+1
        ldy     #5                      ; descriptor: w, bias, rows, cols
        lda     (mm_init),y
        sta     mm_cols
        dey
        lda     (mm_init),y
        sta     mm_rows
        dey
        lda     (mm_init),y             ; bias (kept on the stack: it is the pointer)
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
        ; mm_fix := -(what the columns will add beyond W.x)
        lda     #0
        sta     mm_fix
        sta     mm_fix+1
        sta     mm_fix+2
        sta     mm_fix+3
        lda     mm_cols
        asl
        tay
owe:    dey
        dey
        iny
        lda     (mm_x),y                ; xh
        beq     owe_pos
        cmp     #$ff
        beq     owe_fast
        MM_OWE  MM_GEN_OWED
        jmp     owe_next
owe_pos:
        dey
        lda     (mm_x),y                ; xl
        iny
        ora     #0
        beq     owe_next                ; x = 0: skipped
owe_fast:
        MM_OWE  MM_FAST_OWED
owe_next:
        dey
        bne     owe
        ; accumulators := mm_fix (+ sign-extended bias)
        ldy     mm_rows
        lda     mm_init+1
        bne     bias
:       dey
        lda     mm_fix
        sta     mm_acc0,y
        lda     mm_fix+1
        sta     mm_acc1,y
        lda     mm_fix+2
        sta     mm_acc2,y
        lda     mm_fix+3
        sta     mm_acc3,y
        tya
        bne     :-
        jmp     columns
bias:   clc                             ; mm_wcol -> the bias high bytes
        lda     mm_init
        adc     mm_rows
        sta     mm_wcol
        lda     mm_init+1
        adc     #0
        sta     mm_wcol+1
:       dey
        ldx     #0                      ; sign extension of the bias
        lda     (mm_wcol),y
        bpl     :+
        dex
:       clc
        lda     (mm_init),y
        adc     mm_fix
        sta     mm_acc0,y
        lda     (mm_wcol),y
        adc     mm_fix+1
        sta     mm_acc1,y
        stx     mm_h0
        lda     mm_h0
        adc     mm_fix+2
        sta     mm_acc2,y
        lda     mm_h0
        adc     mm_fix+3
        sta     mm_acc3,y
        tya
        bne     :--
columns:
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
column:
        ldy     mm_xi
        iny
        lda     (mm_x),y                ; xh
        beq     pos
        cmp     #$ff
        bne     general
        ; -256 <= x <= -1: a+256 = xl, 255-a = (xl ^ $ff) + 256
        dey
        lda     (mm_x),y                ; xl
        sta     mm_inner_lo::al0+1
        sta     mm_inner_lo::al1+1
        eor     #$ff
        sta     mm_inner_lo::bl0+1
        sta     mm_inner_lo::bl1+1
        lda     #>mm_ta_lo
        sta     mm_inner_lo::al0+2
        lda     #>mm_ta_hi
        sta     mm_inner_lo::al1+2
        lda     #>mm_tb_lo + 1
        sta     mm_inner_lo::bl0+2
        lda     #>mm_tb_hi + 1
        sta     mm_inner_lo::bl1+2
        jmp     fast
pos:    dey                             ; 0 <= x <= 255: a+256 = xl + 256, 255-a = xl ^ $ff
        lda     (mm_x),y                ; xl
        bne     :+
        jmp     next                    ; x = 0 adds nothing
:       sta     mm_inner_lo::al0+1
        sta     mm_inner_lo::al1+1
        eor     #$ff
        sta     mm_inner_lo::bl0+1
        sta     mm_inner_lo::bl1+1
        lda     #>mm_ta_lo + 1
        sta     mm_inner_lo::al0+2
        lda     #>mm_ta_hi + 1
        sta     mm_inner_lo::al1+2
        lda     #>mm_tb_lo
        sta     mm_inner_lo::bl0+2
        lda     #>mm_tb_hi
        sta     mm_inner_lo::bl1+2
fast:   lda     mm_wcol
        sta     mm_inner_lo::wc+1
        lda     mm_wcol+1
        sta     mm_inner_lo::wc+2
        ldx     mm_rows
        clc
        jsr     mm_inner_lo
        jmp     next
general:
        ; A = xh. q = xh + (xl >= $80) as 16 bits (q_hi in mm_h0), r = xl signed
        ldx     #0
        cmp     #$80
        bcc     :+
        dex
:       stx     mm_h0                   ; sign of xh
        dey
        lda     (mm_x),y                ; xl
        cmp     #$80                    ; C = (r < 0)
        iny
        lda     (mm_x),y
        adc     #0
        sta     mm_inner::ah0+1         ; q_lo: a+256 = q + 256
        sta     mm_inner::ah1+1
        eor     #$ff
        sta     mm_inner::bh0+1         ; 255-a = ~q + 256
        sta     mm_inner::bh1+1
        lda     mm_h0
        adc     #0                      ; q_hi (C from q_lo)
        sta     mm_h0
        clc
        adc     #>mm_ta_lo + 1
        sta     mm_inner::ah0+2
        clc
        adc     #MM_TAB_PAGES
        sta     mm_inner::ah1+2
        lda     #>mm_tb_lo
        sec
        sbc     mm_h0
        sta     mm_inner::bh0+2
        clc
        adc     #MM_TAB_PAGES
        sta     mm_inner::bh1+2
        dey
        lda     (mm_x),y                ; xl = r_lo
        sta     mm_inner::al0+1
        sta     mm_inner::al1+1
        eor     #$ff
        sta     mm_inner::bl0+1
        sta     mm_inner::bl1+1
        ldx     #0                      ; r_hi = 0 / $ff: pages +1 / +0 (A), +0 / +1 (B)
        eor     #$ff
        bpl     :+
        inx
:       txa                             ; X = 1 when r < 0
        eor     #1
        clc
        adc     #>mm_ta_lo
        sta     mm_inner::al0+2
        adc     #MM_TAB_PAGES
        sta     mm_inner::al1+2
        txa
        clc
        adc     #>mm_tb_lo
        sta     mm_inner::bl0+2
        adc     #MM_TAB_PAGES
        sta     mm_inner::bl1+2
        lda     mm_wcol
        sta     mm_inner::wc+1
        lda     mm_wcol+1
        sta     mm_inner::wc+2
        ldx     mm_rows
        clc
        jsr     mm_inner
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
; out: the output vector; clobbers: A, X, Y, mm_e, mm_q, mm_lsh, mm_rsh, mm_r,
;     mm_n, mm_xi, mm_h0, mm_h1, mm_l0, the patched operands of mm_finish_fast
; cycles: shifts 1..16 (mm_finish_fast): ~75 per row + 12 per left step
;     (8*ceil(k/8) - k steps: 3 at k = 5, 0 at k = 8); other shifts: ~150 per
;     row for shifts 1..4 and 8..12 (one shift step), ~40 more per extra step
.proc mm_finish
        lda     mm_shift
        beq     :+
        cmp     #17
        bcs     :+
        jmp     mm_finish_fast          ; 1..16
:       jmp     mm_finish_any
.endproc

; mm_finish_fast: mm_finish for shifts k = 1..16. With j = ceil(k/8) and
; m = 8j - k (0..7): the result is bytes j, j+1 of acc << m, and it fits iff
; bits 15+k..31 of acc all equal the sign, i.e. byte 3 and the top m+1 bits of
; byte j+1 (j = 1), or the top m+1 bits of byte 3 (j = 2) do.
; in/out/clobbers: as mm_finish (mm_shift in 1..16)
; cycles: ~75 per row + 12 per left step
.proc mm_finish_fast
        lda     mm_shift
        ldx     #1                      ; j
        cmp     #9
        bcc     :+
        inx
        sbc     #8                      ; (C = 1) k - 8
:       eor     #$ff                    ; m = 8 - k': ~k' + 9
        clc
        adc     #9
        tay                             ; Y = m
        lda     mask_top,y
        sta     mm_h1                   ; mask for the window's top byte
        cpx     #1
        beq     :+
        sta     mm_h0                   ; j = 2: the byte above is the top byte
        bne     :++
:       lda     #$ff                    ; j = 1: byte 3 must be the sign
        sta     mm_h0
:       lda     #7                      ; enter the unrolled steps 7 - m steps in
        sty     mm_l0
        sec
        sbc     mm_l0
        sta     mm_l0
        asl
        asl
        adc     mm_l0                   ; 5 bytes per step
        adc     #<steps
        sta     enter+1
        lda     #>steps
        adc     #0
        sta     enter+2
        lda     win_addr_lo-1,x         ; the window: bytes j-1, j, j+1
        sta     w0+1
        lda     win_addr_hi-1,x
        sta     w0+2
        lda     win_addr_lo,x
        sta     w1+1
        lda     win_addr_hi,x
        sta     w1+2
        lda     win_addr_lo+1,x
        sta     w2+1
        sta     t2+1
        lda     win_addr_hi+1,x
        sta     w2+2
        sta     t2+2
        lda     mm_count
        sta     mm_n
        lda     #0
        sta     mm_xi
        ldy     mm_row0
row:    ldx     #0                      ; S = sign byte
        lda     mm_acc3,y
        bpl     :+
        dex
:       stx     mm_e+7
        eor     mm_e+7
        and     mm_h0
        bne     saturate
t2:     lda     $ffff,y                 ; the window's top byte
        eor     mm_e+7
        and     mm_h1
        bne     saturate
w0:     lda     $ffff,y
        sta     mm_e
w1:     lda     $ffff,y
        sta     mm_e+1
w2:     lda     $ffff,y
enter:  jmp     $ffff
steps:
        .repeat 7
        asl     mm_e
        rol     mm_e+1
        rol     a
        .endrepeat
        .assert * - steps = 7 * 5, error, "mm_finish_fast: 5 bytes per step"
        sty     mm_r
        ldy     mm_xi
        sta     (mm_outh),y
        lda     mm_e+1
        sta     (mm_out),y
        jmp     next
saturate:
        sty     mm_r
        ldy     mm_xi
        lda     mm_e+7                  ; $ff if negative, else $00
        eor     #$ff
        sta     (mm_out),y              ; low byte: $00 / $ff
        eor     #$80
        sta     (mm_outh),y             ; high byte: $80 / $7f
next:   tya
        clc
        adc     mm_ostep
        sta     mm_xi
        ldy     mm_r
        iny
        dec     mm_n
        bne     row
        rts
mask_top:
        .byte   $80, $c0, $e0, $f0, $f8, $fc, $fe, $ff
win_addr_lo:
        .lobytes mm_acc0, mm_acc1, mm_acc2, mm_acc3
win_addr_hi:
        .hibytes mm_acc0, mm_acc1, mm_acc2, mm_acc3
.endproc

; mm_finish_any: mm_finish for any shift (the slow, general way).
; in/out/clobbers: as mm_finish
; cycles: ~150 per row for shifts 1..4 and 8..12 (one shift step), ~40 more per extra step
.proc mm_finish_any
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
        lda     mm_acc2,y
        sta     mm_e+2
        lda     mm_acc3,y
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
