"""Check a dataset in the Zivot layout and summarise what the project will use.

    python -m jobs.validate_data DIR [--config FILE] [key=value ...]

Prints patients, assessments, image sets, class mix, modality availability and every kind
of skipped item with counts and examples. Exit 0: usable; exit 2: a fatal problem, printed
as ``error: <message>`` (the file, line and column to fix).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

import yaml

from dfu.config import ConfigError, DataConfig, load_config
from dfu.data.errors import DataError
from dfu.data.zivot import format_summary, read_zivot

# Problems a user fixes in their data or config: reported in one line, no traceback.
USER_ERRORS = (DataError, ConfigError, OSError, yaml.YAMLError)


def data_arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("dir", help="dataset folder (Zivot layout)")
    parser.add_argument("--config", help="YAML config file")
    parser.add_argument("overrides", nargs="*", help="dotted overrides, e.g. data.image_size=64")
    return parser


def data_config(args: argparse.Namespace) -> DataConfig:
    """The data section of the config file + overrides, with ``root`` = the given folder."""
    cfg = load_config(args.config, args.overrides).data
    cfg.root = args.dir
    return cfg


def run(main: Callable[[], int]) -> int:
    """Run ``main``; user errors become ``error: ...`` on stderr and exit code 2."""
    try:
        return main()
    except USER_ERRORS as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


def main(argv: list[str] | None = None) -> int:
    parser = data_arguments(__doc__.splitlines()[0])
    parser.add_argument(
        "--unlabelled", action="store_true", help="labels may be missing (data to predict)"
    )
    parser.add_argument(
        "--no-decode", action="store_true", help="read PNG headers only (misses truncated files)"
    )
    args = parser.parse_args(argv)

    def check() -> int:
        cfg = data_config(args)
        data = read_zivot(cfg, require_labels=not args.unlabelled, check_images=not args.no_decode)
        print(format_summary(data.summary))
        if data.summary["assessments"] == 0:
            metadata = Path(data.summary["root"]) / cfg.metadata_csv
            raise DataError("no assessments in the metadata CSV", file=str(metadata))
        if data.summary["image_sets"] == 0:
            print("warning: no complete image set; only the metadata modality can be used")
        print(f"ok: {data.summary['image_sets']} image sets, "
              f"{data.summary['assessments']} assessments")  # fmt: skip
        return 0

    return run(check)


if __name__ == "__main__":
    raise SystemExit(main())
