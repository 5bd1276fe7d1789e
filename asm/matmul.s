; matmul.s - y = sat16(asr(W.x (+ b), shift)), bit-exact per shared/spec/numerics.md.
;
; mm_sweep computes every row of W.x (+ b) and writes the results straight
; into the caller's plan: up to MM_RANGES output ranges of consecutive rows,
; each with its own shift and destination (the fused q/k/v sweep has three).
; On the fast path the row loop's tail turns each row's sum into the result
; for shifts 6, 7, 8 (all that real souls use); for other shifts, and on the
; fallback, the rows go to 32-bit accumulators (mm_acc0..3, bytes
; 0..3, one array per byte) and mm_finish turns a range into
; sat16(asr(acc, shift)) afterwards.
;
; mm_sweep uses squares: 2*sum_c w_c x_c = sum_c (x_c + w_c)^2 - sum_c x_c^2
; - sum_c w_c^2, one table read per byte of each multiply-add. Row-outer: for
; each row (X) the unrolled slots of mm_slots.inc (rendered from
; asm/mm_slots.s.j2) add (x_c + w_rc)^2 for every column, starting from
; E_r - sum_c x_c^2, where E_r = 2 b_r - sum_c w_rc^2 comes from gen/weights.py.
; The 24-bit sum runs modulo 2^24 - 1 (end-around carry), which is exact when
; the true value 2 (W.x + b)_r has |.| < 2^23: gen/weights.py checks per
; matrix that |W.x + b| < 2^22 for inputs with |x| <= the descriptor's xmax.
; A vector with some |x| > xmax takes the exact fallback: each such column
; is split as x = 256 q + r (r the signed low byte, q the high byte + (r < 0),
; both within +-128), one fast pass runs on x with r in those columns (the
; build checks the bound for |x| <= 128 too) into 32-bit accumulators, and
; mm_columns adds 256 q w row by row for each such column. The first two
; such columns with |q| <= the descriptor's qmax (gen/weights.py q_limit:
; every sum stays below 2^22 with them) instead take the row loop's
; q-blocks, which add their 256 q w to the modular sum (mm_rowloop qb, qb2):
; with no other column beyond, the sweep stays on the fast path.
;
; The squares tables live in the RAM under I/O and KERNAL ($D000-$FFF9,
; segment SQUARES): mm_sq1, mm_sq2 = bytes 1, 2 of n^2 for n = -2048..2047 at
; index MM_SQ_ZERO + n (4 KB each), and mm_sq0 = byte 0, which repeats with
; period 128 in n ((n + 128)^2 = n^2 + 256 n + 16384), so 384 bytes hold every
; 256-byte window: mm_sq0[j] = j^2 mod 256, read at (index mod 128) + y. mm_init
; computes them at start. mm_sweep and mm_init need that RAM banked in
; (BANK_ALL_RAM, interrupts off; engine_step does it), and the NMI vector at
; $FFFA then points at an RTI. The E_r arrays go to segment ENGBSS there too
; when they fit (gen/weights.py decides; only banked-in code touches them).

.include "c64.inc"
.include "macros.inc"
.include "model.inc"
.include "matmul.inc"

.exportzp mm_x, mm_out
.export mm_relu
.export mm_ostep, mm_pn, mm_pcount, mm_pshift, mm_pout_l, mm_pout_h, mm_pouth_l, mm_pouth_h
.export mm_sweep
.export mm_init, mm_init_e, mm_sq0, mm_sq1, mm_sq2
.export mm_sq_zero                      ; attention.s: the index of n = 0 in mm_sq1/2

.ifndef MM_MAX_ROWS
        .error "matmul.s: define MM_MAX_ROWS (model.inc)"
.endif
.assert MM_MAX_ROWS >= 1 && MM_MAX_ROWS <= 255, error, "matmul: rows are indexed by X (1..255)"

MM_SQ_LEN       = 4096          ; entries per squares table (16 pages)
MM_SQ_ZERO      = 2048          ; index of n = 0
mm_sq_zero      = MM_SQ_ZERO
MM_SQ_PAGES     = MM_SQ_LEN / 256
MM_SQ0_PERIOD   = 128           ; byte 0 of n^2 repeats with this period
MM_SQ0_LEN      = MM_SQ0_PERIOD + 256   ; a window (index mod 128) + y, y = 0..255
MM_SLOT_SIZE    = 24            ; bytes per slot (mm_slots.s.j2)
MM_SO_W         = 1             ; slot offsets of the patched operands
MM_SO_T0        = 6
MM_SO_T1        = 13
MM_SO_TAIL      = 17
MM_SO_T2        = 20
MM_TAIL_SIZE    = 7
MM_E_BYTES      = 8             ; finish: the value, sign extended to 64 bits
MM_E_SHIFTED    = 6             ; finish: bytes 0..5 take part in the shifts
; every slot read is n = x + w with |x| <= MM_TABLE_XMAX, w = -128..127
        .assert MM_TABLE_XMAX + 128 <= MM_SQ_ZERO, error, "matmul: squares table too short below"
        .assert MM_SQ_ZERO + MM_TABLE_XMAX + 127 < MM_SQ_LEN, error, "matmul: squares table too short above"
        .assert MM_FALLBACK_X <= MM_TABLE_XMAX && MM_FALLBACK_X >= 128, error, "matmul: fallback range"
; gen/weights.py puts the E_r arrays under I/O (segment ENGBSS) when they fit in
; what the squares leave there, MM_ENGBSS_ROOM (model.inc)
.import __UNDERIO_SIZE__
        .assert MM_ENGBSS_ROOM = __UNDERIO_SIZE__ - (2 * MM_SQ_LEN + MM_SQ0_LEN + MM_INDEX_LEN + MM_SQC_LEN), error, "matmul: MM_ENGBSS_ROOM disagrees with the squares layout"

.segment "ZEROPAGE"
mm_x:           .res 2          ; in: input vector, cols int16 (lo, hi interleaved)
mm_out:         .res 2          ; finish: where low bytes go
mm_outh:        .res 2          ; finish: where high bytes go
mm_a0:          .res 1          ; the row's sum, bytes 0..2 (mod 2^24 - 1)
mm_a1:          .res 1
mm_a2:          .res 1
mm_sp:          .res 2          ; sweep setup: the next slot for a two-byte column
mm_spw:         .res 2          ; sweep setup: the next slot for a three-byte one
mm_dp:          .res 2          ; sweep: the descriptor
mm_sq:          .res 2          ; sweep setup: squares table pointer
mm_h0:          .res 1          ; mm_ranges: ostep * (row0 + 1); mm_fast: x + xmax's
                                ; low byte (edge)
mm_h1:          .res 1          ; mm_init: 2n + 1's high byte; mm_fast: a page
mm_l0:          .res 1          ; mm_init: 2n + 1's low byte; mm_fast: L'
mm_xi:          .res 1          ; finish: output index; mm_columns: 2 * record;
                                ; mm_fast: 2 * column
mm_nb:          .res 1          ; mm_fast: 2 * the columns beyond the limit (mm_bq, mm_bw)
mm_e:           .res MM_E_BYTES ; finish: value being shifted
mm_xl           = mm_e          ; sweep setup: this column's x, low byte
mm_xh           = mm_e + 1      ; and high byte
mm_si           = mm_e + 2      ; sweep setup: slot number

