"""The whole demo, end to end: demo clinic -> validation -> cache -> CV search -> report.

    python -m jobs.demo [--data data/demo] [--config dfu/configs/demo.yaml] [key=value ...]

Generates the demo data only if the folder does not hold it yet; the search resumes if it
was interrupted (same name and storage).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from dfu.data.zivot import format_summary, read_zivot
from dfu.demo import make_demo
from jobs.cli import add_config_args, config_from, run, run_search


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default="data/demo", help="demo data folder (made if missing)")
    add_config_args(parser)
    parser.set_defaults(config="dfu/configs/demo.yaml")
    args = parser.parse_intermixed_args()
    data = Path(args.data).expanduser().resolve()
    if not (data / "_oracle" / "summary.json").exists():
        started = time.time()
        print(f"demo: writing a synthetic clinic to {data} ...", flush=True)
        make_demo(data, progress=True)
        print(f"demo: data written in {time.time() - started:.1f} s", flush=True)
    cfg = config_from(args, str(data))
    print(format_summary(read_zivot(cfg.data, check_images=False).summary), flush=True)
    return run_search(cfg, "ray")


if __name__ == "__main__":
    run(main)
