"""The project's fixed vocabulary: classes, modalities, augmentations, probability columns.

Imports nothing from dfu: every layer may use these names.
"""

MODALITIES = ("metadata", "depth_rgb", "depth_map", "thermal_rgb", "thermal_map")
IMAGE_MODALITIES = MODALITIES[1:]
CLASSES = ("I", "P", "R")  # healing phases: inflammatory, proliferative, remodelling
AUGMENTATIONS = ("flip", "rotate", "brightness", "contrast")
# One probability column per class, in every predictions table (``p_I``, ``p_P``, ``p_R``).
PROBA_COLUMNS = [f"p_{c}" for c in CLASSES]
