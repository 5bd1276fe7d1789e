"""soulplayer.spec -> spec.inc (rendered from asm/spec.inc.j2): the token ids,
numerics and sampler constants, the EXP table, the layer record and the
engine's limits for the assembly. tools.build renders it into every build
folder, so each module can `.include "spec.inc"`."""
from pathlib import Path

from .. import spec
from .weights import render_template


def write_spec_inc(out_path) -> Path:
    """Render asm/spec.inc.j2 with soulplayer.spec to out_path."""
    vals = list(spec.EXP_VALUES)
    rows = [[f"{v:3d}" for v in vals[i:i + 16]] for i in range(0, len(vals), 16)]
    return render_template("spec.inc.j2", out_path, s=spec, exp_rows=rows)
