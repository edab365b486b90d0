"""Crops: box maths for maps, aspect-preserving resize, zero padding, any PNG mode."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from dfu.constants import IMAGE_MODALITIES
from dfu.data.images import crop_square, load_crops, map_box, read_rgb

COLOUR = np.array([200, 120, 40], dtype=np.uint8)


def canvas(height: int, width: int, box: tuple[int, int, int, int]) -> np.ndarray:
    """Black image with ``box`` painted in COLOUR."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    xmin, ymin, xmax, ymax = box
    image[ymin:ymax, xmin:xmax] = COLOUR
    return image


def content_extent(crop: np.ndarray) -> tuple[int, int, int, int]:
    """(top, left, height, width) of the non-black region."""
    rows = np.flatnonzero(crop.any(axis=(1, 2)))
    cols = np.flatnonzero(crop.any(axis=(0, 2)))
    return rows[0], cols[0], rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1


@pytest.mark.parametrize("box_w, box_h", [(40, 20), (18, 54), (33, 33), (7, 300)])
@pytest.mark.parametrize("size", [16, 64])
def test_crop_keeps_aspect_ratio_and_pads_with_zeros(box_w, box_h, size):
    box = (13, 11, 13 + box_w, 11 + box_h)
    crop = crop_square(canvas(400, 300, box), box, size)
    assert crop.shape == (size, size, 3) and crop.dtype == np.uint8
    top, left, h, w = content_extent(crop)
    assert max(h, w) == size
    assert abs(w / h - box_w / box_h) <= max(1 / h, 1 / w) * (w / h) + 1e-9
    # Centred: equal padding on both sides, to a pixel.
    assert abs(top - (size - top - h)) <= 1 and abs(left - (size - left - w)) <= 1
    inside = crop[top : top + h, left : left + w]
    assert (inside == COLOUR).all()  # the box was all COLOUR: no border pixels leak in
    assert crop.sum() == inside.sum()  # everything else is exactly zero


def test_crop_of_an_empty_box_is_refused():
    with pytest.raises(ValueError, match="empty crop"):
        crop_square(np.zeros((10, 10, 3), np.uint8), (5, 5, 5, 8), 16)


def test_depth_map_box_widened_by_3_69_and_3_42():
    # Width 69 and height 42: 3 px each side; 138 x 84: 6 px each side.
    assert map_box((100, 100, 169, 142), "depth_map", (720, 1280, 3)) == (97, 97, 172, 145)
    assert map_box((100, 100, 238, 184), "depth_map", (720, 1280, 3)) == (94, 94, 244, 190)


def test_thermal_map_box_gets_30_px_each_side_and_everything_is_clipped():
    assert map_box((100, 200, 150, 260), "thermal_map", (1440, 1080)) == (70, 170, 180, 290)
    assert map_box((10, 5, 40, 1430), "thermal_map", (1440, 1080)) == (0, 0, 70, 1440)
    # 19x28 box: 19*3/69 = 0.83 px (rounds to 1) and 28*3/42 = 2 px each side; clipped right.
    assert map_box((1060, 5, 1079, 33), "depth_map", (720, 1080)) == (1059, 3, 1080, 35)


def test_rgb_frames_use_the_box_unchanged_and_unknown_modality_is_refused():
    assert map_box((1, 2, 30, 40), "depth_rgb", (720, 1280)) == (1, 2, 30, 40)
    assert map_box((1, 2, 30, 40), "thermal_rgb", (720, 1280)) == (1, 2, 30, 40)
    with pytest.raises(ValueError, match="metadata"):
        map_box((1, 2, 30, 40), "metadata", (720, 1280))


@pytest.mark.parametrize("mode", ["L", "P", "RGBA", "I;16", "LA"])
def test_any_png_mode_decodes_to_rgb_uint8(tmp_path, mode):
    grey = np.tile(np.arange(0, 250, 10, dtype=np.uint8), (6, 1))
    image = Image.fromarray(grey, "L")
    if mode == "I;16":
        image = Image.fromarray(grey.astype(np.uint16) * 257)
    elif mode != "L":
        image = image.convert(mode)
    assert image.mode == mode
    image.save(tmp_path / "x.png")
    rgb = read_rgb(tmp_path / "x.png")
    assert rgb.shape == (6, 25, 3) and rgb.dtype == np.uint8
    assert (rgb[..., 0] == rgb[..., 2]).all()
    assert np.abs(rgb[..., 0].astype(int) - grey).max() <= 1


def test_load_crops_uses_each_modalitys_box(tmp_path):
    """Frames are black with the ulcer box painted: RGB crops are all ulcer; map crops use
    the widened box, so the ulcer covers inner area / (longer widened side)^2 of the square."""
    boxes = {"depth": (40, 30, 109, 72), "thermal": (60, 80, 100, 130)}
    shapes = {"depth": (180, 320), "thermal": (360, 270)}
    row = {}
    for modality in IMAGE_MODALITIES:
        camera = modality.split("_")[0]
        row[f"{modality}_path"] = str(tmp_path / f"{modality}.png")
        Image.fromarray(canvas(*shapes[camera], boxes[camera])).save(row[f"{modality}_path"])
        for key, value in zip(("xmin", "ymin", "xmax", "ymax"), boxes[camera], strict=True):
            row[f"{camera}_{key}"] = value
    crops = load_crops(row, 64)
    assert set(crops) == set(IMAGE_MODALITIES)
    assert all(c.shape == (64, 64, 3) and c.dtype == np.uint8 for c in crops.values())
    for modality in ("depth_rgb", "thermal_rgb"):
        assert (crops[modality][crops[modality].any(axis=2)] == COLOUR).all()
        assert max(content_extent(crops[modality])[2:]) == 64
    # Depth: 69x42 box widened 3 px each side -> 75x48. Thermal: 40x50 + 30 px -> 100x110.
    for modality, inner, longest in (("depth_map", 69 * 42, 75), ("thermal_map", 40 * 50, 110)):
        painted = (crops[modality][..., 0] > COLOUR[0] / 2).mean()
        # Tolerance: one pixel row and column of the painted area are lost to resampling.
        assert painted == pytest.approx(inner / longest**2, abs=0.03), modality
