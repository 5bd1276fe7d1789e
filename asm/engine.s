; engine.s - the forward step: one token through every layer with the KV cache,
; bit-exact per shared/spec/numerics.md. Entry points (docs/architecture.md):
;   engine_init    once at start: the tables computed at start (squares)
;   engine_reset   position := 0
;   engine_step    A = token id: embeds it at engine_pos, runs all layers
;                  (k, v appended to the KV cache of attention.s), leaves the
;                  logits in logits_lo / logits_hi, engine_pos += 1
;   engine_prefill the same KV cache entry without the logits (for prompt
;                  tokens whose logits are not used; logits_lo/hi are left as
;                  they were): the last layer stops once its k and v are
;                  stored, since its attention output, feed-forward block and
;                  the output layer only feed this position's logits
; A step runs with interrupts off and the RAM under I/O and KERNAL banked in
; (the squares tables of matmul.s live there); the caller's CPU port and I
; flag are restored when it returns.
;   engine_argmax  (kernels.s) A := the greedy choice
;   engine_pos     the next position (byte)
; The weights and per-layer tensor table come from weights.inc
; (soulplayer.gen.weights), the dimensions from model.inc.

.include "c64.inc"
.include "macros.inc"
.include "model.inc"
.include "matmul.inc"

.import mm_sweep, mm_init, mm_init_e, mm_relu
.importzp mm_x
.import mm_ostep, mm_pn, mm_pcount, mm_pshift, mm_pout_l, mm_pout_h, mm_pouth_l, mm_pouth_h
.import rmsnorm_s, rms_bind, res_bind, residual_add
.importzp rms_x, rms_g, rms_y, res_h, res_y
.import attention_head, attn_store_kv, attention_init, attn_init
.importzp att_q, att_out, kvs_k, kvs_v
.import embed

.export engine_init, engine_reset, engine_step, engine_prefill, engine_step_done, engine_pos, logits_lo, logits_hi
.export vec_h, vec_a, vec_q, vec_k, vec_v, vec_att, vec_y, vec_z
; the weights' labels, for tests and the embed kernel
.export w_te, w_pe, layer_table, out_desc, w_norm

.assert VOCAB_SIZE >= 4 && VOCAB_SIZE <= 255, error, "engine: ids are bytes; logits indexed by X"
.assert 3 * EMBED_DIM <= 127 && FF_DIM <= 127, error, "engine: interleaved vectors are indexed by Y = 2*i"

; layer_table record: .struct LayerRec in spec.inc (soulplayer.spec.LAYER_FIELDS;
; gen.weights writes the records)
.include "spec.inc"
LT_QKV          = LayerRec::qkv         ; .word descriptors
LT_PROJ         = LayerRec::proj
LT_FC1          = LayerRec::fc1
LT_FC2          = LayerRec::fc2
LT_N1           = LayerRec::n1          ; .word gains
LT_N2           = LayerRec::n2
LT_N1_SHIFT     = LayerRec::n1_shift    ; .byte shifts
LT_N2_SHIFT     = LayerRec::n2_shift
LT_Q_SHIFT      = LayerRec::q_shift     ; matmul shifts include the post-shift
LT_K_SHIFT      = LayerRec::k_shift
LT_V_SHIFT      = LayerRec::v_shift
LT_PROJ_SHIFT   = LayerRec::proj_shift
LT_FC1_SHIFT    = LayerRec::fc1_shift
LT_FC2_SHIFT    = LayerRec::fc2_shift
LT_SIZE         = .sizeof(LayerRec)
INTERLEAVED     = 2             ; mm_ostep for an int16 vector

HEAD_LOG2 .set -1               ; log2(HEAD_DIM)
.repeat 8, I
        .if (1 << I) = HEAD_DIM
HEAD_LOG2 .set I
        .endif
.endrepeat
.assert HEAD_LOG2 >= 0, error, "engine: HEAD_DIM must be a power of two"

.include "weights.inc"

