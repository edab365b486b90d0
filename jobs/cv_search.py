"""The cross-validation search: every configured fold x modality combination, on Ray.

    python -m jobs.cv_search --data DIR [--config FILE] [--name NAME] [--storage PATH]
        [--executor ray|local] [--verbose] [key=value ...]

Without RAY_ADDRESS it starts a local Ray sized to this machine (dashboard on 127.0.0.1);
under ``ray job submit`` it joins the cluster it runs in. ``--executor local`` runs the same
plan in this process, one unit after another, without Ray. Folds, combinations (a list,
``all`` or ``clinic``), image size, epochs, workers and GPUs per trial are config keys
(``search.*``, ``data.image_size``, ``training.*``). Rerunning with the same name and
storage resumes: finished units are kept, the rest run.
Writes ``<storage>/<name>/``: report.html, results.csv, summary.csv, search.json, trials/...
"""

from __future__ import annotations

import argparse
from pathlib import Path

from jobs.cli import add_config_args, config_from, run, run_search


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="dataset folder in the Zivot layout")
    parser.add_argument("--name", help="run name (search.name); the same name resumes")
    parser.add_argument(
        "--storage", help="folder holding runs (search.storage); shared on a cluster"
    )
    parser.add_argument(
        "--executor",
        choices=("ray", "local"),
        default="ray",
        help="ray (default) or local: this process, no Ray",
    )
    parser.add_argument(
        "--verbose", action="store_true", help="Ray's own logs and Tune's status table"
    )
    add_config_args(parser)
    args = parser.parse_intermixed_args(argv)
    # Absolute: the resumability check compares it, and a Ray job runs in another folder.
    cfg = config_from(args, str(Path(args.data).expanduser().resolve()))
    if args.name:
        cfg.search.name = args.name
    if args.storage:
        cfg.search.storage = args.storage
    cfg.search.verbose = cfg.search.verbose or args.verbose
    return run_search(cfg, args.executor)


if __name__ == "__main__":
    run(main)
