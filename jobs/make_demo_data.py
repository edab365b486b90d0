"""Write the embedded demo dataset in the Zivot layout.

python -m jobs.make_demo_data --out data/demo [--preset demo|clinic] [--patients N] [--seed S]
    [--frame-scale F]

``--preset demo`` (default): 60 patients at a quarter of the cameras' frame size.
``--preset clinic``: the clinic's size (~268 patients, ~900 assessments, ~3,000 image sets)
at the real frame sizes. ``--patients``, ``--seed`` and ``--frame-scale`` override the preset.
"""

from __future__ import annotations

import argparse
import json
import time

from dfu.demo import make_demo
from dfu.demo.generator import PRESETS
from jobs.cli import run

MIN_PATIENTS = 2


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write (created)")
    parser.add_argument(
        "--preset",
        choices=list(PRESETS),
        default="demo",
        help="size and frame scale (default: demo)",
    )
    parser.add_argument("--patients", type=int, default=None, help="overrides the preset")
    parser.add_argument("--seed", type=int, default=None, help="overrides the preset")
    parser.add_argument(
        "--frame-scale",
        type=float,
        default=None,
        help="frame size relative to the real cameras (overrides the preset)",
    )
    args = parser.parse_args(argv)
    if args.patients is not None and args.patients < MIN_PATIENTS:
        parser.error(
            f"--patients must be at least {MIN_PATIENTS} (patient-grouped folds need them)"
        )
    if args.frame_scale is not None and not 0 < args.frame_scale <= 1:
        parser.error("--frame-scale must be in (0, 1]")
    start = time.time()
    summary = make_demo(
        args.out, args.patients, args.seed, args.frame_scale, progress=True, preset=args.preset
    )
    combos = summary["combos"]
    planted = summary["planted"]
    print(
        f"demo data written to {args.out} in {time.time() - start:.1f} s "
        f"({planted['image_sets']} image sets, {summary['n_assessments']} assessments "
        "with images)"
    )
    print("oracle (Bayes-optimal) kappa / QWK:")
    for name in (
        "metadata+depth_rgb+depth_map+thermal_rgb+thermal_map",
        "metadata",
        "depth_rgb",
        "depth_map",
        "thermal_rgb",
        "thermal_map",
    ):
        label = "all modalities" if name.count("+") == 4 else name
        print(f"  {label:16s} {combos[name]['kappa']:.3f} / {combos[name]['qwk']:.3f}")
    print("planted faults and quirks:", json.dumps(planted))
    return 0


if __name__ == "__main__":
    run(main)