.segment "ZEROPAGE"
eng_lt:         .res 2          ; this layer's layer_table record
eng_pp:         .res 2          ; set_plan: the plan record

.segment "BSS"
engine_pos:     .res 1
eng_prefill:    .res 1          ; nonzero: no output layer this step
eng_port:       .res 1          ; the caller's CPU port
eng_layer:      .res 1
eng_head:       .res 1
eng_block:      .res 1          ; attention block: layer * N_HEADS + head
eng_py:         .res 1          ; set_plan: the record's byte index
logits_lo:      .res VOCAB_SIZE
logits_hi:      .res VOCAB_SIZE

; Under I/O and KERNAL (segment ENGBSS): work arrays that only code running
; inside engine_step (RAM banked in) reads or writes. The ones here, matmul.s's
; slot modes and fallback vectors, attention.s's per-position and per-dimension
; sums, and (when they fit) the E_r arrays of weights.inc: gen/weights.py
; counts them (engbss_bytes) to decide where E_r goes; the .assert keeps the
; count honest.
.segment "ENGBSS"
vec_h:          .res 2 * EMBED_DIM      ; the residual stream h[t]
vec_a:          .res 2 * EMBED_DIM      ; normed input of a sweep
vec_y:          .res 2 * EMBED_DIM
vec_z:          .res 2 * FF_DIM
vec_q:          .res 2 * EMBED_DIM
vec_k:          .res 2 * EMBED_DIM
vec_v:          .res 2 * EMBED_DIM
vec_att:        .res 2 * EMBED_DIM
.import __ENGBSS_SIZE__
.assert __ENGBSS_SIZE__ = ENGBSS_BYTES, error, "engine: segment ENGBSS is not the size gen/weights.py's engbss_bytes counts"

.segment "CODE"

