"""Drawing one camera frame: skin, ulcers, and the planted per-modality signal.

RGB frames show the wound-bed colour (``appearance``); the depth map shows a crater whose
depth follows ``crater``; the thermal map shows a hot spot whose amplitude follows
``heat``. Nuisance: skin tone, lighting, position, size, tilt, sensor noise. Maps are
false-coloured with viridis, as the clinic's exports are. Away from the ulcers the skin
varies along the width only (every row alike) and carries no noise, so frames at the real
cameras' size compress to a few tens of kB and are quick to draw and write.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from matplotlib import colormaps

_VIRIDIS = (colormaps["viridis"](np.linspace(0, 1, 256))[:, :3] * 255).astype(np.uint8)
# Wound-bed colours along the appearance axis: slough (I) -> granulation (P) -> epithelial (R).
_WOUND_PATH = np.array([[205, 175, 90], [175, 45, 45], [235, 160, 165]], dtype=float)
# How much of each latent survives into one image (the rest is per-image noise).
RENDER_NOISE = 0.15
# Pixel noise is drawn where the squared normalised radius is below this (the ulcer fills
# radius 1): the ulcer and a rim of skin around it.
NOISY_R2 = 2.0


@dataclass(frozen=True)
class Ulcer:
    """An ulcer as one camera sees it: box in pixels and the latent values it shows."""

    box: tuple[int, int, int, int]  # xmin, ymin, xmax, ymax
    appearance: float
    heat: float
    crater: float


def wound_colour(appearance: float) -> np.ndarray:
    """A monotone path through three wound-bed colours."""
    t = 1.0 / (1.0 + np.exp(-1.2 * appearance))  # (0, 1)
    seg = min(int(t * 2), 1)
    frac = t * 2 - seg
    return _WOUND_PATH[seg] * (1 - frac) + _WOUND_PATH[seg + 1] * frac


def _window(shape: tuple[int, int], box: tuple[int, int, int, int]) -> tuple[slice, slice]:
    """The neighbourhood of a box (one box size around it): all that any crop can see."""
    h, w = shape
    x0, y0, x1, y1 = box
    bw, bh = x1 - x0, y1 - y0
    return slice(max(0, y0 - bh), min(h, y1 + bh)), slice(max(0, x0 - bw), min(w, x1 + bw))


def _radius2(window: tuple[slice, slice], box: tuple[int, int, int, int]) -> np.ndarray:
    """Squared normalised radius from the box centre over a window (< 1 inside the ulcer)."""
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    # The ellipse fills ~85% of the box: boxes are drawn around the ulcer with a margin.
    rx, ry = max((x1 - x0) * 0.42, 1), max((y1 - y0) * 0.42, 1)
    ys, xs = window
    yy, xx = np.ogrid[ys.start : ys.stop, xs.start : xs.stop]
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2


def render_rgb(shape, ulcers, skin, lighting, rng) -> np.ndarray:
    h, w = shape
    ramp = np.linspace(0.92, 1.08, w, dtype=np.float32)[:, None]
    row = np.clip(np.asarray(skin, np.float32) * lighting * ramp, 0, 255).astype(np.uint8)
    img = np.repeat(row[None], h, axis=0)  # smooth and flat away from the ulcers
    for u in ulcers:
        win = _window(shape, u.box)
        colour = wound_colour(u.appearance + rng.normal(0, RENDER_NOISE)) * lighting
        r2 = _radius2(win, u.box)[..., None]
        patch = np.where(r2 < 1.0, colour[None, None, :].astype(np.float32), img[win])
        # Mild sensor noise on and around the ulcer only: detail where crops look, and a
        # flat rest of the frame that keeps full-size PNGs small and quick to write.
        noise = rng.integers(-4, 5, size=patch.shape, dtype=np.int16) * (r2 < NOISY_R2)
        img[win] = np.clip(patch + noise, 0, 255).astype(np.uint8)
    return img


def render_depth_map(shape, ulcers, tilt, rng) -> np.ndarray:
    h, w = shape
    x = np.arange(w, dtype=np.float32) / w
    plane = (0.375 + tilt * (x - 0.5)).astype(np.float32)  # the skin: a tilted plane
    depth = np.repeat(plane[None], h, axis=0)
    windows = []
    for u in ulcers:
        win = _window(shape, u.box)
        amplitude = np.clip(0.3 + 0.1 * (u.crater + rng.normal(0, RENDER_NOISE)), 0.02, 0.6)
        r2 = _radius2(win, u.box)
        bowl = amplitude * np.clip(1.0 - r2, 0.0, None)
        depth[win] += bowl + rng.uniform(-0.01, 0.01, size=bowl.shape) * (r2 < NOISY_R2)
        windows.append(win)
    return _false_colour_windows(depth, plane, windows)


def render_thermal_map(shape, ulcers, base, rng) -> np.ndarray:
    h, w = shape
    x = np.arange(w, dtype=np.float32) / w
    skin = (base + 0.04 * np.sin(x * 3.0 + base * 10)).astype(np.float32)
    temp = np.repeat(skin[None], h, axis=0)
    windows = []
    for u in ulcers:
        win = _window(shape, u.box)
        amplitude = np.clip(0.3 + 0.1 * (u.heat + rng.normal(0, RENDER_NOISE)), 0.02, 0.6)
        # Heat spreads into the peri-ulcer skin: a wide spot, visible in the map's wide crop.
        r2 = _radius2(win, u.box)
        spot = amplitude * np.exp(-r2 / 4.0)
        temp[win] += spot + rng.uniform(-0.01, 0.01, size=spot.shape) * (r2 < NOISY_R2)
        windows.append(win)
    return _false_colour_windows(temp, skin, windows)


def _false_colour_windows(values: np.ndarray, row: np.ndarray, windows: list) -> np.ndarray:
    """``_false_colour(values)`` for a map equal to ``row`` on every line outside
    ``windows``: colour one row, repeat it, colour the windows (quick at full size)."""
    image = np.repeat(_false_colour(row)[None], len(values), axis=0)
    for win in windows:
        image[win] = _false_colour(values[win])
    return image


def _false_colour(values: np.ndarray) -> np.ndarray:
    """Fixed-range viridis, so the same physical value has the same colour in every frame."""
    idx = np.clip(values, 0.0, 1.0) * 255
    return _VIRIDIS[idx.astype(np.uint8)]
