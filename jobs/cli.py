"""What every entrypoint shares: config from file + dotted overrides, clean exits on bad input."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from dfu.config import Config, ConfigError, load_config
from dfu.cv.folds import FoldError
from dfu.data.errors import DataError
from dfu.evaluation.results import RunError

# Problems a user fixes in their data, config, fold settings or choice of run folder:
# reported in one line, no traceback. Anything else is a bug and keeps its traceback.
USER_ERRORS = (DataError, ConfigError, FoldError, RunError, OSError, yaml.YAMLError)


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config file (see dfu/configs/)")
    parser.add_argument(
        "overrides",
        nargs="*",
        metavar="key=value",
        help="dotted config overrides, e.g. training.stage1.epochs=3",
    )


def config_from(args: argparse.Namespace, data: str | None = None) -> Config:
    try:
        cfg = load_config(args.config, args.overrides)
    except yaml.YAMLError as err:  # say which input, and where in the file
        raise ConfigError(yaml_problem(args, err)) from None
    if data:
        cfg.data.root = str(data)  # set directly: a path is not YAML to parse
    return cfg


def yaml_problem(args: argparse.Namespace, err: yaml.YAMLError) -> str:
    """One line naming the input that is not YAML: the config file (line, column) or an override."""
    problem = getattr(err, "problem", None) or one_line(err)
    if args.config and not _parses(Path(args.config).read_text()):
        mark = getattr(err, "problem_mark", None)
        where = f", line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        return f"{args.config}{where}: not valid YAML: {problem}"
    bad = next((o for o in args.overrides if not _parses(o.partition("=")[2])), None)
    return f"override {bad!r}: not valid YAML: {problem}" if bad else f"not valid YAML: {problem}"


def _parses(text: str) -> bool:
    try:
        yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return True


def dataset_parser(description: str) -> argparse.ArgumentParser:
    """``DIR [--config FILE] [key=value ...]``: the arguments of jobs that read one dataset."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("dir", help="dataset folder (Zivot layout)")
    add_config_args(parser)
    return parser


def guarded(main: Callable[[], int]) -> int:
    """Run ``main``; user errors become one line ``error: ...`` on stderr and exit code 2."""
    try:
        return main()
    except USER_ERRORS as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def one_line(err: BaseException) -> str:
    """The error's message on one line (a YAML error spans several: file, line, column)."""
    return "; ".join(part.strip() for part in str(err).splitlines() if part.strip())


def run(main: Callable[[], int]) -> None:
    """Entrypoint wrapper: logging to stderr, user errors exit 2 with no traceback."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    raise SystemExit(guarded(main))


def run_search(cfg: Config, executor: str = "ray") -> int:
    """The search with the chosen executor, its summary printed; exit 1 if anything failed.

    Ray is imported only for ``ray``: the local executor runs where Ray is not installed."""
    from dfu.demo import ensure_posteriors
    from dfu.runs.run import describe, search

    if executor == "ray":
        from cluster.search import execute_ray as execute
    else:
        from dfu.runs.local import execute_local

        def execute(run):
            return execute_local(run), {"name": "local"}

    ensure_posteriors(cfg.data.root)  # a demo folder made before the oracle's posteriors file
    outcome = search(cfg, execute)
    describe(outcome)
    return 1 if outcome.failed else 0