; engine_init: compute the engine's tables at start: attention's quarter
; squares (divide.s), attention's position tables (under I/O), matmul.s's
; squares and every matrix's row constants E_r
; (mm_desc_list of weights.inc); binds rmsnorm_s to vec_h -> vec_a
; (rms_bind). Once, before any step. in: - ; out: - ; clobbers: A, X, Y, the kernels' zero page (the
; CPU port and I flag are kept) ; cycles: 1,502,195 for the default soul (x64sc,
; to the chat program's next call)
.proc engine_init
        jsr     attention_init
        jsr     mm_init
        LDPTR   rms_x, vec_h            ; every norm reads vec_h and writes
        LDPTR   rms_y, vec_a            ; vec_a (nothing else binds rmsnorm_s)
        jsr     rms_bind
        php
        sei
        lda     CPU_PORT
        sta     eng_port
        lda     #BANK_ALL_RAM
        sta     CPU_PORT
        jsr     attn_init               ; attention's tables under I/O
        LDPTR   eng_lt, mm_desc_list
next:   ldy     #1
        lda     (eng_lt),y
        beq     done                    ; (descriptors are never in page 0)
        tax
        dey
        lda     (eng_lt),y
        jsr     mm_init_e
        ADD16_8 eng_lt, #2
        jmp     next
done:   lda     eng_port
        sta     CPU_PORT
        plp
        rts
.endproc

; engine_reset: start a new sequence (the KV cache is overwritten as it fills).
; clobbers: A. cycles: 6
.proc engine_reset
        lda     #0
        sta     engine_pos
        rts
.endproc

; PLAN record: set_plan with that plan record (plan_* below)
.macro PLAN record
        lda     #<record
        ldx     #>record
        jsr     set_plan
.endmacro

; SWEEP desc_off, input: mm_sweep with the descriptor in layer_table, x = input,
; into the PLANned ranges
.macro SWEEP desc_off, input
        LDPTR   mm_x, input
        ldy     #desc_off + 1
        lda     (eng_lt),y
        tax
        dey
        lda     (eng_lt),y
        jsr     mm_sweep
.endmacro

; engine_prefill: engine_step without the logits: the last layer ends after
; its k and v are stored (see the file header).
; in, out, clobbers: as engine_step, but logits_lo/hi are not written
.proc engine_prefill
        ldx     #1
        bne     engine_run              ; (always)
.endproc

; engine_step: one position through all layers.
; in: A = token id (< VOCAB_SIZE); engine_pos < CONTEXT
; out: logits_lo/hi (VOCAB_SIZE int16), engine_pos += 1, KV cache appended
; clobbers: A, X, Y, every kernel's zero page (the CPU port and I flag are kept)
; cycles: see `soul bench` (build/bench.json)
.proc engine_step
        ldx     #0
.endproc
; (falls through)
.proc engine_run
        stx     eng_prefill
        php
        sei
        ldx     CPU_PORT
        stx     eng_port
        ldx     #BANK_ALL_RAM
        stx     CPU_PORT
        jsr     step_body
        lda     eng_port
        sta     CPU_PORT
        plp
done:   rts
.endproc
engine_step_done = engine_run::done

; the sweeps' plans (set_plan): n ranges, then per range its rows, the
; offset of its shift in LayerRec and its output (an interleaved int16 vector)
.struct PlanRange
        count   .byte
        shift   .byte
        dest    .word
.endstruct
.segment "RODATA"
plan_qkv:       .byte   3
                .byte   EMBED_DIM, LT_Q_SHIFT
                .word   vec_q
                .byte   EMBED_DIM, LT_K_SHIFT
                .word   vec_k
                .byte   EMBED_DIM, LT_V_SHIFT
                .word   vec_v
plan_proj:      .byte   1, EMBED_DIM, LT_PROJ_SHIFT
                .word   vec_y
plan_fc1:       .byte   1, FF_DIM, LT_FC1_SHIFT
                .word   vec_z
plan_fc2:       .byte   1, EMBED_DIM, LT_FC2_SHIFT
                .word   vec_y
        .assert plan_proj - plan_qkv = 1 + 3 * .sizeof(PlanRange) && 3 <= MM_RANGES, error, "engine: plan records"
        .assert PlanRange::count = 0 && PlanRange::shift = 1 && PlanRange::dest = 2, error, "set_plan reads the fields in order"
.segment "CODE"

; set_plan: mm_sweep's plan from a plan record, the shifts from this layer's
; LayerRec. in: A/X = the record, eng_lt ; out: mm_pn and per range mm_pcount,
; mm_pshift, mm_pout_l/h, mm_pouth_l/h ; clobbers: A, X, Y, eng_pp, eng_py
; cycles: ~20 + ~70 per range
.proc set_plan
        sta     eng_pp
        stx     eng_pp+1
        ldy     #0
        lda     (eng_pp),y
        sta     mm_pn
        ldx     #0
range:  iny                             ; PlanRange::count
        lda     (eng_pp),y
        sta     mm_pcount,x
        iny                             ; PlanRange::shift
        lda     (eng_pp),y
        sty     eng_py
        tay
        lda     (eng_lt),y
        sta     mm_pshift,x
        ldy     eng_py
        iny                             ; PlanRange::dest
        lda     (eng_pp),y
        sta     mm_pout_l,x
        clc                             ; the high bytes at dest + 1
        adc     #1
        sta     mm_pouth_l,x
        iny
        lda     (eng_pp),y
        sta     mm_pout_h,x
        adc     #0
        sta     mm_pouth_h,x
        inx
        cpx     mm_pn
        bne     range
        rts
.endproc

; eng_norm: vec_a := rmsnorm_s(vec_h) with this layer's gain and shift (embed
; or residual_add has just summed vec_h's squares; engine_init bound vec_h ->
; vec_a with rms_bind).
; in: Y = the gain's offset in LayerRec, X = the shift's ; clobbers: as rmsnorm_s
.proc eng_norm
        lda     (eng_lt),y
        sta     rms_g
        iny
        lda     (eng_lt),y
        sta     rms_g+1
        txa
        tay
        lda     (eng_lt),y
        jmp     rmsnorm_s
