"""The demo data's Bayes oracle, as its generator wrote it: each modality combination's exact
posterior per assessment (``<dataset>/_oracle/posteriors.parquet``). No model can be expected
to beat it; real data have none. Pandas only: the report does not need the demo generator.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dfu.combos import Combo, combo_name, parse_combo
from dfu.constants import PROBA_COLUMNS
from dfu.data.schema import ORACLE_DIR, ORACLE_POSTERIORS


def read_posteriors(root: str | Path) -> pd.DataFrame | None:
    """Every combination's oracle posterior per assessment (columns assessment_id, combo, y,
    p_I, p_P, p_R), or None for data without an oracle."""
    path = Path(root) / ORACLE_DIR / ORACLE_POSTERIORS
    return pd.read_parquet(path) if path.is_file() else None


def combo_posteriors(posteriors: pd.DataFrame, combo: str | Combo) -> pd.DataFrame:
    """One combination's rows of ``read_posteriors``: p_I, p_P, p_R and the true class ``y``,
    indexed by assessment_id (a combination in any modality order)."""
    name = combo_name(parse_combo(combo) if isinstance(combo, str) else combo)
    rows = posteriors[posteriors["combo"] == name]
    return rows.set_index("assessment_id")[[*PROBA_COLUMNS, "y"]]
