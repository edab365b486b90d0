"""Model builders: every combination builds, nothing is shared, transfer and freezing do what they say."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dfu.combos import all_subsets, image_modalities
from dfu.config import load_config
from dfu.keras_setup import keras
from dfu.models.branches import N_CLASSES, branch_model
from dfu.models.fusion import (
    SourceWeights,
    combo_model,
    input_names,
    set_branches_trainable,
    trainable_parameters,
    transfer_branch,
)
from tests.helpers.paths import TINY_CONFIG

CFG = dataclasses.replace(load_config(TINY_CONFIG).model, filters=[4, 8])  # head_units 8
SIZE = 16


@pytest.mark.parametrize("fusion", ["log", "linear"])
def test_every_combination_with_an_image_builds_and_outputs_probabilities(fusion):
    cfg = dataclasses.replace(CFG, filters=[4], head_units=4, fusion=fusion)
    rng = np.random.default_rng(0)
    for combo in [c for c in all_subsets() if image_modalities(c)]:
        model = combo_model(combo, cfg, SIZE)
        assert [i.name for i in model.inputs] == input_names(combo)
        batch = {
            name: (
                rng.dirichlet([1, 1, 1], 2).astype("float32")
                if name == "metadata"
                else rng.integers(0, 255, (2, SIZE, SIZE, 3), dtype=np.uint8)
            )
            for name in input_names(combo)
        }
        out = model.predict(batch, verbose=0)
        assert out.shape == (2, 3) and np.allclose(out.sum(1), 1, atol=1e-5), combo


def test_metadata_only_has_no_keras_model():
    with pytest.raises(ValueError, match="no image modality"):
        combo_model(("metadata",), CFG, SIZE)


def test_no_layer_or_weight_is_shared_between_two_built_models():
    a = combo_model(("metadata", "depth_rgb", "thermal_map"), CFG, SIZE)
    b = combo_model(("metadata", "depth_rgb", "thermal_map"), CFG, SIZE)
    assert not {id(layer) for layer in a.layers} & {id(layer) for layer in b.layers}
    assert not {id(w) for w in a.weights} & {id(w) for w in b.weights}


def test_fusion_weights_start_at_seventy_percent_metadata_and_are_learnable():
    model = combo_model(("metadata", "depth_rgb", "thermal_map"), CFG, SIZE)
    fusion = model.get_layer("fusion")
    assert isinstance(fusion, SourceWeights)
    assert fusion.by_source() == pytest.approx(
        {"metadata": 0.7, "depth_rgb": 0.15, "thermal_map": 0.15}
    )
    assert len(fusion.trainable_weights) == 2, "weights and class bias must be trainable"
    multi = combo_model(("depth_rgb", "depth_map", "thermal_map"), CFG, SIZE)  # image-only
    assert multi.get_layer("fusion").by_source() == pytest.approx(
        dict.fromkeys(["depth_rgb", "depth_map", "thermal_map"], 1 / 3)
    )


@pytest.mark.parametrize("mode", ["log", "linear"])
def test_a_source_with_weight_zero_leaves_the_fusion_to_the_others(mode):
    """A useless input must be able to weigh 0: then the fused output is the rest's alone."""
    model = combo_model(
        ("metadata", "thermal_map"),
        dataclasses.replace(CFG, filters=[4], head_units=4, fusion=mode),
        SIZE,
    )
    fusion = model.get_layer("fusion")
    fusion.w.assign([0.0, -1.0])  # the NonNeg constraint is applied by optimizers, not assign
    fusion.w.assign(fusion.w.constraint(fusion.w))
    assert fusion.by_source() == {"metadata": 0.0, "thermal_map": 0.0}
    fusion.w.assign([1.0, 0.0])
    rng = np.random.default_rng(1)
    meta = rng.dirichlet([1, 1, 1], 4).astype("float32")
    images = rng.integers(0, 255, (4, SIZE, SIZE, 3), dtype=np.uint8)
    out = model.predict({"metadata": meta, "thermal_map": images}, verbose=0)
    np.testing.assert_allclose(out, meta, atol=1e-5)


@pytest.mark.parametrize("saved", [False, True], ids=["model", "weights-file"])
def test_transfer_copies_the_whole_branch_by_name_head_included(saved, tmp_path):
    source = branch_model("thermal_map", CFG, SIZE)
    for w in source.weights:  # make every pre-trained weight recognisable
        w.assign(np.full(w.shape, 0.5, dtype=w.dtype.as_numpy_dtype))
    source.save_weights(str(tmp_path / "branch.h5"), save_format="h5")
    target = combo_model(("metadata", "thermal_map"), CFG, SIZE)
    fusion_before = [w.copy() for w in target.get_layer("fusion").get_weights()]
    copied = transfer_branch(tmp_path / "branch.h5" if saved else source, target, "thermal_map")
    assert set(copied) == {"thermal_map_backbone", "thermal_map_hidden", "thermal_map_head"}
    for name in copied:
        for got, want in zip(
            target.get_layer(name).get_weights(), source.get_layer(name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(got, want)
    for got, before in zip(target.get_layer("fusion").get_weights(), fusion_before, strict=True):
        np.testing.assert_array_equal(got, before)  # the fusion layer is the combination's own


def test_transfer_refuses_a_weights_file_of_another_branch_or_without_a_backbone(tmp_path):
    """Loading by name must not overwrite the fusion's other layers, nor pass silently when
    the backbone is missing (the fusion would train from scratch)."""
    target = combo_model(("metadata", "depth_rgb", "thermal_map"), CFG, SIZE)
    branch_model("depth_rgb", CFG, SIZE).save_weights(str(tmp_path / "depth.h5"), save_format="h5")
    with pytest.raises(RuntimeError, match="holds other layers: .'depth_rgb_backbone'"):
        transfer_branch(tmp_path / "depth.h5", target, "thermal_map")
    inputs = keras.Input((N_CLASSES,))
    head_only = keras.Model(inputs, keras.layers.Dense(N_CLASSES, name="thermal_map_head")(inputs))
    head_only.save_weights(str(tmp_path / "head.h5"), save_format="h5")
    with pytest.raises(RuntimeError, match="backbone weights not found"):
        transfer_branch(tmp_path / "head.h5", target, "thermal_map")


def test_freezing_the_branches_leaves_heads_and_fusion_trainable():
    model = combo_model(("metadata", "depth_rgb", "thermal_map"), CFG, SIZE)
    everything = trainable_parameters(model)
    set_branches_trainable(model, ("depth_rgb", "thermal_map"), False)
    frozen = trainable_parameters(model)
    set_branches_trainable(model, ("depth_rgb", "thermal_map"), False, hidden=True)
    read_out = trainable_parameters(model)
    assert everything > frozen > read_out > 0
    heads = 2 * (CFG.head_units * 3 + 3)
    assert read_out == heads + 3 + 3  # heads, one weight per source, class bias
    set_branches_trainable(model, ("depth_rgb", "thermal_map"), True, hidden=True)
    assert trainable_parameters(model) == everything
