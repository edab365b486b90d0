"""Build (or find) the Parquet cache of a dataset's crops.

    python -m jobs.build_cache DIR [--config FILE] [key=value ...]

Prints the cache directory, its size and the time taken. An unchanged dataset with the
same settings reuses the existing cache instantly. Exit 2 with ``error: ...`` on bad data.
"""

from __future__ import annotations

import json
import time

from dfu.data.cache import build_cache
from jobs.cli import config_from, dataset_parser, guarded


def main(argv: list[str] | None = None) -> int:
    args = dataset_parser(__doc__.splitlines()[0]).parse_intermixed_args(argv)

    def build() -> int:
        start = time.time()
        path = build_cache(config_from(args, args.dir).data, progress=True)
        size = sum(f.stat().st_size for f in path.iterdir()) / 1e6
        summary = json.loads((path / "summary.json").read_text())
        skipped = sum(r["count"] for r in summary["skips"].values())
        print(path)
        print(f"cache: {size:.1f} MB, {time.time() - start:.1f} s")
        print(f"{summary['image_sets']} image sets, {skipped} items skipped (see summary.json)")
        return 0

    return guarded(build)


if __name__ == "__main__":
    raise SystemExit(main())
