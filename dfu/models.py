"""Model builders: an image branch per modality, fusion with learnable weights.

Every layer of a branch is named after its modality, so pre-trained branch weights move
into a fusion model by layer name. Each call builds fresh layers: no layer or model object
is ever shared between two built models (the clinic's old pipeline leaked weights through
a cached builder).

Layer names, for modality ``m``:
  ``m`` (input, uint8 HxWx3) -> ``m_backbone`` (nested model) -> ``m_dropout`` ->
  ``m_hidden`` -> ``m_output`` (pre-training head) or ``m_head`` (head inside a fusion).
The pre-training head ``m_output`` is never transferred: the fusion head starts fresh.
"""

from __future__ import annotations

import math

from dfu.combos import Combo, has_metadata, image_modalities
from dfu.config import CLASSES, ModelConfig
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
        features = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    else:
        features = _application(cfg, image_size)(x)
    return keras.Model(inputs, features, name=f"{modality}_backbone")


def _application(cfg: ModelConfig, image_size: int) -> keras.Model:
    """A keras.applications backbone by name; weights only from a local file, never downloaded."""
    builder = getattr(keras.applications, cfg.backbone, None)
    if builder is None:
        raise ValueError(
            f"model.backbone: {cfg.backbone!r} is neither 'small_cnn' nor a keras.applications model"
        )
    net = builder(
        include_top=False, weights=None, input_shape=(image_size, image_size, 3), pooling="avg"
    )
    if cfg.backbone_weights:
        net.load_weights(cfg.backbone_weights)
    return net


def _branch_features(modality: str, cfg: ModelConfig, image_size: int, augment: bool):
    inputs = keras.Input((image_size, image_size, 3), name=modality, dtype="uint8")
    x = inputs
    if augment:
        # Angle and side vary in the clinic's photos; flips are free, label-preserving variety.
        x = keras.layers.RandomFlip("horizontal_and_vertical", name=f"{modality}_flip")(x)
    x = backbone(modality, cfg, image_size)(x)
    x = keras.layers.Dropout(cfg.dropout, name=f"{modality}_dropout")(x)
    x = keras.layers.Dense(cfg.head_units, activation="relu", name=f"{modality}_hidden")(x)
    return inputs, x


def branch_model(
    modality: str, cfg: ModelConfig, image_size: int, augment: bool = True
) -> keras.Model:
    """One image modality alone, for pre-training."""
    inputs, x = _branch_features(modality, cfg, image_size, augment)
    out = keras.layers.Dense(N_CLASSES, activation="softmax", name=f"{modality}_output")(x)
    return keras.Model(inputs, out, name=f"pretrain_{modality}")


class BranchWeights(keras.layers.Layer):
    """Learnable softmax weights over several image branches' outputs (probabilities or logs)."""

    def build(self, input_shape):
        self.logits = self.add_weight("logits", shape=(len(input_shape),), initializer="zeros")

    def call(self, branches):
        w = tf.nn.softmax(self.logits)
        return tf.add_n([w[i] * b for i, b in enumerate(branches)])


class MetadataFusion(keras.layers.Layer):
    """w * metadata + (1 - w) * images, with w = sigmoid(learnable logit), initially 0.70.

    Learnable rather than fixed so the gradient reaching the image heads is not scaled by a
    constant 0.30 (seed analysis RC5). Applied to probabilities (``linear``) or to
    log-probabilities (``log``).
    """

    def __init__(self, init_metadata: float = 0.7, **kwargs):
        super().__init__(**kwargs)
        self.init_metadata = init_metadata

    def build(self, input_shape):
        logit = math.log(self.init_metadata / (1 - self.init_metadata))
        self.logit = self.add_weight(
            "logit", shape=(), initializer=keras.initializers.Constant(logit)
        )

    def call(self, inputs):
        metadata, images = inputs
        w = tf.sigmoid(self.logit)
        return w * metadata + (1.0 - w) * images

    def metadata_weight(self) -> float:
        return float(tf.sigmoid(self.logit).numpy())

    def get_config(self):
        return {**super().get_config(), "init_metadata": self.init_metadata}


