"""Does the protocol learn what the data show? Kappa per combination vs. linear, members, oracle.

    python -m jobs.check_learning --data DIR [--config FILE] [--name NAME] [--storage PATH]
        [--out FILE] [key=value ...]

Runs the configured search (in this process by default, ``dfu.runs.local``; on Ray with
``--executor ray``; the same plan and files as ``jobs.cv_search``, so rerunning resumes), then
prints per combination the mean test
kappa (assessment level) over folds and, where they apply: each single image modality against
its linear baseline (the issue's bar: >= 0.9 x a baseline that reaches 0.2), each fusion
against its best member, and the Bayes oracle's kappa on the same test rows (demo data only,
``_oracle/``). Writes the numbers as JSON. Add ``training.permute_train_labels=true`` for the
leak check (kappa must stay near 0).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd

from dfu.combos import baseline_name, image_modalities, is_baseline, parse_combo
from dfu.constants import PROBA_COLUMNS
from dfu.demo import ensure_posteriors
from dfu.evaluation.metrics import assessment_probabilities, classification_metrics
from dfu.evaluation.oracle import combo_posteriors, read_posteriors
from dfu.runs.local import execute_local
from dfu.runs.run import search
from dfu.store.layout import PREDICTIONS_FILE, TRIAL_FILE, RunLayout
from dfu.store.records import read_json
from jobs.cli import add_config_args, config_from, run


def oracle_kappa(root, combo: str, predictions: pd.DataFrame) -> float | None:
    """The oracle's kappa on the same test assessments; None for data without an oracle."""
    if is_baseline(combo):
        return None
    posteriors = read_posteriors(root)
    if posteriors is None:
        return None
    oracle = combo_posteriors(posteriors, combo)
    o = oracle.loc[assessment_probabilities(predictions)["assessment_id"]]
    return classification_metrics(o["y"].to_numpy(), o[PROBA_COLUMNS].to_numpy())["kappa"]


def trial_rows(layout: RunLayout, root) -> list[dict]:
    rows = []
    for folder in layout.trial_dirs():
        s = read_json(folder / TRIAL_FILE)
        predictions = pd.read_parquet(folder / PREDICTIONS_FILE)
        stages = [*s.get("pretrain", {}).values(), *s.get("stages", [])]
        rows.append(
            {
                "fold": s["fold"],
                "combo": s["combo"],
                "seconds": s["seconds"],
                "kappa": s["test"]["assessment"]["kappa"],
                "oracle_kappa": oracle_kappa(root, s["combo"], predictions),
                "not_ok": {
                    st["stage"]: st["verdicts"] for st in stages if st["verdicts"] != ["ok"]
                },
                "fusion": (s.get("fusion") or {}).get("weights"),
            }
        )
    return rows


def learning_table(rows: list[dict]) -> pd.DataFrame:
    """Per combination: mean kappa and seconds; vs. its linear baseline or its best member;
    the oracle's kappa and the ratio when known."""
    frame = pd.DataFrame(rows)
    table = frame.groupby("combo")[["kappa", "seconds"]].mean()
    for name in table.index:
        table.loc[name, "compare"], table.loc[name, "reference"] = _reference(name, table)
    oracle = frame.groupby("combo")["oracle_kappa"].mean()
    if oracle.notna().any():
        table["oracle_kappa"] = oracle
        table["ratio"] = table["kappa"] / table["oracle_kappa"]
    return table.sort_values("kappa", ascending=False)


def _reference(name: str, table: pd.DataFrame) -> tuple[str, float]:
    """A single image vs. its linear baseline; a fusion vs. its best member alone."""
    if is_baseline(name) or "+" not in name and not image_modalities(parse_combo(name)):
        return "", float("nan")
    members = parse_combo(name)
    if len(members) == 1 and baseline_name(name) in table.index:
        return f"linear {table.loc[baseline_name(name), 'kappa']:.3f}", table.loc[
            name, "kappa"
        ] / max(table.loc[baseline_name(name), "kappa"], 1e-9)
    known = [m for m in members if m in table.index]
    if len(members) == 1 or not known:
        return "", float("nan")
    best = max(known, key=lambda m: table.loc[m, "kappa"])
    return f"best member {best} {table.loc[best, 'kappa']:.3f}", table.loc[
        name, "kappa"
    ] - table.loc[best, "kappa"]


def _executor(name: str):
    if name == "ray":
        from cluster.search import execute_ray

        return execute_ray
    return lambda run: (execute_local(run), {"name": "local"})


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--name", default="check-learning", help="run name (search.name)")
    parser.add_argument("--storage", help="folder holding runs (search.storage)")
    parser.add_argument("--out", help="JSON of the numbers (default <run>/check_learning.json)")
    parser.add_argument(
        "--executor",
        choices=("local", "ray"),
        default="local",
        help="local (default): this process; ray: Tune trials, as cv_search",
    )
    add_config_args(parser)
    args = parser.parse_intermixed_args(argv)
    cfg = config_from(args, str(Path(args.data).expanduser().resolve()))
    cfg.search.name = args.name
    cfg.search.storage = args.storage or cfg.search.storage
    ensure_posteriors(cfg.data.root)  # a demo folder made before the oracle's posteriors file
    outcome = search(cfg, _executor(args.executor))
    rows = trial_rows(outcome.layout, args.data)
    table = learning_table(rows)
    if "oracle_kappa" not in table:
        print(f"no oracle in {args.data} (only demo data have one): kappas alone")
    print(table.round(3).to_string())
    out = Path(args.out) if args.out else outcome.layout.root / "check_learning.json"
    out.write_text(
        json.dumps(
            {"rows": rows, "mean": table.reset_index().to_dict("records")}, indent=1, default=str
        )
    )
    print(f"written: {out}")
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    run(main)
