"""Write a run's report: report.html (self-contained), summary.json, results.csv and summary.csv.

python -m jobs.report RUN_DIR [--resamples N] [--seed S]

``--resamples`` and ``--seed`` default to the run's config (``report.resamples``, 2000, and
``report.seed``, 0). The ensemble's trial files are written too, as at the end of a search.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from dfu.config import load_config
from dfu.demo import ensure_posteriors
from dfu.runs.publish import report_run
from dfu.store.layout import RunLayout
from jobs.cli import run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", help="a run directory (<storage>/<name>) of jobs.cv_search")
    parser.add_argument(
        "--resamples",
        type=int,
        default=None,
        help="patient bootstrap resamples for the intervals (default: the run's report.resamples)",
    )
    parser.add_argument("--seed", type=int, default=None, help="default: the run's report.seed")
    args = parser.parse_args(argv)
    if args.resamples is not None and args.resamples < 1:
        parser.error("--resamples must be at least 1")
    config = RunLayout(Path(args.run_dir).expanduser().resolve()).config
    if config.is_file():  # a demo folder made before the oracle's posteriors file
        ensure_posteriors(load_config(config).data.root)
    # Not a run, or nothing finished yet: dfu.evaluation.results.RunError, one line via jobs.cli.
    layout = report_run(args.run_dir, args.resamples, args.seed)
    summary = json.loads(layout.report_summary.read_text())
    print(summary["headline"])
    print(f"written: {layout.report}, {layout.report_summary}")
    return 0


if __name__ == "__main__":
    run(main)
