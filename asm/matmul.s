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
; (exact: same parity). The weight comes in as y = w + 128 (gen/weights.py
; stores it biased), and per column the table bases are patched so that a
; base + y read gives f(a +- w). Three kinds of column:
;   x = 0             skipped;
;   -511 <= x <= 511  one product (mm_inner_wp/_wn), exact: p = w*x (|p| <= 65408)
;                     from mm_t[j] = f(j - MM_T_OFF) (mod 2^16, 1278 entries),
;                     f(x+w) = mm_t[(511 + x) + y], f(x-w) = mm_t[(511 - x) + y];
;                     the sign of p is the sign of x times that of w, so the
;                     row loop splits on w's sign (N after ldy) to add p with
;                     a carry or p - 65536 with a borrow into byte 2; one
;                     copy of the loop per sign of x, each keeping its table
;                     pages while x's high byte stays (only low bytes patched);
;   otherwise         x = 256*q + r, r = signed low byte, q = high byte + (r < 0)
;                     (both in -128..128): w*r + MM_K + 256*(w*q + MM_K)
;                     (mm_inner), two products from the same table (the hi
;                     bytes of f(v + w) from mm_t_hk, which adds MM_K); MM_K
;                     keeps every added value >= 0, so no sign extension is
;                     needed; what these columns add beyond W.x is owed in
;                     mm_fix, which the accumulators start from (with the bias).
; The final 32 bits are exact (|acc| < 2^31).
; mm_t is two arrays (lo bytes, hi bytes) a whole number of pages apart; mm_t_hk
; is a third (hi bytes ^ >MM_K, |n| <= 256) at the same low-byte offsets.

.include "macros.inc"
.include "model.inc"

.exportzp mm_x, mm_out, mm_outh
.export mm_ostep, mm_row0, mm_count, mm_shift
.export mm_sweep, mm_finish, mm_acc0, mm_acc1, mm_acc2, mm_acc3
.export mm_t_lo, mm_t_hi, mm_inner, mm_inner_wp, mm_inner_wn

.ifndef MM_MAX_ROWS
        .error "matmul.s: define MM_MAX_ROWS (model.inc)"
.endif
.assert MM_MAX_ROWS >= 1 && MM_MAX_ROWS <= 255, error, "matmul: rows are indexed by X (1..255)"

MM_K            = $8000         ; two-product offset: w*q + MM_K in 0..65535
        .assert <MM_K = 0 && MM_K - 128 * 128 - 1 >= 0 && MM_K + 128 * 128 <= $ffff, error, "matmul: two-product values must stay in 16 bits"
MM_WIDE         = 511           ; one-product columns: -MM_WIDE <= x <= MM_WIDE
        .assert 128 * MM_WIDE <= $ffff, error, "matmul: a one-product |w*x| must fit 16 bits"
        .assert <MM_WIDE = $ff, error, "matmul: MM_WIDE - v is formed as a complement"
MM_T_OFF        = MM_WIDE + 128 ; mm_t[j] = f(j - MM_T_OFF) mod 2^16
MM_T_LEN        = 2 * MM_WIDE + 256     ; indices (MM_WIDE +- v) + y
MM_T_PAGES      = 5             ; lo and hi halves of mm_t are this many pages apart
        .assert MM_T_LEN <= MM_T_PAGES * 256, error, "matmul: table longer than its pages"
MM_HK_OFF       = 256           ; mm_t_hk[j] = hi(f(j - MM_HK_OFF)) ^ >MM_K
MM_HK_LEN       = 2 * MM_HK_OFF + 1
MM_HK_PAGES     = (mm_t_hk + MM_HK_OFF - 128) - (mm_t_lo + MM_WIDE)  ; a1 - a0 (whole pages)
MM_GEN_OWED     = 257 * MM_K    ; what a two-product column adds beyond w*x
MM_NO_KEY       = $ff           ; mm_key_*: no reusable pages (never xh + 2 = 0..3)
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
mm_wcol:        .res 2          ; sweep init: bias high bytes
; sweep temporaries in mm_e (only mm_finish shifts there)
mm_xl           = mm_e          ; this column's x, low byte
mm_xh           = mm_e + 1      ; and high byte
mm_key_p        = mm_e + 2      ; xh + 2 of mm_inner_wp's last column with xl <> 0
                                ; (its table pages are still patched in), or MM_NO_KEY
