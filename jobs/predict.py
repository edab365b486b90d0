"""Predict the healing phase of new assessments with a saved bundle (labels not needed).

python -m jobs.predict --bundle PATH --data DIR --out preds.csv

DIR is a dataset in the Zivot layout; its metadata CSV may lack the label columns. Writes
one row per assessment with at least one complete image set: assessment_id, patient,
appt, dfu, p_I, p_P, p_R (the fold models' mean probabilities) and predicted_phase.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from dfu.data.cache import build_cache, load_cache
from dfu.data.errors import DataError
from dfu.data.schema import MODALITY_FOLDERS
from dfu.runs.bundle import Bundle, load_bundle
from dfu.store.layout import BUNDLE_FILE
from jobs.cli import run


def check_modalities(bundle: Bundle, data: Path) -> None:
    """One clear line for a folder the bundle's model needs but the data lacks."""
    for modality in bundle.modalities:
        key = MODALITY_FOLDERS[modality][0]
        folder = data / getattr(bundle.cfg.data, key)
        if not folder.is_dir():
            raise DataError(
                f"{modality} image folder not found; the bundle's model "
                f"({'+'.join(bundle.combo)}) needs it (folder name set by "
                f"data.{key})",
                file=str(folder),
            )


def read_bundle(path: str) -> Bundle:
    """``load_bundle``, with a damaged bundle.json (not JSON, a key missing) as one line."""
    try:
        return load_bundle(path)
    except (json.JSONDecodeError, KeyError) as err:
        raise DataError(
            f"not a valid bundle ({type(err).__name__}: {err}); make it again "
            "with dfu.runs.bundle.save_bundle",
            file=str(Path(path) / BUNDLE_FILE),
        ) from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--bundle", required=True, help="bundle folder (dfu.runs.bundle.save_bundle)"
    )
    parser.add_argument("--data", required=True, help="dataset folder in the Zivot layout")
    parser.add_argument("--out", required=True, help="CSV to write")
    args = parser.parse_args(argv)
    bundle = read_bundle(args.bundle)
    data = Path(args.data).expanduser().resolve()
    if not data.is_dir():
        raise DataError("dataset folder not found", file=str(data))
    check_modalities(bundle, data)
    cfg = dataclasses.replace(bundle.cfg.data, root=str(data))
    cache = load_cache(build_cache(cfg, require_labels=False))
    predictions = bundle.predict(cache)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    predictions.to_csv(args.out, index=False)
    skipped = int((~cache.assessments["has_images"]).sum())
    counts = predictions["predicted_phase"].value_counts().to_dict()
    print(
        f"{len(predictions)} assessments predicted with {'+'.join(bundle.combo)} "
        f"({len(bundle.folds)} fold models averaged): {counts}; {skipped} assessments without "
        f"a complete image set not predicted. Written: {args.out}"
    )
    return 0


if __name__ == "__main__":
    run(main)
