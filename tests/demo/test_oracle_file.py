"""The oracle's posteriors as a plain file: what the report and jobs.check_learning read
without the demo generator (``dfu.evaluation.oracle``)."""

from __future__ import annotations

import shutil

import numpy as np

from dfu.combos import all_subsets, combo_name
from dfu.data.schema import ORACLE_DIR, ORACLE_POSTERIORS
from dfu.demo import ensure_posteriors, oracle_probabilities
from dfu.evaluation.oracle import combo_posteriors, read_posteriors


def test_every_combinations_posterior_is_written_as_the_oracle_computes_it(demo_dir_small):
    posteriors = read_posteriors(demo_dir_small)
    assert list(posteriors.columns) == ["assessment_id", "combo", "y", "p_I", "p_P", "p_R"]
    assert set(posteriors["combo"]) == {combo_name(c) for c in all_subsets()}  # all 31
    for combo in all_subsets():
        want = oracle_probabilities(demo_dir_small, combo)
        got = combo_posteriors(posteriors, combo)
        assert got.index.equals(want.index)
        assert np.array_equal(got[want.columns].to_numpy(), want.to_numpy())


def test_a_combination_is_found_in_any_modality_order(demo_dir_small):
    posteriors = read_posteriors(demo_dir_small)
    a = combo_posteriors(posteriors, "thermal_map+metadata")
    b = combo_posteriors(posteriors, ("metadata", "thermal_map"))
    assert a.equals(b) and len(a) > 0


def test_data_without_an_oracle_have_no_posteriors(tmp_path):
    assert read_posteriors(tmp_path) is None
    ensure_posteriors(tmp_path)  # nothing to upgrade, nothing written
    ensure_posteriors("")
    assert not (tmp_path / ORACLE_DIR).exists()


def test_a_demo_made_before_the_file_existed_gets_it(demo_dir_small, tmp_path):
    old = tmp_path / "old_demo"
    shutil.copytree(demo_dir_small / ORACLE_DIR, old / ORACLE_DIR)
    (old / ORACLE_DIR / ORACLE_POSTERIORS).unlink()
    assert read_posteriors(old) is None
    ensure_posteriors(old)
    assert read_posteriors(old).equals(read_posteriors(demo_dir_small))
