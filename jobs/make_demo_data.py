"""Write the embedded demo dataset in the Zivot layout.

python -m jobs.make_demo_data --out data/demo [--patients 60] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time

from dfu.data.demo import make_demo
from dfu.data.demo.generator import DEFAULT_FRAME_SCALE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True, help="folder to write (created)")
    parser.add_argument("--patients", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--frame-scale", type=float, default=DEFAULT_FRAME_SCALE,
                        help="frame size relative to the real cameras")  # fmt: skip
    args = parser.parse_args(argv)
    start = time.time()
    summary = make_demo(args.out, args.patients, args.seed, args.frame_scale, progress=True)
    combos = summary["combos"]
    print(f"demo data written to {args.out} in {time.time() - start:.1f} s "
          f"({summary['n_assessments']} assessments with images)")  # fmt: skip
    print("oracle (Bayes-optimal) kappa / QWK:")
    for name in ("metadata+depth_rgb+depth_map+thermal_rgb+thermal_map", "metadata",
                 "depth_rgb", "depth_map", "thermal_rgb", "thermal_map"):  # fmt: skip
        label = "all modalities" if name.count("+") == 4 else name
        print(f"  {label:16s} {combos[name]['kappa']:.3f} / {combos[name]['qwk']:.3f}")
    print("planted faults:", json.dumps(summary["planted"]))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
