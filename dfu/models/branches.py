"""Image branches: one per modality, a backbone (a small CNN or a keras.applications model)
read out into a feature vector, a hidden layer and a softmax head.

Every layer of a branch is named after its modality, so pre-trained branch weights move
into a fusion model by layer name (``dfu.models.fusion.transfer_branch``). Each call builds
fresh layers: no layer or model object is ever shared between two built models (the clinic's
old pipeline leaked weights through a cached builder).

Layer names, for modality ``m``:
  ``m`` (input, uint8 HxWx3) -> ``m_float`` -> augmentation (``m_flip``, ``m_rotate``, ...) ->
  ``m_backbone`` (nested model) -> ``m_dropout`` -> ``m_hidden`` -> ``m_head`` (softmax).
The same names in the pre-training model and in every fusion model: transfer copies the whole
branch, head included, so each fusion starts from its pre-trained experts (a fresh head
re-learned under the fusion's class weights lost part of what pre-training found).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from dfu.config import ModelConfig
from dfu.constants import AUGMENTATIONS, CLASSES
from dfu.keras_setup import keras

N_CLASSES = len(CLASSES)
# Random turns: any angle (a fraction 0.5 of a full turn either way); crops are zero-padded
# squares, so the corners fill with the same zeros.
ROTATION = 0.5
# Brightness and contrast jitter of the RGB frames: +-10% (``AugmentConfig``).
COLOUR_JITTER = 0.1


def backbone(modality: str, cfg: ModelConfig, image_size: int) -> keras.Model:
    """Image -> feature vector, as one nested model named ``<modality>_backbone``."""
    inputs = keras.Input((image_size, image_size, 3), name=f"{modality}_pixels")
    x = keras.layers.Rescaling(1.0, name="to_float")(inputs)  # uint8 -> float32
    if cfg.backbone == "small_cnn":
        x = keras.layers.Rescaling(1.0 / 255)(x)
        for i, filters in enumerate(cfg.filters):
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
            # model.batchnorm_momentum: 0.9, not Keras' 0.99 (see ModelConfig)
            x = keras.layers.BatchNormalization(momentum=cfg.batchnorm_momentum, name=f"bn{i}")(x)
            x = keras.layers.ReLU(name=f"relu{i}")(x)
            x = keras.layers.MaxPooling2D(name=f"pool{i}")(x)
        features = _readout(x, cfg.pool_grid)
    else:
        features = _pretrained_features(x, cfg, image_size)
    return keras.Model(inputs, features, name=f"{modality}_backbone")


def _readout(x, grid: int):
    """Feature maps -> vector: averaged over a ``grid`` x ``grid`` layout, then flattened.

    Global average pooling (grid 1) throws away *where* a feature is; a coarse grid keeps it,
    which shapes need (a digit, a wound's outline) and colour or heat signals do not mind.
    """
    side = int(x.shape[1])
    if grid <= 1 or side <= 1:
        return keras.layers.GlobalAveragePooling2D(name="gap")(x)
    pool = max(1, side // grid)
    if pool > 1:
        x = keras.layers.AveragePooling2D(pool, name="grid_pool")(x)
    return keras.layers.Flatten(name="flatten")(x)


def _pretrained_features(x, cfg: ModelConfig, image_size: int):
    """A keras.applications backbone on its family's own ``preprocess_input`` (0-255 RGB in).

    With loaded weights it always runs in inference mode (``training=False``), the Keras
    transfer-learning recipe: unfrozen, its BatchNorm layers keep the moving statistics the
    weights were trained with instead of re-estimating them from small clinic batches (and
    EfficientNet's drop-connect stays off); their scales and offsets still train.
    """
    x = keras.layers.Lambda(preprocessing(cfg.backbone), name="preprocess")(x)  # no weights
    net = _application(cfg, image_size)
    return net(x, training=False) if cfg.backbone_weights else net(x)


def preprocessing(name: str):
    """The ``preprocess_input`` of a keras.applications backbone's own module (``DenseNet121``
    -> ``keras.applications.densenet``): caffe, torch or [-1, 1] scaling, or the identity for
    families that normalise inside the model (EfficientNet, ConvNeXt, RegNet, MobileNetV3)."""
    builder = getattr(keras.applications, name, None)
    family = getattr(builder, "__module__", "").rpartition(".")[2]  # tf_keras.src.applications.X
    module = getattr(keras.applications, family, None)
    if not callable(builder) or not hasattr(module, "preprocess_input"):
        raise ValueError(
            f"model.backbone: {name!r} is neither 'small_cnn' nor a keras.applications model "
            "with its own preprocess_input (e.g. DenseNet121, ResNet50, EfficientNetB0)"
        )
    return module.preprocess_input


def _application(cfg: ModelConfig, image_size: int) -> keras.Model:
    """A keras.applications backbone by name (checked by ``preprocessing``); weights only from a
    local file, never downloaded."""
    builder = getattr(keras.applications, cfg.backbone)
    net = builder(
        include_top=False, weights=None, input_shape=(image_size, image_size, 3), pooling="avg"
    )
    if cfg.backbone_weights:
        net.load_weights(cfg.backbone_weights)
        _imagenet_input_scale(net)
    return net


# What EfficientNet B0-B7 ImageNet files hold as their input Normalization's *variance*.
_IMAGENET_STD = (0.229, 0.224, 0.225)


def _imagenet_input_scale(net: keras.Model) -> None:
    """EfficientNet B0-B7 with Keras' ImageNet file: inputs scaled as Keras' own ImageNet model.

    The file stores the ImageNet standard deviations as the variance of the model's input
    Normalization; built with ``weights="imagenet"`` Keras adds a multiply by 1/sqrt(std)
    after it (tensorflow/tensorflow#49930), built with ``weights=None`` (as here) it does
    not, and the stem would see inputs ~2x too small. Squaring the variance gives the same
    ``(x / 255 - mean) / std``. Other files (and every other family) are left as they are.
    """
    for layer in net.layers[:4]:
        if isinstance(layer, keras.layers.Normalization) and len(layer.get_weights()) == 3:
            mean, variance, count = layer.get_weights()
            if variance.shape == (3,) and np.allclose(variance, _IMAGENET_STD):
                layer.set_weights([mean, np.square(variance), count])


def _augmentation(modality: str, names: Sequence[str]) -> list:
    """Random transforms, active in training only (Keras preprocessing layers)."""
    layers = {
        "flip": lambda: keras.layers.RandomFlip("horizontal_and_vertical", name=f"{modality}_flip"),
        "rotate": lambda: keras.layers.RandomRotation(
            ROTATION, fill_mode="constant", name=f"{modality}_rotate"
        ),
        "brightness": lambda: keras.layers.RandomBrightness(
            COLOUR_JITTER, value_range=(0, 255), name=f"{modality}_brightness"
        ),
        "contrast": lambda: keras.layers.RandomContrast(COLOUR_JITTER, name=f"{modality}_contrast"),
    }
    assert set(layers) == set(AUGMENTATIONS), "dfu.constants.AUGMENTATIONS and these must agree"
    return [layers[n]() for n in names]


def branch_features(modality: str, cfg: ModelConfig, image_size: int, augment: Sequence[str]):
    inputs = keras.Input((image_size, image_size, 3), name=modality, dtype="uint8")
    x = keras.layers.Rescaling(1.0, name=f"{modality}_float")(inputs)
    for layer in _augmentation(modality, augment):
        x = layer(x)
    x = backbone(modality, cfg, image_size)(x)
    x = keras.layers.Dropout(cfg.dropout, name=f"{modality}_dropout")(x)
    x = keras.layers.Dense(cfg.head_units, activation="relu", name=f"{modality}_hidden")(x)
    head = keras.layers.Dense(N_CLASSES, activation="softmax", name=f"{modality}_head")(x)
    return inputs, head


def branch_model(
    modality: str,
    cfg: ModelConfig,
    image_size: int,
    augment: Mapping[str, Sequence[str]] | None = None,
) -> keras.Model:
    """One image modality alone, for pre-training."""
    inputs, head = branch_features(modality, cfg, image_size, (augment or {}).get(modality, ()))
    return keras.Model(inputs, head, name=f"pretrain_{modality}")
