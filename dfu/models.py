"""Model builders: an image branch per modality, fusion with learnable weights.

Every layer of a branch is named after its modality, so pre-trained branch weights move
into a fusion model by layer name. Each call builds fresh layers: no layer or model object
is ever shared between two built models (the clinic's old pipeline leaked weights through
a cached builder).

Layer names, for modality ``m``:
  ``m`` (input, uint8 HxWx3) -> ``m_float`` -> augmentation (``m_flip``, ``m_rotate``, ...) ->
  ``m_backbone`` (nested model) -> ``m_dropout`` -> ``m_hidden`` -> ``m_head`` (softmax).
The same names in the pre-training model and in every fusion model: transfer copies the whole
branch, head included, so each fusion starts from its pre-trained experts (a fresh head
re-learned under the fusion's class weights lost part of what pre-training found).

The fusion (``SourceWeights``) gives each source (metadata, each image branch) one
non-negative weight: ``softmax(sum_m w_m log p_m + b)``, a weighted product of experts. A
source that does not help can weigh exactly 0, so a fusion need never be worse than its best
member; ``dfu.fusion_fit`` fits the weights on held-out rows after training.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np

from dfu.combos import Combo, has_metadata, image_modalities
from dfu.config import AUGMENTATIONS, CLASSES, ModelConfig
from dfu.keras_setup import keras, tf

N_CLASSES = len(CLASSES)
METADATA_INPUT = "metadata"


def backbone(modality: str, cfg: ModelConfig, image_size: int) -> keras.Model:
    """Image -> feature vector, as one nested model named ``<modality>_backbone``."""
    inputs = keras.Input((image_size, image_size, 3), name=f"{modality}_pixels")
    x = keras.layers.Rescaling(1.0, name="to_float")(inputs)  # uint8 -> float32
    if cfg.backbone == "small_cnn":
        x = keras.layers.Rescaling(1.0 / 255)(x)
        for i, filters in enumerate(cfg.filters):
            x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{i}")(x)
            # momentum 0.9: with ~20 steps per epoch the default 0.99 leaves inference statistics
            # far from the data for many epochs, and inner-val predictions collapse to one class.
            x = keras.layers.BatchNormalization(momentum=0.9, name=f"bn{i}")(x)
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
        # Any angle: crops are zero-padded squares, so the corners fill with the same zeros.
        "rotate": lambda: keras.layers.RandomRotation(
            0.5, fill_mode="constant", name=f"{modality}_rotate"
        ),
        "brightness": lambda: keras.layers.RandomBrightness(
            0.1, value_range=(0, 255), name=f"{modality}_brightness"
        ),
        "contrast": lambda: keras.layers.RandomContrast(0.1, name=f"{modality}_contrast"),
    }
    assert set(layers) == set(AUGMENTATIONS), "dfu.config.AUGMENTATIONS and these must agree"
    return [layers[n]() for n in names]


def _branch_features(modality: str, cfg: ModelConfig, image_size: int, augment: Sequence[str]):
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
    modality: str, cfg: ModelConfig, image_size: int, augment: Mapping[str, Sequence[str]] | None = None
) -> keras.Model:
    """One image modality alone, for pre-training."""
    inputs, head = _branch_features(modality, cfg, image_size, (augment or {}).get(modality, ()))
    return keras.Model(inputs, head, name=f"pretrain_{modality}")


class SourceWeights(keras.layers.Layer):
    """The fusion layer: one non-negative weight per source and a bias per class.

    ``log`` (default): ``softmax(sum_m w_m log p_m + b)``, a weighted product of experts.
    Independent sources of evidence combine by multiplying their posteriors and dividing out
    the prior each one repeats (``b``); averaging probabilities loses most of it (on the
    demo's exact per-modality posteriors, 0.7/0.3 averaging reaches kappa 0.28 where the
    product reaches 0.66). ``linear``: the clinic's original design, ``sum_m w_m p_m /
    sum_m w_m`` (then ``b``). Weights start at ``init`` (metadata 0.70, images 0.30 shared)
    and are learnable: the initialisation is not a floor, and ``NonNeg`` lets a useless source
    reach exactly 0 (no constant scales the gradient reaching a branch; seed analysis RC5).
    """

    def __init__(self, sources: Sequence[str], init: Sequence[float], mode: str = "log", **kwargs):
        super().__init__(**kwargs)
        self.sources, self.init, self.mode = list(sources), [float(v) for v in init], mode

    def build(self, input_shape):
        self.w = self.add_weight("source_weights", shape=(len(self.sources),),
                                 initializer=keras.initializers.Constant(self.init),
                                 constraint=keras.constraints.NonNeg())  # fmt: skip
        self.bias = self.add_weight("class_bias", shape=(N_CLASSES,), initializer="zeros")

    def call(self, probabilities):
        p = tf.clip_by_value(tf.stack(probabilities, axis=1), 1e-7, 1.0)  # (batch, sources, classes)
        w = self.w[None, :, None]
        if self.mode == "log":
            z = tf.reduce_sum(w * tf.math.log(p), axis=1)
        else:
            mean = tf.reduce_sum(w * p, axis=1) / tf.maximum(tf.reduce_sum(self.w), 1e-7)
            z = tf.math.log(tf.maximum(mean, 1e-7))
        return tf.nn.softmax(z + self.bias)

    def by_source(self) -> dict[str, float]:
        return {s: float(v) for s, v in zip(self.sources, self.w.numpy(), strict=True)}

    def get_config(self):
        return {**super().get_config(), "sources": self.sources, "init": self.init,
                "mode": self.mode}  # fmt: skip


def initial_weights(sources: Sequence[str], cfg: ModelConfig) -> list[float]:
    """Metadata ``fusion_init_metadata`` (0.70), the rest shared equally by the image branches."""
    images = [s for s in sources if s != METADATA_INPUT]
    if len(images) == len(sources):
        return [1.0 / len(images)] * len(images)
    share = (1.0 - cfg.fusion_init_metadata) / len(images)
    return [cfg.fusion_init_metadata if s == METADATA_INPUT else share for s in sources]


def combo_model(
    combo: Combo, cfg: ModelConfig, image_size: int, augment: Mapping[str, Sequence[str]] | None = None
) -> keras.Model:
    """The model of a combination with at least one image modality."""
    images = image_modalities(combo)
    if not images:
        raise ValueError(f"{'+'.join(combo)} has no image modality: it needs no Keras model")
    inputs, heads = [], []
    if has_metadata(combo):
        meta = keras.Input((N_CLASSES,), name=METADATA_INPUT)
        inputs.append(meta)
        heads.append(meta)
    for m in images:
        inp, head = _branch_features(m, cfg, image_size, (augment or {}).get(m, ()))
        inputs.append(inp)
        heads.append(head)
    sources = input_names(combo)
    if len(heads) == 1:
        out = keras.layers.Activation("linear", name="fusion")(heads[0])
    else:
        out = SourceWeights(sources, initial_weights(sources, cfg), cfg.fusion, name="fusion")(heads)
    return keras.Model(inputs, out, name="fusion_" + "_".join(combo))


def fusion_layer(model: keras.Model) -> SourceWeights | None:
    layer = model.get_layer("fusion")
    return layer if isinstance(layer, SourceWeights) else None


def source_outputs(model: keras.Model, combo: Combo) -> keras.Model:
    """A view of ``model`` that outputs each source's probabilities (metadata input, heads)."""
    outputs = [model.get_layer(s).output if s == METADATA_INPUT else model.get_layer(f"{s}_head").output
               for s in input_names(combo)]  # fmt: skip
    return keras.Model(model.inputs, outputs)