mm_key_n        = mm_e + 3      ; the same for mm_inner_wn
        .assert MM_E_BYTES >= 4, error, "matmul: sweep temporaries in mm_e"

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
mm_t_lo:
        .repeat MM_T_LEN, I
        .byte   <((I - MM_T_OFF) * (I - MM_T_OFF) / 4)
        .endrepeat
        .res    MM_T_PAGES * 256 - MM_T_LEN
mm_t_hi:
        .repeat MM_T_LEN, I
        .byte   >((I - MM_T_OFF) * (I - MM_T_OFF) / 4)
        .endrepeat
        .res    MM_T_PAGES * 256 - MM_T_LEN
; mm_t_hk[j] = (hi byte of f(j - MM_HK_OFF)) ^ >MM_K for |j - MM_HK_OFF| <= 256:
; the two-product reads of f(v + w) (|v + w| <= 256), so that their hi bytes
; come with MM_K added; placed so that its bases share the low byte with mm_t's
        .res    <(MM_WIDE - MM_HK_OFF + 128)
mm_t_hk:
        .repeat MM_HK_LEN, I
        .byte   >((I - MM_HK_OFF) * (I - MM_HK_OFF) / 4) ^ >MM_K
        .endrepeat
        .res    (256 - <(MM_WIDE - MM_HK_OFF + 128 + MM_HK_LEN)) & $ff  ; the next module's tables stay aligned
        .assert <mm_t_lo = 0, error, "matmul tables must be page aligned"
        .assert mm_t_hi - mm_t_lo = MM_T_PAGES * 256, error, "matmul table halves"
        .assert <MM_HK_PAGES = 0, error, "matmul: mm_t_hk bases keep mm_t's low byte"

.segment "CODE"

; MM_ADD_LOW: the row's accumulator bytes 0..1 (X = row + 1) += mm_l0 (low)
; and Y (high) with the carry in C; C out is the carry into byte 2.
; clobbers: A, C. cycles: 20 (+ page crossings)
.macro MM_ADD_LOW
        lda     mm_l0
        adc     mm_acc0-1,x
        sta     mm_acc0-1,x
        tya
        adc     mm_acc1-1,x
        sta     mm_acc1-1,x
.endmacro

; mm_inner: a two-product column into every row's accumulator (self-modified
; by mm_sweep). Both factors are in -128..128, so the products are exact in 16
; bits and the mm_t reads (|n| <= 256) never wrap; + MM_K (the a*1 reads come
; from mm_t_hk, whose hi bytes have the top bit flipped) makes them unsigned.
; in: X = rows, C = 0; operands patched (MM_BASES): wc = column base - 1,
;     ah/bh = the mm_t (ah1, al1: mm_t_hk) bases for q, al/bl = for r (see mm_sweep)
; out: mm_acc += w*r + MM_K + 256*(w*q + MM_K) for each row; C = 0; continues
;     at mm_sweep_next (entered by jmp from mm_sweep)
; clobbers: A, X (0), Y, mm_h0, mm_h1, mm_l0
; cycles: ~110 per row (8 table reads, half of them crossing a page)
.proc mm_inner
loop:
wc:     ldy     $ffff,x                 ; y = w + 128; C = 0 here
ah0:    lda     $ffff,y                 ; H = w*q - 1 (C = 0: one less)
bh0:    sbc     $ffff,y
        sta     mm_h0
ah1:    lda     $ffff,y                 ; (mm_t_hk: + >MM_K)
bh1:    sbc     $ffff,y                 ; H = w*q + MM_K - 1: 16383..49151
        sta     mm_h1
        sec
al0:    lda     $ffff,y                 ; L = w*r + MM_K
bl0:    sbc     $ffff,y
        sta     mm_l0
al1:    lda     $ffff,y                 ; (mm_t_hk: + >MM_K)
bl1:    sbc     $ffff,y
        sec
        adc     mm_h0                   ; byte 1: L1 + H0 + 1
        tay
        lda     mm_h1
        adc     #0                      ; byte 2: H1 + carry (<= 192: C = 0 after)
        sta     mm_h1
        MM_ADD_LOW
        lda     mm_h1
        adc     mm_acc2-1,x
        sta     mm_acc2-1,x
        bcc     :+
        inc     mm_acc3-1,x
        clc                             ; C = 0 for the next row