.endproc

; step_body: engine_step's work, with the RAM banked in.
; in: A = token id, eng_prefill ; out, clobbers: as engine_step
.proc step_body
        ldx     #INTERLEAVED            ; the sweeps' default output layout
        stx     mm_ostep
        ldx     engine_pos
        jsr     embed                   ; (into vec_h)
        lda     #0
        sta     eng_layer
        sta     eng_block
        LDPTR   eng_lt, layer_table
layer:
        ; attention block
        ldy     #LT_N1                  ; (embed or the last residual_add summed
        ldx     #LT_N1_SHIFT            ; the squares)
        jsr     eng_norm
        PLAN    plan_qkv
        SWEEP   LT_QKV, vec_a
        LDPTR   kvs_k, vec_k
        LDPTR   kvs_v, vec_v
        lda     eng_layer
        ldx     engine_pos
        jsr     attn_store_kv
        lda     eng_prefill             ; prefill: nothing after the last
        beq     heads                   ; layer's k and v reaches the cache
        lda     eng_layer
        cmp     #N_LAYERS - 1
        bne     heads
        jmp     done
heads:  lda     #0
        sta     eng_head
head:   lda     eng_head                ; att_q, att_out := vec + 2*HEAD_DIM*head
        asl
        .repeat ::HEAD_LOG2
        asl
        .endrepeat
        tay
        clc
        adc     #<vec_q
        sta     att_q
        lda     #>vec_q
        adc     #0
        sta     att_q+1
        tya
        clc
        adc     #<vec_att
        sta     att_out
        lda     #>vec_att
        adc     #0
        sta     att_out+1
        lda     eng_block               ; block = layer * N_HEADS + head
        ldx     engine_pos
        inx
        jsr     attention_head
        inc     eng_block
        inc     eng_head
        lda     eng_head
        cmp     #N_HEADS
        bne     head
        PLAN    plan_proj
        SWEEP   LT_PROJ, vec_att
        LDPTR   res_h, vec_h
        LDPTR   res_y, vec_y
        jsr     res_bind                ; (vec_h += vec_y, twice a layer; nothing
        jsr     residual_add            ; else writes res_h meanwhile) and the
                                        ; sum of squares for rmsnorm_s
        ; feed-forward block
        ldy     #LT_N2
        ldx     #LT_N2_SHIFT
        jsr     eng_norm
        PLAN    plan_fc1
        SWEEP   LT_FC1, vec_a
        PLAN    plan_fc2
        lda     #1                      ; fc2's input: relu(vec_z), read by the sweep
        sta     mm_relu
        SWEEP   LT_FC2, vec_z
        jsr     residual_add            ; (vec_h += vec_y again: still bound)
        ; next layer
        ADD16_8 eng_lt, #LT_SIZE
        inc     eng_layer
        lda     eng_layer
        cmp     #N_LAYERS
        beq     output
        jmp     layer
output:                                 ; (engine_step only: prefill left above)
        LDPTR   rms_g, w_norm
        lda     #<NORM_SHIFT
        jsr     rmsnorm_s               ; (the last residual_add summed the squares)
        lda     #1                      ; the logits as split lo/hi arrays
        sta     mm_pn
        sta     mm_ostep
        lda     #VOCAB_SIZE
        sta     mm_pcount
        lda     #<OUT_SHIFT             ; post-shift 0
        sta     mm_pshift
        lda     #<logits_lo
        sta     mm_pout_l
        lda     #>logits_lo
        sta     mm_pout_h
        lda     #<logits_hi
        sta     mm_pouth_l
        lda     #>logits_hi
        sta     mm_pouth_h
        LDPTR   mm_x, vec_a
        lda     #<out_desc
        ldx     #>out_desc
        jsr     mm_sweep
done:   inc     engine_pos
        rts
.endproc
