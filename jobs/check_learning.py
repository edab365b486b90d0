"""Does the protocol learn what the demo planted? Test kappa per combination vs. the Bayes oracle.

    python -m jobs.check_learning --data data/demo [--config FILE] [--out FILE] [key=value ...]

Runs the configured folds x combinations in this process (no Ray) and prints, per
combination, the mean test kappa (assessment level), the oracle's kappa on the same test
rows, their ratio, and every stage verdict that is not ok; writes the numbers as JSON.
Add ``training.permute_train_labels=true`` for the leak check (kappa must stay near 0).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from dfu.combos import parse_combinations
from dfu.data.demo import oracle_probabilities
from dfu.metrics import PROBA_COLUMNS, assessment_probabilities, classification_metrics
from dfu.trial import run_folds
from jobs.cli import add_config_args, config_from, run


def oracle_kappa(root, combo: str, predictions: pd.DataFrame) -> float:
    ids = assessment_probabilities(predictions)["assessment_id"]
    o = oracle_probabilities(root, combo).loc[ids]
    return classification_metrics(o["y"].to_numpy(), o[PROBA_COLUMNS].to_numpy())["kappa"]


def stage_digest(summary: dict) -> dict:
    """stage -> (best epoch, epochs run, inner-val kappa): enough to see how each stage went."""
    stages = [*summary.get("pretrain", {}).values(), *summary.get("stages", [])]
    return {s["stage"]: [s["best_epoch"], s["epochs_run"], round(s["val_kappa"], 3)] for s in stages}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default="results/check_learning.json")
    add_config_args(parser)
    args = parser.parse_intermixed_args()
    cfg = config_from(args, args.data)
    rows = []
    for output in run_folds(cfg, parse_combinations(cfg.search.combinations)):
        s = output.summary
        bad = {k: v for k, v in s["verdicts"].items() if v != ["ok"]}
        rows.append({"fold": s["fold"], "combo": s["combo"], "seconds": s["seconds"],
                     "kappa": s["test"]["assessment"]["kappa"], "qwk": s["test"]["assessment"]["qwk"],
                     "oracle_kappa": oracle_kappa(args.data, s["combo"], output.predictions),
                     "not_ok": bad, "stages": stage_digest(s)})  # fmt: skip
        r = rows[-1]
        print(f"fold {r['fold']} {r['combo']:52s} kappa {r['kappa']:.3f}  oracle {r['oracle_kappa']:.3f}"
              f"  {r['seconds']:.0f}s  {bad or ''}", flush=True)  # fmt: skip
    table = pd.DataFrame(rows).groupby("combo")[["kappa", "oracle_kappa", "seconds"]].mean()
    table["ratio"] = table["kappa"] / table["oracle_kappa"]
    print(table.sort_values("kappa", ascending=False).round(3).to_string())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"rows": rows, "mean": table.reset_index().to_dict("records")}, indent=1)
    )
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    run(main)
