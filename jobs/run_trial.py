"""Train and score one fold x one modality combination in this process (no Ray).

python -m jobs.run_trial --data DIR --fold 0 --combo metadata+thermal_map --out OUT [--config FILE] [key=value ...]
"""

from __future__ import annotations

import argparse
import json

from dfu.combos import parse_combo
from dfu.trial import run_local_trial
from jobs.cli import add_config_args, config_from, run


def combo_arg(text: str):
    """argparse type: a bad combination is a usage error (exit 2) that says what is wrong."""
    try:
        return parse_combo(text)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="dataset folder in the Zivot layout")
    parser.add_argument("--fold", type=int, required=True)
    parser.add_argument("--combo", required=True, type=combo_arg, help="e.g. metadata+thermal_map")
    parser.add_argument("--out", required=True, help="output folder (trial.json, predictions)")
    add_config_args(parser)
    args = parser.parse_intermixed_args()
    cfg = config_from(args, args.data)
    summary = run_local_trial(cfg, args.fold, args.combo, args.out).summary
    test = summary["test"]["assessment"]
    print(json.dumps({"combo": summary["combo"], "fold": summary["fold"],
                      "kappa": round(test["kappa"], 3), "qwk": round(test["qwk"], 3),
                      "verdicts": summary["verdicts"], "seconds": summary["seconds"]}, indent=1))  # fmt: skip
    print(f"written: {args.out}/trial.json, {args.out}/predictions.parquet")
    return 0


if __name__ == "__main__":
    run(main)
