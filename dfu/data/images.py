"""Image preparation: decode, crop the ulcer box, resize keeping aspect, zero-pad to a square.

Boxes are ``(xmin, ymin, xmax, ymax)`` in pixels with ``xmax``/``ymax`` exclusive (Python
slicing). Maps are cropped with their camera's box, corrected for the field-of-view
mismatch between a camera's RGB frame and its map (``map_box``). Only numpy and Pillow
here: worker processes import this module, and it must stay quick to import.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from dfu.constants import IMAGE_MODALITIES
from dfu.data.schema import DEPTH_MAP_WIDEN, MODALITY_FOLDERS, THERMAL_MAP_MARGIN_PX

Box = tuple[int, int, int, int]


def read_rgb(path: str | Path) -> np.ndarray:
    """Decode any PNG mode (palette, grey, 16-bit, alpha) to an HxWx3 uint8 array.

    Alpha is dropped; 16-bit grey is scaled to 8 bits (divided by 257)."""
    with Image.open(path) as img:
        img.load()
        if img.mode.startswith("I"):
            # 16-bit grey PNG ("I;16", or "I" in older Pillow): convert("RGB") would clip it.
            # Divide by 257 for every image alike, so one value keeps one grey level.
            grey = np.asarray(img, dtype=np.float64) / 257
            img = Image.fromarray(np.clip(grey.round(), 0, 255).astype(np.uint8))
        return np.asarray(img.convert("RGB"), dtype=np.uint8)


def map_box(box: Box, modality: str, image_shape: tuple[int, ...]) -> Box:
    """The box to crop ``modality`` with, given its camera's box, clipped to the image.

    The depth map covers a slightly different field of view than the depth RGB frame, so
    its box is widened by 3/69 of the box width and 3/42 of its height on each side; the
    thermal map box gets ``THERMAL_MAP_MARGIN_PX`` on each side. RGB frames use the box as is.
    """
    xmin, ymin, xmax, ymax = (int(v) for v in box)
    if modality == "depth_map":
        dx, dy = (xmax - xmin) * DEPTH_MAP_WIDEN[0], (ymax - ymin) * DEPTH_MAP_WIDEN[1]
    elif modality == "thermal_map":
        dx = dy = THERMAL_MAP_MARGIN_PX
    elif modality in ("depth_rgb", "thermal_rgb"):
        dx = dy = 0
    else:
        raise ValueError(f"unknown image modality {modality!r}; known: {IMAGE_MODALITIES}")
    height, width = image_shape[:2]
    return (
        max(0, round(xmin - dx)),
        max(0, round(ymin - dy)),
        min(width, round(xmax + dx)),
        min(height, round(ymax + dy)),
    )


def crop_square(image: np.ndarray, box: Box, size: int) -> np.ndarray:
    """Crop ``box``, resize so its longer side is ``size`` (aspect kept), centre it on a
    zero (black) square of ``size`` x ``size``. Returns uint8 (size, size, 3)."""
    xmin, ymin, xmax, ymax = (int(v) for v in box)
    crop = image[ymin:ymax, xmin:xmax]
    h, w = crop.shape[:2]
    if h == 0 or w == 0:
        raise ValueError(f"empty crop: box {box} on an image of shape {image.shape}")
    scale = size / max(h, w)
    new_w, new_h = max(1, round(w * scale)), max(1, round(h * scale))
    resized = Image.fromarray(np.ascontiguousarray(crop)).resize(
        (new_w, new_h), Image.Resampling.BILINEAR
    )
    out = np.zeros((size, size, 3), dtype=np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    out[top : top + new_h, left : left + new_w] = np.asarray(resized, dtype=np.uint8)
    return out


def load_crops(
    row: Mapping[str, Any], size: int, modalities: tuple[str, ...] = IMAGE_MODALITIES
) -> dict[str, np.ndarray]:
    """The square crops of one image set (a row of ``ZivotData.image_sets``), per modality."""
    crops = {}
    for modality in modalities:
        camera = "depth" if MODALITY_FOLDERS[modality][1] == "D" else "thermal"
        image = read_rgb(row[f"{modality}_path"])
        box = tuple(int(row[f"{camera}_{k}"]) for k in ("xmin", "ymin", "xmax", "ymax"))
        crops[modality] = crop_square(image, map_box(box, modality, image.shape), size)
    return crops


def inspect_png(path: str, decode: bool = True) -> tuple[int, int] | str:
    """``(width, height)`` from the PNG header, or the reason the file is unusable.

    With ``decode`` the whole image is decoded, which catches truncated and corrupt
    files; without it only the header is read (fast, but a truncated file passes).
    """
    try:
        with Image.open(path) as img:
            size = img.size
            if decode:
                img.load()
        return size
    except Exception as err:  # noqa: BLE001 - any decoder failure means "unusable file"
        return f"cannot decode: {type(err).__name__}: {err}"