:       dex
        bne     loop
        jmp     mm_sweep_next
.endproc

; mm_inner_wp / mm_inner_wn: a one-product column, 0 < x <= MM_WIDE /
; -MM_WIDE <= x < 0 (self-modified by mm_sweep; one copy per sign of x, so that
; the table pages of each stay put while x's sign alternates from column to
; column). p = w*x = f(x+w) - f(x-w), exact mod 2^16, and its sign is known
; from w's (N after ldy): ADD rows (p >= 0) add p, with a carry into byte 2
; only when the 16-bit sum wraps (rare for small p); SUB rows (p <= 0) add
; p - 1 + 65536 with C = 1 and borrow from byte 2 when that does not carry
; (rare). ADD rows need C = 1 for the table subtraction and end with C = 0, SUB
; rows the other way round, so each kind loops to its own top: only two rows of
; one kind in a row set C.
; in: X = rows, C = 0; operands patched: wa/ws = column base - 1, aa*/sa* =
;     mm_t + MM_WIDE + x, ab*/sb* = mm_t + MM_WIDE - x (the *1 ones
;     MM_T_PAGES pages on, in the hi bytes)
; out: mm_acc += w*x for each row; continues at mm_sweep_next (entered by jmp
;     from mm_sweep)
; clobbers: A, X (0), Y, mm_l0, C
; cycles: ~62 per row (+ the page crossings of the weight and table reads;
;     a carry or borrow into byte 2: +~10)
.macro MM_INNER_W to_sub, to_add        ; the branches to the SUB / ADD rows
top_a:                                  ; C = 0: entry, or after an ADD row
wa:     ldy     $ffff,x                 ; y = w + 128: N = (w >= 0)
        to_sub  sub_row
        sec
add_row:                                ; C = 1
aa0:    lda     $ffff,y                 ; p = f(x+w) - f(x-w), 0..65408
ab0:    sbc     $ffff,y
        sta     mm_l0
aa1:    lda     $ffff,y
ab1:    sbc     $ffff,y
        tay
        clc
        MM_ADD_LOW
        bcs     add_carry
        dex                             ; C = 0
        bne     top_a
        jmp     mm_sweep_next
top_s:                                  ; C = 1: after a SUB row
ws:     ldy     $ffff,x
        to_add  add_row
        clc
sub_row:                                ; C = 0
sa0:    lda     $ffff,y                 ; p - 1 + 65536, p = -65408..0
sb0:    sbc     $ffff,y
        sta     mm_l0
sa1:    lda     $ffff,y
sb1:    sbc     $ffff,y
        tay
        sec                             ; + 1: acc + p + 65536
        MM_ADD_LOW
        bcc     sub_borrow              ; acc0..1 + p < 0
        dex                             ; C = 1
        bne     top_s
        jmp     mm_sweep_next
add_carry:                              ; C = 1: go on as after a SUB row
        inc     mm_acc2-1,x
        bne     :+
        inc     mm_acc3-1,x
:       dex
        bne     top_s
        jmp     mm_sweep_next
sub_borrow:                             ; C = 0: go on as after an ADD row
        lda     mm_acc2-1,x
        bne     :+
        dec     mm_acc3-1,x
:       dec     mm_acc2-1,x
        dex
        bne     top_a
        jmp     mm_sweep_next
.endmacro

; x > 0: SUB rows have w < 0 (N = 0)
.proc mm_inner_wp
        MM_INNER_W bpl, bmi
.endproc

; x < 0: SUB rows have w >= 0 (N = 1); w = 0 goes with them (p = 0 either way)
.proc mm_inner_wn
        MM_INNER_W bmi, bpl
.endproc

