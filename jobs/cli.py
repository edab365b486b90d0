"""What every entrypoint shares: config from file + dotted overrides, clean exits on bad input."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

import yaml

from dfu.config import Config, ConfigError, load_config
from dfu.data.errors import DataError

# Problems a user fixes in their data or config: reported in one line, no traceback.
USER_ERRORS = (DataError, ConfigError, OSError, yaml.YAMLError)


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config file (see dfu/configs/)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="dotted config overrides, e.g. training.stage1.epochs=3")  # fmt: skip


def config_from(args: argparse.Namespace, data: str | None = None) -> Config:
    cfg = load_config(args.config, args.overrides)
    if data:
        cfg.data.root = str(data)  # set directly: a path is not YAML to parse
    return cfg


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
        print(f"error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def run(main: Callable[[], int]) -> None:
    """Entrypoint wrapper: logging to stderr, user errors exit 2 with no traceback."""
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    raise SystemExit(guarded(main))
