"""Fusion of a combination's sources (metadata probabilities, image branches) with learnable
weights, and the helpers that move and freeze branches inside a fusion model.

The fusion (``SourceWeights``) gives each source one non-negative weight:
``softmax(sum_m w_m log p_m + b)``, a weighted product of experts. A source that does not help
can weigh exactly 0, so a fusion need never be worse than its best member;
``dfu.training.fusion_fit`` fits the weights on held-out rows after training. Transfer copies
a pre-trained branch by layer name, head included, so each fusion starts from its experts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from dfu.combos import Combo, has_metadata, image_modalities
from dfu.config import ModelConfig
from dfu.keras_setup import keras, tf
from dfu.models.branches import N_CLASSES, branch_features

METADATA_INPUT = "metadata"


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
        self.w = self.add_weight(
            "source_weights",
            shape=(len(self.sources),),
            initializer=keras.initializers.Constant(self.init),
            constraint=keras.constraints.NonNeg(),
        )
        self.bias = self.add_weight("class_bias", shape=(N_CLASSES,), initializer="zeros")

    def call(self, probabilities):
        p = tf.clip_by_value(
            tf.stack(probabilities, axis=1), 1e-7, 1.0
        )  # (batch, sources, classes)
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
        return {
            **super().get_config(),
            "sources": self.sources,
            "init": self.init,
            "mode": self.mode,
        }


def initial_weights(sources: Sequence[str], cfg: ModelConfig) -> list[float]:
    """Metadata ``fusion_init_metadata`` (0.70), the rest shared equally by the image branches."""
    images = [s for s in sources if s != METADATA_INPUT]
    if len(images) == len(sources):
        return [1.0 / len(images)] * len(images)
    share = (1.0 - cfg.fusion_init_metadata) / len(images)
    return [cfg.fusion_init_metadata if s == METADATA_INPUT else share for s in sources]


def combo_model(
    combo: Combo,
    cfg: ModelConfig,
    image_size: int,
    augment: Mapping[str, Sequence[str]] | None = None,
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
        inp, head = branch_features(m, cfg, image_size, (augment or {}).get(m, ()))
        inputs.append(inp)
        heads.append(head)
    sources = input_names(combo)
    if len(heads) == 1:
        out = keras.layers.Activation("linear", name="fusion")(heads[0])
    else:
        out = SourceWeights(sources, initial_weights(sources, cfg), cfg.fusion, name="fusion")(
            heads
        )
    return keras.Model(inputs, out, name="fusion_" + "_".join(combo))


def fusion_layer(model: keras.Model) -> SourceWeights | None:
    layer = model.get_layer("fusion")
    return layer if isinstance(layer, SourceWeights) else None


def source_outputs(model: keras.Model, combo: Combo) -> keras.Model:
    """A view of ``model`` that outputs each source's probabilities (metadata input, heads)."""
    outputs = [
        model.get_layer(s).output if s == METADATA_INPUT else model.get_layer(f"{s}_head").output
        for s in input_names(combo)
    ]
    return keras.Model(model.inputs, outputs)


def input_names(combo: Combo) -> list[str]:
    """The dataset columns a combination's model reads."""
    return ([METADATA_INPUT] if has_metadata(combo) else []) + list(image_modalities(combo))


def transfer_branch(source: keras.Model | Path, target: keras.Model, modality: str) -> list[str]:
    """Copy a pre-trained branch (backbone, hidden layer, head) into a fusion model by layer
    name, from the branch model or from its saved weights (``dfu.runs.branches``: Keras loads
    them by name, without building the branch model again); returns the names copied."""
    saved = isinstance(source, (str, Path))
    copied = saved_layers(source) if saved else [x.name for x in source.layers if x.weights]
    foreign = [name for name in copied if not name.startswith(f"{modality}_")]
    if saved and foreign:  # loading by name would overwrite the fusion's own layers
        raise RuntimeError(f"transfer of {modality}: {source} holds other layers: {foreign}")
    copied = [name for name in copied if name not in foreign]
    if f"{modality}_backbone" not in copied:
        raise RuntimeError(
            f"transfer of {modality}: backbone weights not found in the pre-trained model"
        )
    if saved:
        target.load_weights(str(source), by_name=True)
    else:
        for name in copied:
            target.get_layer(name).set_weights(source.get_layer(name).get_weights())
    return copied


def saved_layers(weights_file: str | Path) -> list[str]:
    """The layers with weights in a Keras HDF5 weights file (``save_weights(save_format="h5")``)."""
    import h5py

    with h5py.File(weights_file, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f.attrs["layer_names"]]
        return [n for n in names if len(f[n].attrs["weight_names"])]


def set_branches_trainable(
    model: keras.Model, modalities, trainable: bool, hidden: bool = False, fraction: float = 1.0
) -> None:
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