; MM_BASES a0, a1, b0, b1: patch four table reads for the value v (16 bits,
; signed, |v| <= 128): a0 / a1 (lo bytes / mm_t_hk) read f(v + w) at
; mm_t_lo + MM_WIDE + v + y / mm_t_hk + MM_HK_OFF - 128 + v + y, b0 / b1 read
; f(v - w) at mm_t + MM_WIDE - v + y.
; in: A = v lo, mm_h0 = v hi. clobbers: A, C, mm_h1. cycles: 52
.macro MM_BASES a0, a1, b0, b1
        sta     mm_h1
        clc
        adc     #<MM_WIDE
        sta     a0+1
        sta     a1+1
        lda     mm_h0
        adc     #>(mm_t_lo + MM_WIDE)
        sta     a0+2
        clc
        adc     #>MM_HK_PAGES
        sta     a1+2
        lda     mm_h1
        eor     #<MM_WIDE               ; MM_WIDE - v: never borrows
        sta     b0+1
        sta     b1+1
        lda     #>(mm_t_lo + MM_WIDE)
        sec
        sbc     mm_h0
        sta     b0+2
        clc
        adc     #MM_T_PAGES
        sta     b1+2
.endmacro

; MM_WIDE_SETUP copy, key, l_wide, l_pages: patch copy (mm_inner_wp or _wn)
; for x and jump to it. l_wide: in: A = xl <> 0, X = xh + 2; the table pages
; are patched only when X differs from key (then key := X). l_pages: in: A = xl,
; X = xh + 2: patch everything (key left alone). cycles: ~75 with the pages
; kept, ~120 patching them
.macro MM_WIDE_SETUP copy, key, l_wide, l_pages
        .local  new_key, low_b
l_wide: cpx     key
        bne     new_key
        ; the same xh as this copy's last column (xl <> 0 both): the table
        ; pages already fit; only the low bytes change
        adc     #<MM_WIDE - 1           ; (C = 1 from cpx) mm_t + MM_WIDE + x, low byte
        sta     copy::aa0+1
        sta     copy::aa1+1
        sta     copy::sa0+1
        sta     copy::sa1+1
        jmp     low_b
new_key:
        stx     key
l_pages:
        clc
        adc     #<MM_WIDE               ; mm_t + MM_WIDE + x, low byte (C: carry)
        sta     copy::aa0+1
        sta     copy::aa1+1
        sta     copy::sa0+1
        sta     copy::sa1+1
        txa
        adc     #>(mm_t_lo + MM_WIDE) - 2       ; page: + xh + carry
        sta     copy::aa0+2
        sta     copy::sa0+2
        adc     #MM_T_PAGES             ; (C = 0: no page wraps)
        sta     copy::aa1+2
        sta     copy::sa1+2
        stx     mm_h0
        lda     #>(mm_t_lo + MM_WIDE) + 2
        sec
        sbc     mm_h0                   ; page: - xh
        sta     copy::ab0+2
        sta     copy::sb0+2
        clc
        adc     #MM_T_PAGES
        sta     copy::ab1+2
        sta     copy::sb1+2
low_b:  lda     mm_xl
        eor     #<MM_WIDE               ; mm_t + MM_WIDE - x, low byte (never borrows)
        sta     copy::ab0+1
        sta     copy::ab1+1
        sta     copy::sb0+1
        sta     copy::sb1+1
        ldx     mm_rows
        clc
        jmp     copy                    ; back at next
.endmacro

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
;     mm_e (mm_xl, mm_xh, mm_key_p, mm_key_n), the patched operands
; cycles: per row and column ~63 for -511 <= x <= 511, ~110 otherwise, 0 for
;     x = 0; + per column ~150 (one product, the same high byte as the last
;     column of that sign) to ~200 (two products: ~230), ~20 for the prepass;
;     + per row ~40 (no bias) / ~57 (bias)
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
        tay                             ; Y = 2*cols
owe:    dey
        lda     (mm_x),y                ; xh
        clc
        adc     #1                      ; xh in $ff..$01: 0..2
        cmp     #3
        bcc     owe_next                ; -256 <= x <= 511: one product or none
        cmp     #$ff
        bne     owe_gen                 ; |x| >= 512
        dey                             ; xh = $fe: -511..-257, or -512 when xl = 0
        lda     (mm_x),y
        iny
        cmp     #0
        bne     owe_next
owe_gen:
        MM_OWE  MM_GEN_OWED
owe_next:
        dey                             ; -> xl: 0 after column 0
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
bias_row:
        dey
        clc
        lda     (mm_init),y
        adc     mm_fix
        sta     mm_acc0,y
        lda     (mm_wcol),y             ; N: the sign to extend (C kept)
        bmi     bias_neg
        adc     mm_fix+1
        sta     mm_acc1,y
        lda     #0
        adc     mm_fix+2
        sta     mm_acc2,y
        lda     #0
        adc     mm_fix+3
        sta     mm_acc3,y
        tya
        bne     bias_row
        beq     columns                 ; (always)
