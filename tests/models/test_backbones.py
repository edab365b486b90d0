"""keras.applications backbones: their own input preprocessing, weights from a local file,
BatchNorm in inference mode when unfrozen, stage 2 unfreezing only the top of a backbone."""

from __future__ import annotations

import math

import numpy as np
import pytest

import dfu.training.protocol
from dfu.config import ConfigError, ModelConfig, load_config
from dfu.keras_setup import keras, tf
from dfu.models.branches import branch_model, preprocessing
from dfu.models.fusion import (
    combo_model,
    set_branches_trainable,
    trainable_parameters,
    weighted_layers,
)
from dfu.training.health import StageRecord
from dfu.training.protocol import StageSpec, TrainingContext
from tests.helpers.paths import TINY_CONFIG
from tests.helpers.protocol import synthetic_source

SIZE = 32  # the smallest input DenseNet121, EfficientNetB0 and ResNet50 accept
MODALITY = "depth_rgb"
PIXELS = np.random.default_rng(0).integers(0, 256, (4, SIZE, SIZE, 3), dtype=np.uint8)
IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """name -> (application with random weights, the file its weights were saved to)."""
    cache = {}

    def get(name: str):
        if name not in cache:
            net = getattr(keras.applications, name)(
                include_top=False, weights=None, input_shape=(SIZE, SIZE, 3), pooling="avg"
            )
            path = tmp_path_factory.mktemp("weights") / f"{name}_notop.h5"
            net.save_weights(str(path))
            cache[name] = net, str(path)
        return cache[name]

    return get


def _backbone(model: keras.Model) -> keras.Model:
    return model.get_layer(f"{MODALITY}_backbone")


def _features(model: keras.Model, pixels=PIXELS, training=False) -> np.ndarray:
    return _backbone(model)(pixels.astype("float32"), training=training).numpy()


def _bn_statistics(model: keras.Model) -> list[np.ndarray]:
    return [w.numpy() for w in model.weights if "moving_" in w.name]


def test_each_family_gets_its_own_preprocess_input():
    apps = keras.applications
    assert preprocessing("DenseNet121") is apps.densenet.preprocess_input
    assert preprocessing("ResNet50") is apps.resnet.preprocess_input
    assert preprocessing("EfficientNetB0") is apps.efficientnet.preprocess_input
    assert preprocessing("MobileNetV2") is apps.mobilenet_v2.preprocess_input
    assert preprocessing("ResNet50V2") is apps.resnet_v2.preprocess_input
    for unknown in ("NoSuchNet", "densenet", "imagenet_utils"):
        with pytest.raises(ValueError, match="model.backbone: .*keras.applications"):
            branch_model(MODALITY, ModelConfig(backbone=unknown), SIZE)


@pytest.mark.parametrize(
    "name, module, identity",
    [
        ("DenseNet121", "densenet", False),
        ("EfficientNetB0", "efficientnet", True),
        ("ResNet50", "resnet", False),
    ],
)
def test_branch_features_are_the_application_on_keras_own_preprocess_input(
    saved, name, module, identity
):
    net, path = saved(name)
    model = branch_model(MODALITY, ModelConfig(backbone=name, backbone_weights=path), SIZE)
    got = _features(model)
    keras_own = getattr(keras.applications, module).preprocess_input
    want = net.predict(keras_own(PIXELS.astype("float32")), verbose=0)
    scale = float(np.abs(want).max())
    assert scale > 0
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5 * scale)
    raw = net.predict(PIXELS.astype("float32"), verbose=0)
    assert np.allclose(got, raw, rtol=1e-4, atol=1e-5 * scale) == identity


def test_efficientnet_with_keras_imagenet_file_is_normalised_like_keras_imagenet_model(
    saved, tmp_path
):
    """Keras' EfficientNet ImageNet files hold the standard deviations as the input
    Normalization's variance, corrected by a multiply only a weights="imagenet" build has
    (tensorflow/tensorflow#49930): the branch must see (x / 255 - mean) / std all the same,
    and keep it through an h5 round trip of its weights."""
    net, _ = saved("EfficientNetB0")
    norm = next(layer for layer in net.layers if isinstance(layer, keras.layers.Normalization))
    kept = norm.get_weights()
    norm.set_weights(
        [np.array(IMAGENET_MEAN, "float32"), np.array(IMAGENET_STD, "float32"), kept[2]]
    )
    path = str(tmp_path / "efficientnetb0_notop.h5")
    net.save_weights(path)
    norm.set_weights(kept)
    cfg = ModelConfig(backbone="EfficientNetB0", backbone_weights=path)
    model = branch_model(MODALITY, cfg, SIZE)
    want = (PIXELS / 255.0 - IMAGENET_MEAN) / IMAGENET_STD
    np.testing.assert_allclose(_normalised(model), want, rtol=1e-4, atol=1e-4)
    model.save_weights(str(tmp_path / "branch.h5"), save_format="h5")
    again = branch_model(MODALITY, cfg, SIZE)
    again.load_weights(str(tmp_path / "branch.h5"))
    np.testing.assert_allclose(_normalised(again), want, rtol=1e-4, atol=1e-4)
    np.testing.assert_array_equal(
        again.predict(PIXELS, verbose=0), model.predict(PIXELS, verbose=0)
    )


def _normalised(model: keras.Model) -> np.ndarray:
    """The output of the EfficientNet's input Normalization inside a branch's backbone."""
    net = _backbone(model).get_layer("efficientnetb0")
    norm = next(layer for layer in net.layers if isinstance(layer, keras.layers.Normalization))
    return keras.Model(net.input, norm.output)(PIXELS.astype("float32")).numpy()