.segment "BSS"
; the plan: mm_sweep's output ranges (set by the caller; see mm_sweep)
mm_pn:          .res 1          ; ranges (1..MM_RANGES)
mm_pcount:      .res MM_RANGES  ; range i: rows, from row 0 up
mm_pshift:      .res MM_RANGES  ; s_w + post-shift (signed)
mm_pout_l:      .res MM_RANGES  ; where the low bytes go
mm_pout_h:      .res MM_RANGES
mm_pouth_l:     .res MM_RANGES  ; where the high bytes go
mm_pouth_h:     .res MM_RANGES
mm_prow0:       .res MM_RANGES  ; sweep: range i's first row
mm_ppend:       .res MM_RANGES  ; sweep: nonzero when mm_finish must run range i
mm_fuse:        .res 1          ; sweep: nonzero when the tails may be fused
mm_anyp:        .res 1          ; sweep: nonzero when some range took the acc tail
mm_relu:        .res 1          ; in: nonzero: the next sweep reads its input as
                                ; max(0, x) (fc2 after fc1's ReLU); mm_fast clears it
mm_top:         .res 1          ; sweep: the current range's top X
mm_ri:          .res 1          ; sweep: the current range
mm_ostep:       .res 1          ; output index step: 2 = interleaved (high bytes at
                                ; the low bytes + 1), 1 = split lo/hi arrays
mm_rows:        .res 1          ; descriptor: rows, cols
mm_cols:        .res 1
mm_q:           .res 1          ; finish: result byte offset in mm_e
mm_lsh:         .res 1          ; finish: left shifts
mm_rsh:         .res 1          ; finish: right shifts
mm_r:           .res 1          ; finish: current row
mm_n:           .res 1          ; finish: rows left
mm_wcol:        .res 2          ; sweep setup: this column's weights - 1
mm_sx:          .res 4          ; sweep setup: sum of x^2 (exact)
.segment "ENGBSS"                       ; under I/O: only mm_init/mm_sweep, banked in, touch these
mm_bq:          .res 2 * MM_SLOTS       ; fallback: the columns beyond the limit,
                                        ; q (int16) of each (mm_fast records them)
mm_bw:          .res 2 * MM_SLOTS       ; and its weight column - 1

.segment "ACCBSS"                       ; page aligned (asm/soul.cfg)
; page aligned + 1: the loops use mm_accN-1,x (x = rows..1), so with the
; base at a page start and at most 128 rows two arrays share a page and
; almost no access crosses a page (saves a cycle per access)
MM_ACC_STRIDE   = MM_MAX_ROWS
                .res 1
mm_acc0:        .res MM_ACC_STRIDE
mm_acc1:        .res MM_ACC_STRIDE
mm_acc2:        .res MM_ACC_STRIDE
mm_acc3:        .res MM_ACC_STRIDE
        .assert MM_MAX_ROWS <> 128 || (<mm_acc0 = 1 && <mm_acc2 = 1), warning, "matmul accumulators cross pages"

.segment "SQUARES"
; under I/O and KERNAL (asm/soul.cfg), page aligned; computed by mm_init
mm_sq1:         .res MM_SQ_LEN  ; byte 1 of (i - MM_SQ_ZERO)^2
mm_sq2:         .res MM_SQ_LEN  ; byte 2
mm_sq0:         .res MM_SQ0_LEN ; byte 0: mm_sq0[j] = j^2 mod 256
; the row loop's output index Y = 2 X by row X = 1..127 for interleaved
; outputs (mm_rowloop's `index`; computed by mm_init). mm_sq0 ends at a page +
; 128, so no read crosses a page; mm_dbl[0] is never read
mm_dbl:         .res MM_INDEX_LEN
        .assert MM_INDEX_LEN = 128 && <mm_dbl = $80, error, "matmul: the index table's layout"
; byte 1 of n^2 for n = -128..254 at n + 128 (from mm_sq1, by mm_init): the
; two-byte slots with -128 <= m = x - beta < 0 read it at m + 128 + (w + beta),
; which crosses a page only for x + w >= 128 (mm_sq1 at page MM_P would cross
; for x + w >= 0)
mm_sqc:         .res MM_SQC_LEN
        .assert <mm_sqc = 0 && MM_SQC_LEN = 3 * 128, error, "matmul: mm_sqc's layout"
        .assert <mm_sq0 = 0 && <mm_sq1 = 0 && mm_sq2 - mm_sq1 = MM_SQ_LEN, error, "matmul: squares tables layout"
        .assert MM_SQ_ZERO .mod MM_SQ0_PERIOD = 0 && (MM_SQ_ZERO - 128) .mod MM_SQ0_PERIOD = 0, error, "matmul: mm_sq0's period"
; mm_sq1's page to mm_sq2's by eor, which keeps C (the tables are 4 KB aligned)
MM_PAGE_1TO2    = >mm_sq1 ^ >mm_sq2
        .assert (mm_sq1 & $0fff) = 0 && (mm_sq2 & $0fff) = 0 && MM_SQ_PAGES = 16, error, "matmul: eor page steps need 4 KB aligned tables"

; The slot tails, as mm_fast's set2 / set3 write them (6502 opcodes):
;   two-byte (every (x + w)^2 of the column below 2^16: mm_fast), MM_TAIL_SIZE bytes:
;       bcc +5      no carry out of byte 1: C = 0
;       inc mm_a2
;       beq +1      mm_a2 wrapped: C = 1 is the end-around carry
;       clc
;   three-byte, as mm_slots.s.j2 assembles it: lda mm_a2 / adc T2,y / sta mm_a2
OP_BCC          = $90
OP_BEQ          = $f0
OP_CLC          = $18
OP_INC_ZP       = $e6
OP_LDA_ZP       = $a5
OP_ADC_ABSY     = $79
OP_STA_ZP       = $85
        .assert MM_TAIL_SIZE = 7 && MM_SO_T2 - MM_SO_TAIL = 3, error, "matmul: the tails' layout"
; mm_fast tells the tails apart by their third byte's bit 7: OP_INC_ZP (two
; bytes) has it, OP_ADC_ABSY (three bytes) has not
        .assert (OP_INC_ZP & $80) <> 0 && (OP_ADC_ABSY & $80) = 0, error, "matmul: the tails' third bytes"

.segment "CODE"

; mm_init: compute the squares tables and point the NMI vector at an RTI.
; Once at start.
; in: - ; out: mm_sq0..2, mm_dbl, mm_sqc, NMI_VECTOR, mm_relu = 0 ; clobbers: A, X,
; Y, mm_a0..2, mm_sp, mm_sq, mm_h1, mm_l0 (CPU port and I flag restored)
; cycles: ~250 k (by instruction count: ~115 per n)
.proc mm_init
        php
        sei
        lda     CPU_PORT
        pha
        lda     #BANK_ALL_RAM
        sta     CPU_PORT
        ; n = 0..MM_SQ_ZERO - 1: n^2 at MM_SQ_ZERO + n (mm_sp) and MM_SQ_ZERO - n
        ; (mm_sq), bytes 1 and 2 (mm_sq1, mm_sq2)
        LDPTR   mm_sp, mm_sq1 + MM_SQ_ZERO
        LDPTR   mm_sq, mm_sq1 + MM_SQ_ZERO
        jsr     squares
        ; n = -MM_SQ_ZERO at index 0: the loop left (MM_SQ_ZERO)^2 in mm_a0..2
        lda     mm_a1
        sta     mm_sq1
        lda     mm_a2
        sta     mm_sq2
        ; byte 0: mm_sq0[j] = j^2 mod 256, j = 0..MM_SQ0_LEN - 1, period 128
        lda     #0
        sta     mm_relu                 ; (BSS is not cleared)
        tax                             ; j = 0..127, A = j^2 mod 256
sq0:    sta     mm_sq0,x
        sta     mm_sq0 + MM_SQ0_PERIOD,x
        sta     mm_sq0 + 2 * MM_SQ0_PERIOD,x
        sta     mm_a0
        txa                             ; (j + 1)^2 = j^2 + 2j + 1
        asl                             ; (C = 0: j < 128)
        sec
        adc     mm_a0
        inx
        bpl     sq0
        .assert MM_SQ0_PERIOD = 128 && MM_SQ0_LEN = 3 * MM_SQ0_PERIOD, error, "mm_init: mm_sq0's loop"
        ; mm_sqc[k] = byte 1 of (k - 128)^2, k = 0..MM_SQC_LEN - 1
        ldy     #0
:       lda     mm_sq1 + MM_SQ_ZERO - 128,y
        sta     mm_sqc,y
        iny
        bne     :-
        ldy     #MM_SQC_LEN - 256 - 1
:       lda     mm_sq1 + MM_SQ_ZERO - 128 + 256,y
        sta     mm_sqc + 256,y
        dey
        bpl     :-
        ; the output index table: mm_dbl[X] = 2 X
        ldx     #MM_INDEX_LEN - 1
:       txa
        asl
        sta     mm_dbl,x
        dex
        bne     :-
        lda     #<engine_nmi
        sta     NMI_VECTOR
        lda     #>engine_nmi
        sta     NMI_VECTOR+1
        pla
        sta     CPU_PORT
        plp
        rts

; squares: n^2's bytes 1, 2 for n = 0..MM_SQ_ZERO - 1, up from mm_sp and down
; from mm_sq (both in mm_sq1); leaves MM_SQ_ZERO^2 in mm_a0..2
squares:
        lda     #0
        sta     mm_a0                   ; n^2
        sta     mm_a1
        sta     mm_a2
        sta     mm_h1                   ; 2n + 1 (16 bits: mm_l0, mm_h1)
        lda     #1
        sta     mm_l0
        ldy     #0
square: lda     mm_a1
        sta     (mm_sp),y
        sta     (mm_sq),y
        lda     mm_sp+1                 ; -> mm_sq2
        eor     #MM_PAGE_1TO2
        sta     mm_sp+1
        lda     mm_sq+1
        eor     #MM_PAGE_1TO2
        sta     mm_sq+1
        lda     mm_a2
        sta     (mm_sp),y
        sta     (mm_sq),y
        lda     mm_sp+1                 ; back to mm_sq1
        eor     #MM_PAGE_1TO2
        sta     mm_sp+1
        lda     mm_sq+1
        eor     #MM_PAGE_1TO2
        sta     mm_sq+1
        clc                             ; n^2 += 2n + 1; 2n + 1 += 2
        lda     mm_a0
        adc     mm_l0
        sta     mm_a0
        lda     mm_a1
        adc     mm_h1
        sta     mm_a1
        bcc     :+
        inc     mm_a2
:       clc
        lda     mm_l0
        adc     #2
        sta     mm_l0
        bcc     :+
        inc     mm_h1
:       inc     mm_sp                   ; up one, down one
        bne     :+
        inc     mm_sp+1
:       lda     mm_sq
        bne     :+
        dec     mm_sq+1
:       dec     mm_sq
        lda     mm_sp+1
        cmp     #>(mm_sq1 + MM_SQ_LEN)
        bne     square
        rts
.endproc

; MM_OPEN_DESC: mm_dp := the descriptor at A/X; mm_rows, mm_cols from it.
; clobbers: A, Y. cycles: 30
.macro MM_OPEN_DESC
        sta     mm_dp
        stx     mm_dp+1
        ldy     #MM_DESC::rows
        lda     (mm_dp),y
        sta     mm_rows
        ldy     #MM_DESC::cols
        lda     (mm_dp),y
        sta     mm_cols
.endmacro

; mm_init_e: a matrix's row constants E_r = 2 b_r - sum_c w_rc^2 modulo
; 2^24 - 1 (gen/weights.py row_constants), from its weights and bias, into
; the descriptor's e arrays. Once per matrix at start, after mm_init.
; in: A/X = descriptor address; BANK_ALL_RAM (the squares are read)
; out: e arrays ; clobbers: A, X, Y, mm_dp, mm_sp, mm_sq, mm_e, mm_rows, mm_cols
; cycles: ~50 per weight (by instruction count: the column loop's row)
MM_E0           = mm_e          ; init: pointers to E's byte arrays 0, 1, 2
MM_E1           = mm_e + 2
MM_E2           = mm_e + 4
MM_INITE_STEP   = 9             ; lda abs,x / sbc abs(,y) / sta abs,x per byte
.proc mm_init_e
        MM_OPEN_DESC
        ldy     #MM_DESC::e
        lda     (mm_dp),y
        sta     MM_E0
        iny
        lda     (mm_dp),y
        sta     MM_E0+1
        clc
        lda     MM_E0
        adc     mm_rows
        sta     MM_E1
        lda     MM_E0+1
        adc     #0
        sta     MM_E1+1
        clc
        lda     MM_E1
        adc     mm_rows
        sta     MM_E2
        lda     MM_E1+1
        adc     #0
        sta     MM_E2+1
        ; the column loop's operands: the arrays - 1 (X = rows..1); byte k's
        ; read and write are MM_INITE_STEP * k bytes after byte 0's
        ldx     #0
        ldy     #0
eops:   sec
        lda     MM_E0,x
        sbc     #1
        sta     e0r+1,y
        sta     e0w+1,y
        lda     MM_E0+1,x
        sbc     #0
        sta     e0r+2,y
        sta     e0w+2,y
        tya
        clc
        adc     #MM_INITE_STEP
        tay
        inx
        inx
        cpx     #6
        bne     eops
        ; E := 2 b (sign extended) or 0; mm_sp, mm_sq -> the bias' low, high bytes
        ldy     #MM_DESC::bias
        lda     (mm_dp),y
        sta     mm_sp
        iny
        lda     (mm_dp),y
        sta     mm_sp+1
        ldy     mm_rows
        ora     mm_sp
        bne     bias
        ; no bias: read it from zeros, byte 2 of n^2 for n = -255..254
        LDPTR   mm_sp, mm_sq2 + MM_SQ_ZERO - 255
        .assert MM_MAX_ROWS <= 255, error, "mm_init_e: the zeros hold 2 * 255 bytes"
bias:   clc
        lda     mm_sp
        adc     mm_rows
        sta     mm_sq
        lda     mm_sp+1
        adc     #0
        sta     mm_sq+1
bias_row:
        dey
        lda     (mm_sp),y
        asl
        sta     (MM_E0),y
        lda     (mm_sq),y
        rol
        sta     (MM_E1),y
        lda     (mm_sq),y
        and     #$80
        beq     :+
        lda     #$ff
:       sta     (MM_E2),y
        tya
        bne     bias_row
columns:
        ; E -= w^2, column by column; the weights are w + beta: w^2's bytes
        ; at mm_sq0 + 128 - beta + (w + beta) (byte 0 of (w + 128)^2) and
        ; mm_sq1 + MM_SQ_ZERO - beta + (w + beta)
        ldy     #MM_DESC::beta
        lda     #0
        sec
        sbc     (mm_dp),y               ; -beta (beta >= 1)
        sta     i1+1
        eor     #$80                    ; 128 - beta
        sta     i0+1
        ldy     #MM_DESC::w
        lda     (mm_dp),y
        sec
        sbc     #1
        sta     wl+1
        iny
        lda     (mm_dp),y
        sbc     #0
        sta     wl+2
column: ldx     mm_rows
row:
wl:     ldy     $ffff,x                 ; w + beta
        sec
e0r:    lda     $ffff,x
i0:     sbc     mm_sq0,y                ; (+ 128 - beta) w^2 = (w + 128)^2 mod 256
e0w:    sta     $ffff,x
e1r:    lda     $ffff,x
i1:     sbc     mm_sq1 + MM_SQ_ZERO - 256,y     ; (low byte -beta)
e1w:    sta     $ffff,x
e2r:    lda     $ffff,x
        sbc     mm_sq0                  ; 0 (w^2 <= 2^14: byte 2 is 0); absolute,
e2w:    sta     $ffff,x                 ; so that the operands are evenly spaced
        dex
        bne     row
        .assert e1r - e0r = MM_INITE_STEP && e2r - e1r = MM_INITE_STEP && e1w - e0w = MM_INITE_STEP && e2w - e1w = MM_INITE_STEP, error, "mm_init_e: operand spacing"
        .assert MM_E1 - MM_E0 = 2 && MM_E2 - MM_E1 = 2, error, "mm_init_e: pointer spacing"
        ADD16_8 wl+1, mm_rows
        dec     mm_cols
        bne     column
        ; negative sums as residues modulo 2^24 - 1: minus one
        ldy     mm_rows
mod:    dey
        lda     (MM_E2),y
        bpl     next
        lda     (MM_E0),y
        sec
        sbc     #1
        sta     (MM_E0),y
        lda     (MM_E1),y
        sbc     #0
        sta     (MM_E1),y
        lda     (MM_E2),y
        sbc     #0
        sta     (MM_E2),y
next:   tya
        bne     mod
        rts
.endproc

; engine_nmi: the NMI handler while the RAM under the KERNAL is banked in
.proc engine_nmi
        rti
.endproc

; MM_QBLOCK: a q-block's row step (mm_rowloop qb), its operands labelled
; w_ (the column's weights - 1; 0: free), t0_, t1_ ((q + w)^2's bytes 0, 1
; at q - beta), c0_, c1_ (w^2's at -beta). clobbers: A, Y, mm_l0; C: the
; end-around carry in and out.
.macro MM_QBLOCK w_, t0_, c0_, t1_, c1_
        php
w_:     ldy     a:$0000,x
        sec
t0_:    lda     mm_sq0,y                ; (+ (q - beta) mod 128) byte 0 of (q + w)^2
c0_:    sbc     mm_sq0,y                ; (+ 128 - beta) byte 0 of w^2
        sta     mm_l0
t1_:    lda     $ffff,y                 ; (mm_sq1 + MM_SQ_ZERO + q - beta) byte 1
c1_:    sbc     MM_P * 256,y            ; (low byte -beta) byte 1 of w^2
        eor     #$80                    ; + 2^15
        tay
        plp
        lda     mm_a0                   ; the sum += (0, D's bytes 0, 1)
        adc     #0
        sta     mm_a0
        lda     mm_a1
        adc     mm_l0
        sta     mm_a1
        tya
        adc     mm_a2
        sta     mm_a2                   ; C: the end-around carry
.endmacro

; mm_rowloop: the rows X = top .. stop+1 of one output range: each row's
; squares sum, then its tail (patched per range by mm_ranges): `fN` writes
; sat16(asr(S, N)) straight into the range's output (S = 2 (W.x + b), 24 bits,
; |S| < 2^23 on the fast path; N = shift + 1 = 7, 8, 9), `acc` stores the
; 32-bit W.x + b into mm_acc0..3 for mm_finish.
; in: X = top (> stop), C = 1; e0..e2 -> E_r's bytes - 1; nx0..nx2 =
;     -(sum x^2 + 1) (the 1 is the carry every row starts with); enter -> the
;     first used slot, or a q-block that mm_fast patched (qj -> that slot);
;     the slots patched; stop, tail (the branch's offset),
;     index and the tails' store operands patched (mm_ranges); mm_dbl
; out: the range's rows written; clobbers: A, X (= stop), Y, mm_a0..2, mm_l0
;     (the q-blocks)
; cycles: per row the slots + ~50 + the tail, by instruction count: row
;     start 30, index 4 (split outputs 6), the quick fold and the branch to
;     the tail 8 (the exact fold, for a0 + C >= 255, ~35 more), next 7; tails
;     f8 16, f9 22, f7 31 (S >= 0), acc ~48; a q-block ~65. Measured (a
;     profile stop at mm_ranges, x64sc; the rows of a token, by round):
;     docs/architecture.md.
MM_INDEX_OPS    = 3                     ; mm_rowloop's index: bytes
.proc mm_rowloop
        .include "mm_slots.inc"
        .assert w0 + 1 - s0 = MM_SO_W && t0_0 + 1 - s0 = MM_SO_T0 && t1_0 + 1 - s0 = MM_SO_T1, error, "mm_slots: operand offsets"
        .assert tail0 - s0 = MM_SO_TAIL && t2_0 + 1 - s0 = MM_SO_T2, error, "mm_slots: tail offsets"
        ; C: the last end-around carry. v := the sum + C (cannot carry out of
        ; 24 bits: after a carry out of byte 2 they are at most $fffffe), then
        ; S = v, or v - (2^24 - 1) = v + 1 - 2^24 for v >= 2^23. When
        ; a0 + C + 1 < 256 neither step reaches byte 1: S's bytes 1, 2 are
        ; a1, a2 and S's byte 0 is mm_a0 := a0 + C + 1 - (S >= 0) (the
        ; fused tails f8, f9 read only bytes 1, 2; f7 and acc take the 1 off
        ; for S >= 0; A holds that byte at the tail, which f7 and acc store)
index:  ldy     mm_dbl,x                ; Y := the output index + ostep (patched:
                                        ; txa / tay / nop for split outputs)
        .assert * - index = MM_INDEX_OPS, error, "mm_rowloop: the index's size"
        lda     mm_a0
        adc     #1
tail:   bcc     f9                      ; a0 + C < 255 (C = 0 at every tail); the
                                        ; offset patched: f7, f8, f9, acc_t
fold:   ; A = a0 + C + 1 - 256: 0 (a0 + C = $ff) or 1 (a0 + C = $100)
        bne     :+
        lda     #$ff                    ; v = a1, a2, $ff
        bne     fold_v                  ; (always)
:       lda     #0                      ; v = a1, a2 + 1, 0
        inc     mm_a1
        bne     fold_v
        inc     mm_a2
fold_v: sta     mm_a0
        lda     mm_a2
        bpl     fold_s                  ; S = v
        inc     mm_a0                   ; else S = v + 1 (24 bits)
        bne     fold_s
        inc     mm_a1
        bne     fold_s
        inc     mm_a2
fold_s: lda     mm_a2                   ; S >= 0: mm_a0 = S's byte 0 + 1
        bmi     :+
        inc     mm_a0
:       lda     mm_a0                   ; (the tails f7, acc store A)
        clc
        jmp     tail                    ; (C = 0: taken)
f8:     ; asr(S, 8) = bytes 1, 2 of S (|S| < 2^23: always fits)
        lda     mm_a1
lo8:    sta     $ffff,y
        lda     mm_a2
hi8:    sta     $ffff,y
        dex
stop8:  cpx     #$ff
        bne     row
        rts
f9:     ; asr(S, 9): bytes 1, 2 of S, one step right (always fits)
        lda     mm_a2
        cmp     #$80                    ; C = sign
        ror
hi9:    sta     $ffff,y
        lda     mm_a1
        ror
lo9:    sta     $ffff,y
        dex
stop9:  cpx     #$ff
        beq     done                    ; C = 1 below (cpx): X > stop
row:    ; (C = 1) the sum starts at E_r - sum x^2 = E_r + nx + 1
e0:     lda     $ffff,x
nx0:    adc     #$ff
        sta     mm_a0
e1:     lda     $ffff,x
nx1:    adc     #$ff
        sta     mm_a1
e2:     lda     $ffff,x
nx2:    adc     #$ff
        sta     mm_a2                   ; C: the end-around carry
enter:  jmp     $ffff
done:   rts
acc_t:  jmp     acc                     ; (within the tail branch's reach)
f7:     ; asr(S, 7) = bytes 1, 2 of 2 S; fits iff bits 22, 23 of S agree
        bit     mm_a2                   ; N = bit 23, V = bit 22
        bmi     f7neg
        bvs     f7max
        sbc     #0                      ; (C = 0) S >= 0: S's byte 0 = A - 1
f7fit:  asl                             ; A = S's byte 0
        lda     mm_a1
        rol
lo7:    sta     $ffff,y
        lda     mm_a2
        rol
hi7:    sta     $ffff,y
        dex
stop7:  cpx     #$ff
        bne     row
        rts
f7neg:  bvs     f7fit
        lda     #$00                    ; -32768
        sta     mm_a1
        lda     #$80
        bne     f7sat                   ; (always)
f7max:  lda     #$ff                    ; 32767
        sta     mm_a1
        lda     #$7f
f7sat:  sta     mm_a2
        jmp     f8
acc:    ; acc = S / 2 (S is even), sign extended, into mm_acc0..3
        sta     mm_a0
        lda     mm_a2
        bmi     acc_neg
        dec     mm_a0                   ; (S >= 0: S's byte 0)
        ldy     #0
        clc                             ; C = sign
        bcc     acc_st                  ; (always)
acc_neg:
        ldy     #$ff
        sec
acc_st: ror
        sta     mm_acc2-1,x
        tya
        sta     mm_acc3-1,x
        lda     mm_a1
        ror
        sta     mm_acc1-1,x
        lda     mm_a0
        ror
        sta     mm_acc0-1,x
        dex
stopa:  cpx     #$ff
        bne     row
        rts
qb2:    ; the q-blocks: a column beyond the squares tables' reach each, x =
        ; 256 q + r, whose slot takes r (mm_fast): add 256 D, D = (q + w)^2 -
        ; w^2 + 2^15 = q^2 + 2 q w + 2^15 (0..65535 for |q| <= 90), so that
        ; with 256 (q^2 + 2^15) in sum x^2 the row gets 2 w x. Entered from
        ; `enter` (qb2 only when qb is taken too: it goes on into qb) with C =
        ; the end-around carry, which php / plp keep; on to the first used slot.
        MM_QBLOCK qw2, qt0b, qc0b, qt1b, qc1b
qb:     MM_QBLOCK qw, qt0, qc0, qt1, qc1
        .assert qw - qb = qw2 - qb2 && qt0 - qb = qt0b - qb2 && qt1 - qb = qt1b - qb2 && qc0 - qb = qc0b - qb2 && qc1 - qb = qc1b - qb2, error, "mm_rowloop: the q-blocks' layout"
qj:     jmp     $ffff                   ; (the first used slot)
.endproc

; the row loop's tails by shift - MM_FUSE_K0 (mm_ranges)
MM_FUSE_K0      = 6                     ; shifts 6, 7, 8: tails f7, f8, f9
MM_FUSE_N       = 3
; (the offsets of the row loop's tail branch)
.define MM_TAIL_OFS(t) <(mm_rowloop::t - (mm_rowloop::tail + 2))
mm_tails:       .byte   MM_TAIL_OFS f7, MM_TAIL_OFS f8, MM_TAIL_OFS f9
MM_TAIL_ACC     = MM_TAIL_OFS acc_t
        .assert mm_rowloop::acc_t - (mm_rowloop::tail + 2) < 128 && mm_rowloop::f7 - (mm_rowloop::tail + 2) < 128, error, "mm_rowloop: a tail beyond the branch's reach"
; the row loop's output index (mm_rowloop's `index`, MM_INDEX_OPS bytes):
; split outputs (ostep 1) txa / tay / nop, interleaved (ostep 2) ldy mm_dbl,x
OP_LDY_ABSX     = $bc
OP_TXA          = $8a
OP_TAY          = $a8
OP_NOP          = $ea
mm_index_ops:   .byte   OP_TXA, OP_TAY, OP_NOP
                .byte   OP_LDY_ABSX, <mm_dbl, >mm_dbl

; mm_ranges: run the row loop over the plan's ranges (range i: mm_pcount[i]
; rows, from row 0 up), the top range first; each range gets the fused tail
; of its shift (when mm_fuse <> 0 and the shift is 6..8) or the acc tail and
; a pending mark (mm_finish runs it afterwards, mm_pending).
; in: mm_rows, mm_pn, mm_pcount, mm_pshift, mm_pout*, mm_ostep, mm_fuse; the
;     row loop's slots, e and nx patched (mm_fast)
; out: mm_prow0, mm_ppend, mm_anyp := 1 when some range is pending; the fused
;     ranges' outputs, the others' mm_acc
; clobbers: A, X, Y, mm_a0..2, mm_h0, mm_l0, mm_top, mm_ri, the row loop's
;     operands
; cycles: ~140 per fused range, ~60 per other, + the rows
.proc mm_ranges
        lda     mm_rows
        sta     mm_top
        ldx     mm_pn
range:  dex
        stx     mm_ri
        sec
        lda     mm_top
        sbc     mm_pcount,x
        sta     mm_prow0,x
        sta     mm_rowloop::stop7+1
        sta     mm_rowloop::stop8+1
        sta     mm_rowloop::stop9+1
        sta     mm_rowloop::stopa+1
        lda     mm_fuse
        beq     general
        lda     mm_pshift,x
        sec
        sbc     #MM_FUSE_K0
        cmp     #MM_FUSE_N
        bcc     fused
general:
        lda     #1
        sta     mm_ppend,x
        sta     mm_anyp
        lda     #MM_TAIL_ACC
        sta     mm_rowloop::tail+1
        jmp     run
fused:  tay
        lda     mm_tails,y
        sta     mm_rowloop::tail+1
        lda     #0
        sta     mm_ppend,x
        ; the stores: out - ostep * (row0 + 1) + Y, Y = ostep * X
        ldy     mm_prow0,x
        iny
        tya
        ldy     #0                      ; the index: txa / tay / nop
        lsr     mm_ostep                ; C = (ostep = 1): split
        bcs     :+
        bit     mm_top                  ; interleaved: Y = 2 X must stay below 256
        bmi     interleaved_wide
        asl                             ; (C = 0: row0 + 1 < 128)
        ldy     #MM_INDEX_OPS           ; ldy mm_dbl,x
:       rol     mm_ostep
        sta     mm_h0                   ; ostep * (row0 + 1), 1..255
        lda     mm_index_ops,y
        sta     mm_rowloop::index
        lda     mm_index_ops+1,y
        sta     mm_rowloop::index+1
        lda     mm_index_ops+2,y
        sta     mm_rowloop::index+2
        .assert MM_INDEX_OPS = 3, error, "mm_ranges: the index's size"
        sec
        lda     mm_pout_l,x
        sbc     mm_h0
        sta     mm_rowloop::lo7+1
        sta     mm_rowloop::lo8+1
        sta     mm_rowloop::lo9+1
        lda     mm_pout_h,x
        sbc     #0
        sta     mm_rowloop::lo7+2
        sta     mm_rowloop::lo8+2
        sta     mm_rowloop::lo9+2
        sec
        lda     mm_pouth_l,x
        sbc     mm_h0
        sta     mm_rowloop::hi7+1
        sta     mm_rowloop::hi8+1
        sta     mm_rowloop::hi9+1
        lda     mm_pouth_h,x
        sbc     #0
        sta     mm_rowloop::hi7+2
        sta     mm_rowloop::hi8+2
        sta     mm_rowloop::hi9+2
        jmp     run
interleaved_wide:
        rol     mm_ostep                ; (C = 0)
        ldx     mm_ri
        jmp     general
run:    ldx     mm_top
        sec
        jsr     mm_rowloop::row
        ldx     mm_ri
        lda     mm_prow0,x
        sta     mm_top
        txa
        beq     :+
        jmp     range
:       rts
.endproc

; mm_pending: mm_finish for every range of the plan that took the acc tail.
; in: the plan, mm_prow0, mm_ppend, mm_acc0..3 ; out: those ranges' outputs
; clobbers: as mm_finish, mm_ri
.proc mm_pending
        ldx     #0
range:  lda     mm_ppend,x
        beq     next
        stx     mm_ri
        lda     mm_pout_l,x
        sta     mm_out
        lda     mm_pout_h,x
        sta     mm_out+1
        lda     mm_pouth_l,x
        sta     mm_outh
        lda     mm_pouth_h,x
        sta     mm_outh+1
        jsr     mm_finish
        ldx     mm_ri
next:   inx
        cpx     mm_pn
        bne     range
        rts
.endproc

; mm_sweep: out_i = sat16(asr(W.x (+ b), shift_i)) for every row of each output
; range i of the plan, exact.
; in: A/X = descriptor address (MM_DESC), mm_x -> the input (cols int16);
;     the plan: mm_pn ranges (1..MM_RANGES), range i = mm_pcount[i] rows
;     following range i-1's (range 0 from row 0; the counts add up to at most
;     the rows), shift mm_pshift[i] (signed), low bytes to mm_pout[i], high
;     bytes to mm_pouth[i], index step mm_ostep (2: interleaved int16 vector,
;     at most 127 rows for the fused tails; 1: split lo/hi arrays);
;     mm_relu nonzero: the input is read as max(0, x) (mm_fast clears it);
;     BANK_ALL_RAM with interrupts off
; out: the ranges' outputs; mm_acc0..3 for the ranges mm_finish ran
; clobbers: A, X, Y, mm_dp, mm_rows, mm_cols and what mm_fast, mm_ranges,
;     mm_columns and mm_finish clobber
; cycles: fast path mm_fast's setup (~120 per two-byte column, ~164 per
;     three-byte one, + the tail switches and ~450 a sweep) + rows * (~50 +
;     the tail + ~37 per three-byte column, ~29 per two-byte one) + ~150 per
;     range (shifts 6..8; others: + mm_finish). A fallback sweep: the
;     setup (splitting the columns beyond the limit), the rows with the acc
;     tail, mm_columns (~120 per row and column beyond the limit) and
;     mm_finish; a q-block's column costs ~65 a row instead (~150 to set it
;     up). Measured (soul bench, x64sc, positions 1..20): mm_sweep's
;     cycles a token, default soul 805,013 (its 12 fallback sweeps stay
;     fused), original soul 816,586; the earlier rounds' figures are in
;     docs/architecture.md.
.proc mm_sweep
        MM_OPEN_DESC
        jsr     mm_fast
        bcs     fallback
        lda     #1                      ; the fast path: fused tails
        sta     mm_fuse
        lsr
        sta     mm_anyp                 ; (0)
        jsr     mm_ranges
        lda     mm_anyp
        beq     :+                      ; every range fused (shifts 6..8)
        jmp     mm_pending
:       rts
fallback:
        ; mm_fast ran x with r in the columns beyond the limit (x = 256 q + r,
        ; r the signed low byte, q the high byte + (r < 0), both within
        ; +-128) and recorded their q: every range to mm_acc, then 256 q w
        ; added row by row for each such column
        lda     #0
        sta     mm_fuse
        jsr     mm_ranges
        jsr     mm_columns
        jmp     mm_pending
.endproc

; MM_WCOL_PATCH w0, ws, w1, reg: the slot at page*256 + reg (mm_fast's two
; fill directions: Y up, X down) takes the weight column mm_wcol, and mm_wcol
; steps to the next column's (ws's operand: rows - 1 with C = 1 in, patched
; per sweep). w0, w1: the labels of the two page-patched stores.
; in: C = 0 ; out: C = 0 (the weights end below $10000) ; clobbers: A
.macro MM_WCOL_PATCH w0, ws, w1, reg
        lda     mm_wcol