bias_neg:
        adc     mm_fix+1
        sta     mm_acc1,y
        lda     #$ff
        adc     mm_fix+2
        sta     mm_acc2,y
        lda     #$ff
        adc     mm_fix+3
        sta     mm_acc3,y
        tya
        bne     bias_row
columns:
        ; the weight operands are column base - 1 (X runs rows..1)
        sec
        lda     mm_w
        sbc     #1
        sta     mm_inner_wp::wa+1
        sta     mm_inner_wp::ws+1
        sta     mm_inner_wn::wa+1
        sta     mm_inner_wn::ws+1
        sta     mm_inner::wc+1
        lda     mm_w+1
        sbc     #0
        sta     mm_inner_wp::wa+2
        sta     mm_inner_wp::ws+2
        sta     mm_inner_wn::wa+2
        sta     mm_inner_wn::ws+2
        sta     mm_inner::wc+2
        lda     #0
        sta     mm_xi
        lda     #MM_NO_KEY              ; the copies' table pages: unknown
        sta     mm_key_p
        sta     mm_key_n
column:
        ldy     mm_xi
        lda     (mm_x),y
        sta     mm_xl
        iny
        lda     (mm_x),y
        sta     mm_xh
        iny
        sty     mm_xi                   ; -> the next column
        tax
        inx
        inx                             ; X = xh + 2: 0..3 for xh in $fe..$01
        cpx     #4
        bcc     :+
        jmp     general                 ; |x| >= 512
:       lda     mm_xl
        bne     wide
        cpx     #2
        bne     :+
        jmp     next                    ; x = 0 adds nothing
:       cpx     #0
        bne     x256
        jmp     general                 ; x = -512: two products
x256:   ldy     #MM_NO_KEY              ; x = +-256 (xl = 0: no carry into the page)
        cpx     #2
        bcc     :+
        sty     mm_key_p
        jmp     pages_p
:       sty     mm_key_n
        jmp     pages_n
wide:   ; -511 <= x <= 511, xl <> 0: A = xl, X = xh + 2
        cpx     #2
        bcs     wide_p
        jmp     wide_n
        MM_WIDE_SETUP mm_inner_wp, mm_key_p, wide_p, pages_p
        MM_WIDE_SETUP mm_inner_wn, mm_key_n, wide_n, pages_n
general:
        ; q = xh + (xl >= $80) as 16 bits (q_hi in mm_h0), r = xl signed
        ldx     #0
        lda     mm_xh
        bpl     :+
        dex
:       stx     mm_h0                   ; sign of xh
        lda     mm_xl
        cmp     #$80                    ; C = (r < 0)
        lda     mm_xh
        adc     #0                      ; q_lo
        tax
        lda     mm_h0
        adc     #0                      ; q_hi (C from q_lo)
        sta     mm_h0
        txa
        MM_BASES mm_inner::ah0, mm_inner::ah1, mm_inner::bh0, mm_inner::bh1
        ldx     #0                      ; r_hi: 0 / $ff
        lda     mm_xl                   ; r_lo
        bpl     :+
        dex
:       stx     mm_h0
        MM_BASES mm_inner::al0, mm_inner::al1, mm_inner::bl0, mm_inner::bl1
        ldx     mm_rows
        clc
        jmp     mm_inner                ; back at next
next:   clc                             ; next column: rows bytes further
        lda     mm_inner::wc+1
        adc     mm_rows
        sta     mm_inner_wp::wa+1
        sta     mm_inner_wp::ws+1
        sta     mm_inner_wn::wa+1
        sta     mm_inner_wn::ws+1
        sta     mm_inner::wc+1
        bcc     :+
        inc     mm_inner_wp::wa+2
        inc     mm_inner_wp::ws+2
        inc     mm_inner_wn::wa+2
        inc     mm_inner_wn::ws+2
        inc     mm_inner::wc+2
:       dec     mm_cols
        beq     :+
        jmp     column
:       rts
.endproc
mm_sweep_next := mm_sweep::next         ; where mm_inner and mm_inner_wp/_wn end

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