def test_loaded_backbone_keeps_batchnorm_in_inference_mode_when_unfrozen(saved):
    _, path = saved("ResNet50")
    model = branch_model(MODALITY, ModelConfig(backbone="ResNet50", backbone_weights=path), SIZE)
    set_branches_trainable(model, [MODALITY], True, hidden=True)
    inference = _features(model)
    for _ in range(2):
        np.testing.assert_allclose(_features(model, training=True), inference, rtol=1e-5, atol=1e-6)
    statistics = _bn_statistics(model)
    gammas = [w.numpy() for w in model.trainable_weights if w.name.endswith("gamma:0")]
    assert statistics and gammas
    _one_training_step(model)
    for after, before in zip(_bn_statistics(model), statistics, strict=True):
        np.testing.assert_array_equal(after, before)
    moved = [w.numpy() for w in model.trainable_weights if w.name.endswith("gamma:0")]
    assert any(not np.array_equal(a, b) for a, b in zip(moved, gammas, strict=True))


def test_small_cnn_batchnorm_still_learns_its_statistics():
    model = branch_model(MODALITY, ModelConfig(filters=[4, 8], head_units=4), SIZE)
    statistics = _bn_statistics(model)
    _one_training_step(model)
    changed = [
        not np.array_equal(a, b) for a, b in zip(_bn_statistics(model), statistics, strict=True)
    ]
    assert statistics and all(changed)


def _one_training_step(model: keras.Model) -> None:
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="categorical_crossentropy")
    labels = np.eye(3, dtype="float32")[np.arange(len(PIXELS)) % 3]
    model.train_on_batch(PIXELS, labels)


def test_stage2_unfreezes_only_the_top_fraction_of_the_backbone():
    model = combo_model(("metadata", MODALITY), ModelConfig(backbone="DenseNet121"), SIZE)
    everything = trainable_parameters(model)
    set_branches_trainable(model, [MODALITY], False)  # stage 1
    frozen = trainable_parameters(model)
    set_branches_trainable(model, [MODALITY], True, hidden=True, fraction=0.05)  # stage 2
    layers = weighted_layers(_backbone(model))
    top = math.ceil(0.05 * len(layers))
    assert len(layers) > 200 and top == 13
    assert [layer.trainable for layer in layers] == [False] * (len(layers) - top) + [True] * top
    assert frozen < trainable_parameters(model) < everything
    set_branches_trainable(model, [MODALITY], False)
    set_branches_trainable(model, [MODALITY], True, hidden=True, fraction=1.0)
    assert all(layer.trainable for layer in layers)
    assert trainable_parameters(model) == everything


class _Unfrozen(Exception):
    pass


def test_fine_tune_unfreezes_by_model_unfreeze_fraction(monkeypatch):
    cfg = load_config(TINY_CONFIG, ["model.filters=[4, 8]", "model.unfreeze_fraction=0.5"])
    combo = ("metadata", "thermal_map")
    model = combo_model(combo, cfg.model, 16)
    set_branches_trainable(model, ["thermal_map"], False, hidden=True)

    def run_stage(model, *args, **kwargs):
        layers = weighted_layers(model.get_layer("thermal_map_backbone"))
        raise _Unfrozen([layer.name for layer in layers if layer.trainable])

    monkeypatch.setattr(dfu.training.protocol, "run_stage", run_stage)
    with pytest.raises(_Unfrozen) as unfrozen:
        ctx = TrainingContext(None, cfg, tf.distribute.get_strategy())
        stage2 = StageSpec("stage2", cfg.training.stage2, combo, None)
        dfu.training.protocol.fine_tune(model, ctx, stage2, None)
    assert unfrozen.value.args[0] == ["conv1", "bn1"]  # the top half of conv0, bn0, conv1, bn1
    assert model.get_layer("thermal_map_hidden").trainable


@pytest.mark.parametrize("fraction", ["0", "-0.1", "1.5"])
def test_unfreeze_fraction_must_be_in_zero_one(fraction):
    with pytest.raises(ConfigError, match="model.unfreeze_fraction"):
        load_config(overrides=[f"model.unfreeze_fraction={fraction}"])
    assert load_config(overrides=["model.unfreeze_fraction=0.05"]).model.unfreeze_fraction == 0.05


@pytest.mark.slow
def test_pretraining_trains_a_pretrained_backbone_for_one_stage(saved):
    """ResNet50: the cheapest of the three to train (~16-20 s on 2 cores, EfficientNetB0 ~19-23
    s), so slow; the fast suite's BatchNorm test already takes a compiled training step."""
    net, path = saved("ResNet50")
    source = synthetic_source(n_train=96, n_val=48, n_test=8)
    for split in source.arrays.values():  # 16 px crops, doubled: the applications need >= 32
        split.inputs["thermal_map"] = split.inputs["thermal_map"].repeat(2, 1).repeat(2, 2)
    cfg = load_config(
        overrides=[
            f"data.image_size={SIZE}",
            "model.backbone=ResNet50",
            f"model.backbone_weights={path}",
            "data.augment.thermal_map=[]",
            "training.pretrain={epochs: 1, warmup: 0, patience: 1}",
        ]
    )
    model, record = dfu.training.protocol.pretrain_branch(
        TrainingContext(source, cfg), "thermal_map"
    )
    assert isinstance(record, StageRecord) and record.epochs_run == 1
    assert record.steps_per_epoch == 3 and record.trainable_params > 1_000_000
    assert record.weight_change > 0  # the unfrozen backbone and the head trained
    for after, before in zip(_bn_statistics(model), _bn_statistics(net), strict=True):
        np.testing.assert_array_equal(after, before)  # BatchNorm stayed in inference mode
