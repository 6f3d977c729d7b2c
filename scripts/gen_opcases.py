#!/usr/bin/env python3
# Generates the parity case files test/opcases/*.json (format: docs/op-cases.md, schema_version 1).
# Regenerate with: python3 scripts/gen_opcases.py   (writes test/opcases/; needs PyTorch, e.g. Debian's
# python3-torch; if the python3 on PATH lacks torch the script re-runs itself under /usr/bin/python3).
#
# Every case: seeded inputs (torch.Generator, seed derived from the case name), float inputs and upstream
# grads exactly representable in float32 (drawn in float32, then widened), outputs and gradients computed
# by torch.autograd in float64, plus the same computation in float32 and its error against float64.
# Loss formulas follow docs/crosskd.md §3 (mmdetection); the "Worked values" there are asserted.
# The script checks every written file against the format and fails loudly on any mismatch.

import os
import sys

# the python3 on PATH (e.g. a pyenv shim) may lack torch; Debian's has it
try:
    import torch  # noqa: F401
except ImportError:
    if os.path.exists("/usr/bin/python3") and os.path.realpath(sys.executable) != os.path.realpath("/usr/bin/python3"):
        os.execv("/usr/bin/python3", ["/usr/bin/python3"] + sys.argv)
    raise

# the generators, one module per op family, in scripts/opcases/
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from opcases.common import MAX_FILE_BYTES, MAX_TOTAL_BYTES, OUT_DIR, REPO  # noqa: E402
from opcases.conv import gen_conv2d  # noqa: E402
from opcases.elementwise import gen_binary, gen_clamp, gen_unary, gen_where  # noqa: E402
from opcases.losses import (gen_distribution_focal_loss, gen_generalized_box_iou_loss, gen_kd_kl_div,  # noqa: E402
                            gen_kd_quality_focal_loss, gen_quality_focal_loss, gen_sigmoid_focal_loss)
from opcases.matmul import gen_matmul  # noqa: E402
from opcases.movement import gen_movement  # noqa: E402
from opcases.norm import gen_batch_norm, gen_group_norm  # noqa: E402
from opcases.reduce import gen_reduce  # noqa: E402
from opcases.softmax import gen_softmax  # noqa: E402
from opcases.validate import validate_file  # noqa: E402

GENERATORS = [gen_unary, gen_binary, gen_clamp, gen_where, gen_reduce, gen_softmax, gen_matmul, gen_movement,
              gen_conv2d, gen_group_norm, gen_batch_norm, gen_sigmoid_focal_loss, gen_quality_focal_loss, gen_kd_quality_focal_loss,
              gen_distribution_focal_loss, gen_kd_kl_div, gen_generalized_box_iou_loss]


def main():
    os.makedirs(OUT_DIR, exist_ok=True)
    total = 0
    for gen in GENERATORS:
        fam = gen()
        path = fam.write()
        doc = validate_file(path)
        size = os.path.getsize(path)
        total += size
        if size > MAX_FILE_BYTES:
            raise AssertionError("%s is %d bytes (limit %d)" % (path, size, MAX_FILE_BYTES))
        worst = max(((e["max_rel_to_max"], c["name"] + ":" + k) for c in doc["cases"]
                     for k, e in c["float32"]["error_vs_float64"].items()), default=(0.0, "-"))
        print("%-32s %3d cases %9d bytes  worst float32 rel err %.2e (%s)" % (
            os.path.relpath(path, REPO), len(doc["cases"]), size, worst[0], worst[1]))
    if total > MAX_TOTAL_BYTES:
        raise AssertionError("total %d bytes (limit %d)" % (total, MAX_TOTAL_BYTES))
    print("total %d bytes; all files validated" % total)


if __name__ == "__main__":
    main()
