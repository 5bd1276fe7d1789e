; exp_table.s - the EXP table of shared/spec/numerics.md, once in the program:
; attention.s weighs positions with it, program_sampler.s weighs tokens.
; The bytes come from spec.inc (soulplayer.spec.EXP_VALUES).

.include "spec.inc"

.export exp_table

.segment "RODATA"
exp_table:
        EXP_BYTES
.assert * - exp_table = EXP_LAST + 1, error, "EXP: an index is clamped to EXP_LAST"
