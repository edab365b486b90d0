"""Check a dataset in the Zivot layout and summarise what the project will use.

    python -m jobs.validate_data DIR [--config FILE] [key=value ...]

Prints patients, assessments, image sets, class mix, modality availability, how frames
find their maps and what depth frames without a map cost (image sets, assessments), every
kind of skipped item and every irregularity read as is, with counts and examples. Exit 0:
usable; exit 2: a fatal problem, printed as ``error: <message>`` (the file, line and column
to fix). ``data.duplicate_assessments=error`` makes metadata rows that repeat an assessment
with other values fatal (default ``first``: the first row is kept, the others counted).
"""

from __future__ import annotations

from pathlib import Path

from dfu.data.errors import DataError
from dfu.data.zivot import format_summary, read_zivot
from jobs.cli import config_from, dataset_parser, guarded


def main(argv: list[str] | None = None) -> int:
    parser = dataset_parser(__doc__.splitlines()[0])
    parser.add_argument(
        "--unlabelled", action="store_true", help="labels may be missing (data to predict)"
    )
    parser.add_argument(
        "--no-decode", action="store_true", help="read PNG headers only (misses truncated files)"
    )
    args = parser.parse_intermixed_args(argv)

    def check() -> int:
        cfg = config_from(args, args.dir).data
        data = read_zivot(cfg, require_labels=not args.unlabelled, check_images=not args.no_decode)
        print(format_summary(data.summary))
        if data.summary["assessments"] == 0:
            metadata = Path(data.summary["root"]) / cfg.metadata_csv
            raise DataError("no assessments in the metadata CSV", file=str(metadata))
        if data.summary["image_sets"] == 0:
            print("warning: no complete image set; only the metadata modality can be used")
        print(
            f"ok: {data.summary['image_sets']} image sets, "
            f"{data.summary['assessments']} assessments"
        )
        return 0

    return guarded(check)


if __name__ == "__main__":
    raise SystemExit(main())