w0:     sta     $ff00 + MM_SO_W,reg
ws:     adc     #$ff                    ; (rows)
        sta     mm_wcol
        lda     mm_wcol+1
w1:     sta     $ff00 + MM_SO_W + 1,reg
        adc     #0
        sta     mm_wcol+1               ; C = 0 (the weights end below $10000)
.endmacro

; mm_fast: patch the row loop for an input vector within +-xmax: every used
; slot's operands and tail, the first slot, E_r's arrays and -(sum x^2 + 1).
; The weights are stored w + beta (the descriptor's beta, 1..128, the least
; that keeps them >= 0), and a slot reads its squares at the table index
; x - beta + MM_SQ_ZERO plus Y = w + beta: with m = x - beta = 256 (h' - 1) +
; L' (h' = xh + (xl >= beta), L' = xl - beta mod 256) that is page MM_P + h',
; low byte L'. A read crosses a page (a cycle) when L' + Y >= 256, so a small
; beta crosses seldom (it was 128 for every matrix: measured below).
; Two-byte columns, where every (x + w)^2 < 2^16 (the two-byte tail):
;   h' = 0, L' <> 0 (x = beta - 256 + L', |x| <= 255): byte 1 from mm_sqc at
;   m + 128 for L' >= 128 (reads cross only for x + w >= 128), from mm_sq1 at
;   page MM_P for L' < 128 (they cross for x + w >= 0);
;   h' = 1, L' < t2lim (beta <= x <= 255 - max w, x <= lim): page MM_P + 1,
;   which holds n = 0..255, so no read crosses.
; L' = 0 there (x = beta - 256) takes three bytes (x + w = -256 for w = -beta).
; The others are range-checked (the pages MM_P + hlo .. MM_P + hhi - 1,
; strictly inside +-xmax, need no 16-bit compare) and take three bytes. The slots are filled from both ends (the sum
; does not mind the order): two-byte columns from the first used slot up
; (mm_sp), the others from the last slot down (mm_spw), so a slot's tail
; mostly stays what the last sweep left there. Each direction's operand
; stores are `sta page*256 + offset,y` (,x) with the index register = the
; slot's low byte and their page patched when the direction's slot crosses
; into another page (every ~10 slots), cheaper than `ldy #offset / sta
; (ptr),y` per operand. sum x^2 reads the same tables at the index + beta
; (= x + MM_SQ_ZERO; the reads' low bytes are beta, patched per sweep).
; Under mm_relu (fc2's input) the loop runs from col_relu: x < 0 is the
; column x = 0 (relu0), so the sweep is matmul(W, relu(x)).
; in: mm_dp -> descriptor (xmax 128 .. MM_TABLE_XMAX), mm_rows, mm_cols
;     (<= 127), mm_x, mm_relu (nonzero: x < 0 reads as 0; cleared)
; out: the row loop ready (mm_ranges runs the rows); C = 0: every |x| <=
;     xmax; C = 1: some are beyond: those columns run with r (x = 256 q +
;     r, r the signed low byte, q the high byte + (r < 0)) and are recorded
;     for mm_columns (mm_nb = 2 * how many, mm_bq = q, mm_bw = the weight
;     column - 1), except the first two with |q| <= qmax, which the
;     q-blocks take (qb, then qb2: its operands patched, `enter` -> it, sum
;     x^2 += 256 (q^2 + 2^15); qj holds the first used slot); the next
;     mm_fast frees them again
; clobbers: A, X, Y, mm_sp, mm_spw, mm_e, mm_h0, mm_h1, mm_l0, mm_xi, mm_nb,
;     mm_bq, mm_bw, mm_sx, mm_wcol, the operands
; cycles: ~450 (~510 with a new column count) + per column by
;     instruction count ~119 (h' = 0, two bytes), ~125 (h' = 1, two bytes),
;     ~164 (three bytes); under mm_relu ~113 for x < 0 and 6 more for x >=
;     0; + ~53 / ~39 per tail switch to two / three bytes, + ~100 / ~80 per
;     page change of the up / down direction. Measured (the column setup
;     of a token, by round): docs/architecture.md.
MM_P            = >(mm_sq1 + MM_SQ_ZERO) - 1   ; the index's page for h' = 0 (n = -256..-1)
        .assert MM_P >= 16 && MM_P <= 255 - 16, error, "mm_fast: the index pages must not wrap"
        .assert <mm_sq0 = 0 && <(mm_sq1 + MM_SQ_ZERO) = 0, error, "mm_fast: the x^2 reads' low bytes are beta"
.proc mm_fast
        ; the row loop enters its first used slot (qj holds it), the q-blocks
        ; free (the last sweep may have taken them)
        lda     mm_rowloop::qj+1
        sta     mm_rowloop::enter+1
        lda     mm_rowloop::qj+2
        sta     mm_rowloop::enter+2
        lda     #0
        sta     mm_rowloop::qw+2
        sta     mm_rowloop::qw2+2
        ; the descriptor's per-matrix constants (gen/weights.py) into their
        ; operands: the edge check's xmax and 2 xmax + 1, beta (the x^2 reads'
        ; low bytes, -beta into the column's m), t2lim and the range pages
        ldy     #MM_DESC::xmax
        lda     (mm_dp),y
        sta     lim_lo+1
        iny
        lda     (mm_dp),y
        sta     lim_hi+1
        iny
        lda     (mm_dp),y
        sta     top_lo+1
        iny
        lda     (mm_dp),y
        sta     top_hi+1
        iny
        lda     (mm_dp),y               ; beta
        sta     zs0+1
        sta     zs1+1
        sta     ws0+1
        sta     ws1+1
        sta     xs0+1
        sta     xs1+1
        sta     xs2+1
        eor     #$ff
        sec
        adc     #0
        sta     kl+1                    ; -beta
        iny
        lda     (mm_dp),y
        sta     t2l+1
        iny
        lda     (mm_dp),y
        clc
        adc     #MM_P
        sta     whi+1                   ; MM_P + hhi (C = 0: no page wraps)
        iny
        lda     (mm_dp),y
        adc     #MM_P
        sta     wlo+1                   ; MM_P + hlo
        iny
        lda     (mm_dp),y
        sta     qmx+1                   ; qmax
        iny
        lda     (mm_dp),y
        sta     qtp+1                   ; 2 qmax + 1
        .assert MM_DESC::xtop = MM_DESC::xmax + 2 && MM_DESC::beta = MM_DESC::xtop + 2, error, "mm_fast: the descriptor's order"
        .assert MM_DESC::t2lim = MM_DESC::beta + 1 && MM_DESC::hhi = MM_DESC::t2lim + 1 && MM_DESC::hlo = MM_DESC::hhi + 1, error, "mm_fast: the descriptor's order"
        .assert MM_DESC::qmax = MM_DESC::hlo + 1 && MM_DESC::qtop = MM_DESC::qmax + 1, error, "mm_fast: the descriptor's order"
        ; the first slot: MM_SLOTS - cols slots in (the row loop's enter
        ; holds it from the last sweep when that had as many columns)
        lda     mm_cols
lcols:  cmp     #0                      ; (the last sweep's cols; 0 as assembled)
        beq     first_known
        sta     lcols+1
        lda     #MM_SLOTS
        sec
        sbc     mm_cols
        sta     mm_si
        sta     mm_sp
        lda     #0
        sta     mm_sp+1
        asl     mm_sp                   ; * 3
        rol     mm_sp+1
        clc
        lda     mm_sp
        adc     mm_si
        sta     mm_sp
        lda     mm_sp+1
        adc     #0
        .repeat 3                       ; * 8
        asl     mm_sp
        rol
        .endrepeat
        sta     mm_sp+1
        .assert MM_SLOT_SIZE = 3 * 8, error, "mm_fast: slot offset is n * 3 * 8"
        clc
        lda     mm_sp
        adc     #<mm_rowloop::s0
        sta     mm_rowloop::enter+1
        sta     mm_rowloop::qj+1
        lda     mm_sp+1
        adc     #>mm_rowloop::s0
        sta     mm_rowloop::enter+2
        sta     mm_rowloop::qj+2
first_known:
        lda     mm_rowloop::enter+1
        sta     mm_sp
        lda     mm_rowloop::enter+2
        sta     mm_sp+1
        jsr     up_page
        LDPTR   mm_spw, mm_rowloop::s0 + (MM_SLOTS - 1) * MM_SLOT_SIZE
        lda     mm_spw+1
        jsr     dn_page
        ; column c's weights - 1: w - 1 + c * rows
        ldy     #MM_DESC::w
        lda     (mm_dp),y
        sec
        sbc     #1
        sta     mm_wcol
        iny
        lda     (mm_dp),y
        sbc     #0
        sta     mm_wcol+1
        lda     #0
        sta     mm_sx+1
        sta     mm_sx+2
        sta     mm_sx+3
        lda     #1                      ; sum x^2 + 1: every row starts with C = 1
        sta     mm_sx
        ; the input's loads, the weights' step and the loop's end
        lda     mm_x
        sta     xl_rd+1
        ldx     mm_x+1
        stx     xl_rd+2
        clc
        adc     #1
        sta     xh_rd+1
        sta     xhr+1
        bcc     :+
        inx
:       stx     xh_rd+2
        stx     xhr+2
        ldy     mm_rows                 ; the weights' step (C = 0 at both stores)
        sty     dws+1
        sty     uws+1
        lda     mm_cols
        asl
        sta     x_end+1
        ldx     #0
        stx     mm_nb
        ; the column loop's entry (xbr's target): col_relu (x < 0 reads as
        ; 0) for a ReLU'd input, else column; x_end with X = 0 branches there
        ; with C = 0
        lda     #<(column - (xbr + 2))
        ldy     mm_relu
        stx     mm_relu                 ; (one sweep)
        beq     :+
        lda     #<(col_relu - (xbr + 2))
:       sta     xbr+1
        jmp     x_end
low_zero:
        ; L' = 0 (x = beta - 256, x + w = -256 for w = -beta): three bytes;
        ; its x^2 went in as two bytes: take it back (the reads at beta)
        ldy     zs0+1
        sec
        lda     mm_sx
        sbc     mm_sq0,y
        sta     mm_sx
        lda     mm_sx+1
        sbc     MM_P * 256,y
        sta     mm_sx+1
        bcs     :+
        lda     mm_sx+2
        bne     lz_2
        dec     mm_sx+3
lz_2:   dec     mm_sx+2
:       ldy     #0
        lda     #MM_P
        clc
        jmp     in_range
low_pg: ; L' < 128 (m < -128): mm_sq1 at page MM_P (reads cross for x + w >= 0)
        beq     low_zero
        ldy     mm_sp
ul1:    sta     $ff00 + MM_SO_T1,y
ul0:    sta     $ff00 + MM_SO_T0,y      ; (L' < 128)
        lda     #MM_P
ul1h:   sta     $ff00 + MM_SO_T1 + 1,y
        bne     utl                     ; (always)
set2:   lda     #OP_BCC                 ; the two-byte tail (Y = the slot)
ut0:    sta     $ff00 + MM_SO_TAIL,y
        lda     #5
ut1:    sta     $ff00 + MM_SO_TAIL + 1,y
        lda     #OP_INC_ZP
ut2:    sta     $ff00 + MM_SO_TAIL + 2,y
        lda     #mm_a2
ut3:    sta     $ff00 + MM_SO_TAIL + 3,y
        lda     #OP_BEQ
ut4:    sta     $ff00 + MM_SO_TAIL + 4,y
        lda     #1
ut5:    sta     $ff00 + MM_SO_TAIL + 5,y
        lda     #OP_CLC
ut6:    sta     $ff00 + MM_SO_TAIL + 6,y
        bcc     up_w                    ; (always: C = 0)
up_next_page:
        inc     mm_sp+1
        lda     mm_sp+1
        jsr     up_page
        bne     next                    ; (always: A = the page)
zs_c:   inc     mm_sx+2                 ; (the carry out of byte 1)
        bne     :+
        inc     mm_sx+3
:       clc
        bcc     zs_b                    ; (always)
relu0:  ldy     kl+1                    ; ReLU'd x < 0: x = 0, L' = -beta, h' = 0
col_h0: ; h' = 0: x = beta - 256 + L', |x| <= 255 (C = 0 from relu0)
        clc                             ; sum x^2 += x^2 (two bytes: x^2 <= 65025)
zs0:    lda     mm_sq0,y                ; (+ beta) byte 0
        adc     mm_sx
        sta     mm_sx
zs1:    lda     MM_P * 256,y            ; (+ beta) byte 1
        adc     mm_sx+1
        sta     mm_sx+1
        bcs     zs_c
zs_b:   tya                             ; C = 0; N = (L' >= 128), Z = (L' = 0)
        bpl     low_pg
        eor     #$80                    ; -128 <= m < 0: mm_sqc at m + 128
        ldy     mm_sp                   ; the slot (its page in the stores)
us1:    sta     $ff00 + MM_SO_T1,y
        and     #MM_SQ0_PERIOD - 1      ; (= L' mod 128)
us0:    sta     $ff00 + MM_SO_T0,y
        lda     #>mm_sqc
us1h:   sta     $ff00 + MM_SO_T1 + 1,y
utl:    lda     $ff00 + MM_SO_TAIL + 2,y
        bpl     set2                    ; the two-byte tail is not in place
up_w:   ; C = 0: the weight column; mm_wcol steps to the next column's
        MM_WCOL_PATCH uw0, uws, uw1, y
        tya                             ; the next slot up
        adc     #MM_SLOT_SIZE
        sta     mm_sp
        bcs     up_next_page
next:   inx
        inx
x_end:  cpx     #$ff                    ; (2 cols)
xbr:    bne     column                  ; (column or col_relu, patched; C = 0)
        jmp     sum_done
col_relu:                               ; X = 2 * column, C = 0; the input ReLU'd
xhr:    lda     $ffff,x
        bmi     relu0
column:                                 ; X = 2 * column, C = 0
xl_rd:  lda     $ffff,x
kl:     adc     #$ff                    ; (-beta) L' = xl - beta, C = (xl >= beta)
        tay
xh_rd:  lda     $ffff,x
        adc     #0                      ; h' (C = 1 only for h' = 0)
        beq     col_h0
        ; h' <> 0: A = h', Y = L', C = 0
        adc     #MM_P                   ; the page
        cmp     #MM_P + 1
        bne     wchk
        ; (C = 1) h' = 1: two bytes when L' < t2lim (page MM_P + 1: n = 0..255)
t2l:    cpy     #$ff                    ; (t2lim)
        bcs     wchk                    ; (A = MM_P + 1) three bytes
                                        ; C = 0: sum x^2 += x^2 (x = L' + beta <= 255)
ws0:    lda     mm_sq0,y                ; (+ beta)
        adc     mm_sx
        sta     mm_sx
ws1:    lda     256 * (MM_P + 1),y      ; (+ beta)
        adc     mm_sx+1
        sta     mm_sx+1
        bcs     ws_c
ws_b:   tya                             ; (C = 0)
        ldy     mm_sp
uh1:    sta     $ff00 + MM_SO_T1,y
        and     #MM_SQ0_PERIOD - 1
uh0:    sta     $ff00 + MM_SO_T0,y
        lda     #MM_P + 1
uh1h:   sta     $ff00 + MM_SO_T1 + 1,y
        jmp     utl
ws_c:   inc     mm_sx+2                 ; (the carry out of byte 1)
        bne     :+
        inc     mm_sx+3
:       clc
        bcc     ws_b                    ; (always)
set3:   lda     #OP_LDA_ZP              ; the three-byte tail (X = the slot;
dtt0:   sta     $ff00 + MM_SO_TAIL,x    ; bytes 3, 4, its operand, are stored)
        lda     #mm_a2
dtt1:   sta     $ff00 + MM_SO_TAIL + 1,x
        lda     #OP_ADC_ABSY
dtt2:   sta     $ff00 + MM_SO_TAIL + 2,x
        lda     #OP_STA_ZP
dtt5:   sta     $ff00 + MM_SO_TAIL + 5,x
        lda     #mm_a2
dtt6:   sta     $ff00 + MM_SO_TAIL + 6,x
        bcc     dn_w                    ; (always: C = 0)
wchk:   ; A = the page MM_P + h', Y = L'
wlo:    cmp     #$ff                    ; (MM_P + hlo)
        bcc     edge
whi:    cmp     #$ff                    ; (MM_P + hhi)
        bcs     edge
in_range:                               ; A = the page, Y = L', C = 0: three bytes
        stx     mm_xi                   ; (2 * column)
        ldx     mm_spw                  ; X = the slot (its page in the stores)
dt1h:   sta     $ff00 + MM_SO_T1 + 1,x
        sta     xs1+2
        eor     #MM_PAGE_1TO2           ; mm_sq2's page
dt2h:   sta     $ff00 + MM_SO_T2 + 1,x
        sta     xs2+2
        tya
dt1:    sta     $ff00 + MM_SO_T1,x
dt2:    sta     $ff00 + MM_SO_T2,x
        and     #MM_SQ0_PERIOD - 1
dt0:    sta     $ff00 + MM_SO_T0,x
dtl:    lda     $ff00 + MM_SO_TAIL + 2,x
        bmi     set3                    ; the two-byte tail is in place
dn_w:   ; C = 0: the weight column; mm_wcol steps to the next column's
        MM_WCOL_PATCH dw0, dws, dw1, x
                                        ; sum x^2 += x^2 (three bytes)
xs0:    lda     mm_sq0,y                ; (+ beta)
        adc     mm_sx
        sta     mm_sx
xs1:    lda     $ff00,y                 ; (+ beta; the page)
        adc     mm_sx+1
        sta     mm_sx+1
xs2:    lda     $ff00,y
        adc     mm_sx+2
        sta     mm_sx+2
        bcs     xs_c
xs_b:   txa                             ; C = 0: the next slot down
        sbc     #MM_SLOT_SIZE - 1
        sta     mm_spw
        ldx     mm_xi
        bcc     :+
        jmp     next
:       dec     mm_spw+1                ; (the page below)
        lda     mm_spw+1
        jsr     dn_page
        jmp     next
xs_c:   inc     mm_sx+3                 ; (the carry out of byte 2)
        clc
        bcc     xs_b                    ; (always)
edge:   ; the first or last page (or beyond): u = x + lim (16 bits) must be
        ; below 2 lim + 1
        sta     mm_h1                   ; the page
        sty     mm_l0                   ; L'
        txa
        tay
        lda     (mm_x),y
        sta     mm_xl
        iny
        lda     (mm_x),y
        sta     mm_xh
        clc
        lda     mm_xl
lim_lo: adc     #$ff
        sta     mm_h0
        lda     mm_xh
lim_hi: adc     #$ff
        tay
        lda     mm_h0
top_lo: cmp     #$ff
        tya
top_hi: sbc     #$ff
        bcs     beyond
        lda     mm_h1                   ; C = 0
        ldy     mm_l0
        jmp     in_range
beyond: ; x = 256 q + r (r the signed low byte; q the high byte + (r < 0)):
        ; the slot takes r (three bytes), mm_columns adds 256 q w later
        ldy     mm_nb
        lda     mm_wcol
        sta     mm_bw,y
        lda     mm_wcol+1
        sta     mm_bw+1,y
        lda     mm_xl
        cmp     #$80                    ; C = (r < 0)
        lda     mm_xh
        adc     #0
        sta     mm_bq,y                 ; q's low byte
        lda     mm_xh
        and     #$80
        beq     :+
        lda     #$ff                    ; the high byte's sign ...
:       adc     #0                      ; ... + the carry out of q's low byte
        sta     mm_bq+1,y
        stx     mm_xi                   ; (2 * column)
        ldx     #mm_rowloop::qb - mm_rowloop::qb2       ; qb first, then qb2
        lda     mm_bq,y                 ; |q| <= qmax (q = -128..128, qmax <= 90)
        clc
qmx:    adc     #$ff                    ; (qmax)
qtp:    cmp     #$ff                    ; (2 qmax + 1)
        bcs     record
        lda     mm_rowloop::qw+2        ; a free q-block
        beq     qblock
        ldx     #0
        lda     mm_rowloop::qw2+2
        beq     qblock
record: ldx     mm_xi
        iny
        iny
        sty     mm_nb
r_slot: ldy     mm_l0                   ; r's L' is x's; its page MM_P + h',
        lda     mm_xl                   ; h' = (beta <= xl < 128)
        bmi     :+
        clc
        adc     kl+1                    ; C = (xl >= beta)
        lda     #MM_P
        adc     #0
        bcc     r_pg                    ; (always)
:       lda     #MM_P
r_pg:   clc                             ; (in_range: C = 0)
        jmp     in_range
qblock: ; the q-block at qb2 + X takes 256 q w (not recorded): its weights
        ; column, its (q + w)^2 reads at q - beta (page MM_P + qh + (ql >= beta))
        lda     mm_wcol
        sta     mm_rowloop::qw2+1,x
        lda     mm_wcol+1
        sta     mm_rowloop::qw2+2,x
        lda     mm_bq,y
        sec
        sbc     zs0+1                   ; beta
        sta     mm_rowloop::qt1b+1,x
        and     #MM_SQ0_PERIOD - 1
        sta     mm_rowloop::qt0b+1,x
        lda     mm_bq+1,y
        adc     #MM_P
        sta     mm_rowloop::qt1b+2,x
        lda     kl+1                    ; its w^2 reads at -beta, 128 - beta
        sta     mm_rowloop::qc1b+1,x
        eor     #$80
        sta     mm_rowloop::qc0b+1,x
        txa                             ; the row loop enters through it (qb
        clc                             ; goes on to qj, qb2 into qb)
        adc     #<mm_rowloop::qb2
        sta     mm_rowloop::enter+1
        lda     #>mm_rowloop::qb2
        adc     #0
        sta     mm_rowloop::enter+2
        ldx     mm_xi
        ; sum x^2 += 256 (q^2 + 2^15): q^2 (< 2^13) from mm_sq0, mm_sqc at q + 128
        lda     mm_bq,y
        eor     #$80
        tay
        clc
        lda     mm_sq0,y
        adc     mm_sx+1
        sta     mm_sx+1
        lda     mm_sqc,y
        ora     #$80
        adc     mm_sx+2
        sta     mm_sx+2
        bcc     r_slot
        inc     mm_sx+3
        bcs     r_slot                  ; (always: C = 1)
sum_done:
        ; nx = -(sum x^2 + 1) = ~((sum x^2 + 1) mod 2^24 - 1): the rows start
        ; at E_r + nx + C, C = 1
        clc
        lda     mm_sx
        adc     mm_sx+3
        sta     mm_sx
        lda     mm_sx+1
        adc     #0
        sta     mm_sx+1
        lda     mm_sx+2
        adc     #0
        sta     mm_sx+2
        lda     mm_sx                   ; (end-around: cannot carry again)
        adc     #0
        eor     #$ff
        sta     mm_rowloop::nx0+1
        lda     mm_sx+1
        adc     #0
        eor     #$ff
        sta     mm_rowloop::nx1+1
        lda     mm_sx+2
        adc     #0
        eor     #$ff
        sta     mm_rowloop::nx2+1
        ; E_r's three arrays (- 1: X = rows..1)
        ldy     #MM_DESC::e
        lda     (mm_dp),y
        sec
        sbc     #1
        tax
        iny
        lda     (mm_dp),y
        sbc     #0
        stx     mm_rowloop::e0+1
        sta     mm_rowloop::e0+2
        tay
        txa
        clc
        adc     mm_rows
        sta     mm_rowloop::e1+1
        tax
        tya
        adc     #0
        sta     mm_rowloop::e1+2
        tay
        txa
        clc
        adc     mm_rows
        sta     mm_rowloop::e2+1
        tya
        adc     #0
        sta     mm_rowloop::e2+2
        lda     mm_nb                   ; C = 1: some column beyond the limit
        cmp     #1
        rts

; up_page, dn_page: A = the page of the up / down direction's slot, into its
; stores. clobbers: - ; cycles: 82 / 58 (19 / 13 stores)
up_page:
        sta     us1+2
        sta     us0+2
        sta     us1h+2
        sta     ul1+2
        sta     ul0+2
        sta     ul1h+2
        sta     uh1+2
        sta     uh0+2
        sta     uh1h+2
        sta     uw0+2
        sta     uw1+2
        sta     utl+2
        sta     ut0+2
        sta     ut1+2
        sta     ut2+2
        sta     ut3+2
        sta     ut4+2
        sta     ut5+2
        sta     ut6+2
        rts
dn_page:
        sta     dt1+2
        sta     dt2+2
        sta     dt0+2
        sta     dt1h+2
        sta     dt2h+2
        sta     dw0+2
        sta     dw1+2
        sta     dtl+2
        sta     dtt0+2
        sta     dtt1+2
        sta     dtt2+2
        sta     dtt5+2
        sta     dtt6+2
        rts
.endproc

; mm_columns: acc[r] += 256 q_c w_rc for every column c beyond the limit that
; mm_fast recorded (q_c in mm_bq, its weight column - 1 in mm_bw), every row,
; exactly: 2 q w = (q + w)^2 - w^2 - q^2 from the squares tables.
; in: mm_rows, mm_nb, mm_bq, mm_bw, mm_acc0..3 ; out: mm_acc0..3
; clobbers: A, X, Y, mm_a0..2, mm_sq, mm_xi, mm_xl, mm_xh, the operands
; cycles: ~120 per row and such column + ~130 per such column
.proc mm_columns
MM_BETA         = mm_fast::zs0+1        ; the weights are w + beta: mm_fast
        lda     mm_fast::kl+1           ; patched beta and -beta this sweep
        sta     c1+1                    ; -beta
        eor     #$80
        sta     c0+1                    ; 128 - beta
        lda     #0
        sta     mm_xi
column: ldy     mm_xi                   ; 2 * the record
        lda     mm_bq,y
        sta     mm_xl
        lda     mm_bq+1,y
        sta     mm_xh
        lda     mm_bw,y
        sta     kw+1
        lda     mm_bw+1,y
        sta     kw+2
        ; (q + w)^2 at the index q - beta + MM_SQ_ZERO + y, as in the slots:
        ; page MM_P + qh + (ql >= beta), low byte ql - beta
        lda     mm_xl
        sec
        sbc     MM_BETA                 ; C = (ql >= beta)
        sta     k1+1
        sta     k2+1
        sta     mm_sq
        and     #MM_SQ0_PERIOD - 1
        sta     k0+1
        lda     mm_xh
        adc     #>(mm_sq1 + MM_SQ_ZERO) - 1
        sta     k1+2
        sta     mm_sq+1
        eor     #MM_PAGE_1TO2
        sta     k2+2
        lda     k0+1                    ; q^2: at the index + beta
        clc
        adc     MM_BETA
        tay
        lda     mm_sq0,y
        sta     q0+1
        ldy     MM_BETA
        lda     (mm_sq),y
        sta     q1+1
        lda     mm_sq+1
        eor     #MM_PAGE_1TO2
        sta     mm_sq+1
        lda     (mm_sq),y
        sta     q2+1
        ldx     mm_rows
row:
kw:     ldy     $ffff,x                 ; w + beta
        sec                             ; (q + w)^2 - w^2
k0:     lda     mm_sq0,y
c0:     sbc     mm_sq0,y                ; (+ 128 - beta) byte 0 of w^2 = (w + 128)^2 mod 256
        sta     mm_a0
k1:     lda     $ffff,y
c1:     sbc     mm_sq1 + MM_SQ_ZERO - 256,y     ; (low byte -beta)
        sta     mm_a1
k2:     lda     $ffff,y
        sbc     #0                      ; (w^2 <= 2^14)
        sta     mm_a2
        sec                             ; - q^2 = 2 q w
        lda     mm_a0
q0:     sbc     #$ff
        sta     mm_a0
        lda     mm_a1
q1:     sbc     #$ff
        sta     mm_a1
        lda     mm_a2
q2:     sbc     #$ff
        cmp     #$80                    ; q w = asr(2 q w, 1)
        ror
        sta     mm_a2
        ror     mm_a1
        ror     mm_a0
        clc                             ; acc += 256 q w
        lda     mm_acc1-1,x
        adc     mm_a0
        sta     mm_acc1-1,x
        lda     mm_acc2-1,x
        adc     mm_a1
        sta     mm_acc2-1,x
        lda     mm_acc3-1,x
        adc     mm_a2
        sta     mm_acc3-1,x
        dex
        bne     row
        inc     mm_xi
        inc     mm_xi
        lda     mm_xi
        cmp     mm_nb
        beq     :+
        jmp     column
:       rts
.endproc


; mm_finish: out[i] = sat16(asr(acc[row0 + i], shift)), i = 0..count-1, for
; range X of the plan.
; in: X = the range: row0 = mm_prow0,x, count = mm_pcount,x (>= 1), shift =
;     mm_pshift,x (signed: < 0 shifts left); mm_out / mm_outh -> where the
;     low / high bytes go, mm_ostep = index step
;     (2 with mm_outh = mm_out + 1 for an interleaved int16 vector, 1 for split
;     lo/hi arrays)
; out: the output vector; clobbers: A, X, Y, mm_e, mm_q, mm_lsh, mm_rsh, mm_r,
;     mm_n, mm_xi (mm_pending sets the pointers)
; cycles: ~150 per row for shifts 1..4 and 7..12 (one shift step), ~40 more
;     per extra step (by instruction count). Only the ranges the row loop's
;     tails do not finish come here (mm_sweep): shifts other than 6..8 and the
;     fallback's (the short loops for shifts 7 and 8, ~75 and ~55 a row, went
;     when the q-blocks made those fallbacks rare: 136 bytes of code).
.proc mm_finish
        lda     mm_pcount,x
        sta     mm_n
        lda     mm_prow0,x
        sta     mm_r
        ; shift k -> drop mm_q whole bytes after mm_lsh left or mm_rsh right steps
        lda     #0
        sta     mm_q
        sta     mm_lsh
        sta     mm_rsh
        lda     mm_pshift,x
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
