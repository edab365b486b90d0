"""Write a run's report: report.html (self-contained), summary.json, results.csv and summary.csv.

python -m jobs.report RUN_DIR [--resamples 2000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json

from dfu.report import RESAMPLES, SEED, SUMMARY_FILE, write_report
from jobs.cli import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a run directory (<storage>/<name>) of jobs.cv_search")
    parser.add_argument("--resamples", type=int, default=RESAMPLES,
                        help="patient bootstrap resamples for the 95%% intervals")  # fmt: skip
    parser.add_argument("--seed", type=int, default=SEED)
    args = parser.parse_args(argv)
    if args.resamples < 1:
        parser.error("--resamples must be at least 1")
    # Not a run, or nothing finished yet: dfu.results.RunError, one line via jobs.cli.
    path = write_report(args.run_dir, args.resamples, args.seed)
    summary = json.loads((path.parent / SUMMARY_FILE).read_text())
    print(summary["headline"])
    print(f"written: {path}, {path.parent / SUMMARY_FILE}")
    return 0


if __name__ == "__main__":
    run(main)