class LogPool(keras.layers.Layer):
    """softmax(scale * pooled log-probabilities + bias): a product of experts.

    Independent sources of evidence combine by multiplying their posteriors and dividing
    out the prior each one carries. Averaging probabilities instead loses most of it: on
    the demo's exact per-modality posteriors, 0.7/0.3 averaging reaches kappa 0.28 where
    the product reaches 0.66. ``scale`` lets the pooled weights (which sum to 1) act like a
    product; ``bias`` removes the repeated prior.
    """

    def build(self, input_shape):
        self.log_scale = self.add_weight("log_scale", shape=(), initializer="zeros")
        self.bias = self.add_weight("bias", shape=(input_shape[-1],), initializer="zeros")

    def call(self, pooled_log_probs):
        return tf.nn.softmax(tf.exp(self.log_scale) * pooled_log_probs + self.bias)


def _log(x):
    return keras.layers.Lambda(lambda p: tf.math.log(tf.clip_by_value(p, 1e-7, 1.0)))(x)


def combo_model(
    combo: Combo, cfg: ModelConfig, image_size: int, augment: bool = True
) -> keras.Model:
    """The model of a combination with at least one image modality."""
    images = image_modalities(combo)
    if not images:
        raise ValueError(f"{'+'.join(combo)} has no image modality: it needs no Keras model")
    inputs, probs = [], []
    for m in images:
        inp, x = _branch_features(m, cfg, image_size, augment)
        inputs.append(inp)
        probs.append(keras.layers.Dense(N_CLASSES, activation="softmax", name=f"{m}_head")(x))
    meta = keras.Input((N_CLASSES,), name=METADATA_INPUT) if has_metadata(combo) else None
    if meta is not None:
        inputs.insert(0, meta)
    if len(probs) == 1 and meta is None:
        out = keras.layers.Activation("linear", name="fusion")(probs[0])
    elif cfg.fusion == "linear" and meta is None:
        out = BranchWeights(name="fusion")(probs)
    elif cfg.fusion == "linear":
        pooled = probs[0] if len(probs) == 1 else BranchWeights(name="image_weights")(probs)
        out = MetadataFusion(cfg.fusion_init_metadata, name="fusion")([meta, pooled])
    else:
        logs = [_log(p) for p in probs]
        pooled = logs[0] if len(logs) == 1 else BranchWeights(name="image_weights")(logs)
        if meta is not None:
            pooled = MetadataFusion(cfg.fusion_init_metadata, name="metadata_fusion")(
                [_log(meta), pooled]
            )
        out = LogPool(name="fusion")(pooled)
    return keras.Model(inputs, out, name="fusion_" + "_".join(combo))


def input_names(combo: Combo) -> list[str]:
    """The dataset columns a combination's model reads."""
    return ([METADATA_INPUT] if has_metadata(combo) else []) + list(image_modalities(combo))


def transfer_branch(source: keras.Model, target: keras.Model, modality: str) -> list[str]:
    """Copy a pre-trained branch into a fusion model by layer name; returns the names copied."""
    copied = []
    for layer in source.layers:
        if not layer.name.startswith(f"{modality}_") or layer.name == f"{modality}_output":
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


def set_branches_trainable(model: keras.Model, modalities, trainable: bool, hidden: bool = False) -> None:
    """Freeze or unfreeze the backbones (feature extractors) of the given branches, and their
    hidden layers too when ``hidden``."""
    for m in modalities:
        model.get_layer(f"{m}_backbone").trainable = trainable
        if hidden:
            model.get_layer(f"{m}_hidden").trainable = trainable


def trainable_parameters(model: keras.Model) -> int:
    return int(sum(int(tf.size(w)) for w in model.trainable_weights))
