"""Does the protocol learn what the demo planted? Test kappa per combination vs. the Bayes oracle.

    python -m jobs.check_learning --data data/demo [--config FILE] [--out FILE] [key=value ...]

Runs the configured folds x combinations in this process (no Ray) and prints, per
combination, the mean test kappa (assessment level), the oracle's kappa on the same test
rows, their ratio, and every stage verdict that is not ok; writes the numbers as JSON. Data
without an oracle (``_oracle/``, which only the demo generator writes) get the kappas alone.
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


def oracle_kappa(root, combo: str, predictions: pd.DataFrame) -> float | None:
    """The oracle's kappa on the same test assessments; None for data without an oracle."""
    oracle = oracle_probabilities(root, combo)
    if oracle is None:
        return None
    o = oracle.loc[assessment_probabilities(predictions)["assessment_id"]]
    return classification_metrics(o["y"].to_numpy(), o[PROBA_COLUMNS].to_numpy())["kappa"]


def stage_digest(summary: dict) -> dict:
    """stage -> (best epoch, epochs run, inner-val kappa): enough to see how each stage went."""
    stages = [*summary.get("pretrain", {}).values(), *summary.get("stages", [])]
    return {
        s["stage"]: [s["best_epoch"], s["epochs_run"], round(s["val_kappa"], 3)] for s in stages
    }


def trial_row(output, root) -> dict:
    s = output.summary
    return {"fold": s["fold"], "combo": s["combo"], "seconds": s["seconds"],
            "kappa": s["test"]["assessment"]["kappa"], "qwk": s["test"]["assessment"]["qwk"],
            "oracle_kappa": oracle_kappa(root, s["combo"], output.predictions),
            "not_ok": {k: v for k, v in s["verdicts"].items() if v != ["ok"]},
            "stages": stage_digest(s)}  # fmt: skip


def row_line(r: dict) -> str:
    oracle = "" if r["oracle_kappa"] is None else f"  oracle {r['oracle_kappa']:.3f}"
    return (f"fold {r['fold']} {r['combo']:52s} kappa {r['kappa']:.3f}{oracle}"
            f"  {r['seconds']:.0f}s  {r['not_ok'] or ''}")  # fmt: skip


def mean_table(rows: list[dict]) -> pd.DataFrame:
    """Per combination: mean kappa and seconds, and the oracle's kappa and ratio if known."""
    frame = pd.DataFrame(rows)
    oracle = frame["oracle_kappa"].notna().all()
    columns = ["kappa", "oracle_kappa", "seconds"] if oracle else ["kappa", "seconds"]
    table = frame.groupby("combo")[columns].mean()
    if oracle:
        table["ratio"] = table["kappa"] / table["oracle_kappa"]
    return table.sort_values("kappa", ascending=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--out", default="results/check_learning.json")
    add_config_args(parser)
    args = parser.parse_intermixed_args(argv)
    cfg = config_from(args, args.data)
    rows = []
    for output in run_folds(cfg, parse_combinations(cfg.search.combinations)):
        rows.append(trial_row(output, args.data))
        print(row_line(rows[-1]), flush=True)
    table = mean_table(rows)
    if "oracle_kappa" not in table:
        print(f"no oracle in {args.data} (only demo data have one): kappas alone")
    print(table.round(3).to_string())
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(
        json.dumps({"rows": rows, "mean": table.reset_index().to_dict("records")}, indent=1)
    )
    print(f"written: {args.out}")
    return 0


if __name__ == "__main__":
    run(main)