def input_names(combo: Combo) -> list[str]:
    """The dataset columns a combination's model reads."""
    return ([METADATA_INPUT] if has_metadata(combo) else []) + list(image_modalities(combo))


def transfer_branch(source: keras.Model, target: keras.Model, modality: str) -> list[str]:
    """Copy a pre-trained branch (backbone, hidden layer, head) into a fusion model by layer
    name; returns the names copied."""
    copied = []
    for layer in source.layers:
        if not layer.name.startswith(f"{modality}_"):
            continue
        if not layer.weights:
            continue
        target.get_layer(layer.name).set_weights(layer.get_weights())
        copied.append(layer.name)
    if f"{modality}_backbone" not in copied:
        raise RuntimeError(
            f"transfer of {modality}: backbone weights not found in the pre-trained model"
        )
    return copied


def set_branches_trainable(model: keras.Model, modalities, trainable: bool, hidden: bool = False,
                           fraction: float = 1.0) -> None:  # fmt: skip
    """Freeze or unfreeze the backbones (feature extractors) of the given branches, and their
    hidden layers too when ``hidden``. Unfreezing with ``fraction`` < 1 unfreezes only the top
    ``ceil(fraction * n)`` of a backbone's ``n`` layers with weights (counted from its output
    end); the rest stay frozen."""
    for m in modalities:
        net = model.get_layer(f"{m}_backbone")
        net.trainable = trainable
        if trainable and fraction < 1:
            layers = weighted_layers(net)
            for layer in layers[: len(layers) - math.ceil(round(fraction * len(layers), 9))]:
                layer.trainable = False
        if hidden:
            model.get_layer(f"{m}_hidden").trainable = trainable


def weighted_layers(net: keras.Model) -> list:
    """A model's layers that hold weights, nested models flattened, from the input end."""
    found = []
    for layer in net.layers:
        if isinstance(layer, keras.Model):
            found += weighted_layers(layer)
        elif layer.weights:
            found.append(layer)
    return found


def trainable_parameters(model: keras.Model) -> int:
    return int(sum(int(tf.size(w)) for w in model.trainable_weights))
