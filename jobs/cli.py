"""What every entrypoint shares: config from file + dotted overrides, clean exits on bad input."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable

from dfu.config import Config, ConfigError, load_config


def add_config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", help="YAML config file (see dfu/configs/)")
    parser.add_argument("overrides", nargs="*", metavar="key=value",
                        help="dotted config overrides, e.g. training.stage1.epochs=3")  # fmt: skip


def config_from(args: argparse.Namespace, data: str | None = None) -> Config:
    extra = [f"data.root={data}"] if data else []
    return load_config(args.config, [*args.overrides, *extra])


def run(main: Callable[[], int]) -> None:
    """Run an entrypoint: user errors exit 2 with one line naming what is wrong, no traceback."""
    from dfu.data.errors import DataError

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        code = main()
    except (ConfigError, DataError) as err:
        print(f"error: {err}", file=sys.stderr)
        code = 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        code = 130
    raise SystemExit(code)
