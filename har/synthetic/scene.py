"""Clutter around the drawn people: backgrounds, distractor shapes and hatched occluders."""

from __future__ import annotations

import cv2
import numpy as np

from har.synthetic.person import OCCLUDER, ONE, SHIFT, fixed_point, pick, randint, uniform


def draw_background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """Smooth colour blobs (a coarse random grid, upsampled) plus a tiled fine noise texture."""
    base = 40 + 180 * rng.random((randint(rng, 3, 12), randint(rng, 3, 12), 3))
    grey = base.mean(axis=2, keepdims=True)
    base = grey + (base - grey) * uniform(rng, 0.15, 0.6)  # muted colours, so the people stand out
    amp = randint(rng, 4, 25)
    base = np.clip(base - amp / 2, 0, 255)  # the noise below is non-negative: centre it
    img = cv2.resize(base.astype(np.uint8), (width, height), interpolation=cv2.INTER_LINEAR)
    tile = rng.integers(0, amp + 1, size=(32, 32, 3), dtype=np.uint8)
    noise = np.tile(tile, (height // 32 + 1, width // 32 + 1, 1))[:height, :width]
    return cv2.add(img, noise)


def muted_color(rng: np.random.Generator) -> tuple[int, int, int]:
    r, g, b = (255 * rng.random(3)).tolist()
    m = (r + g + b) / 3
    return int(0.5 * (r + m)), int(0.5 * (g + m)), int(0.5 * (b + m))


def draw_distractors(rng: np.random.Generator, image: np.ndarray) -> None:
    """Lines, polylines, circles, rectangles and ellipses in muted colours (clutter that is not a limb)."""
    h, w = image.shape[:2]
    for _ in range(randint(rng, 3, 13)):
        kind = randint(rng, 0, 5)
        color = muted_color(rng)
        p0, p1 = (randint(rng, 0, w), randint(rng, 0, h)), (randint(rng, 0, w), randint(rng, 0, h))
        if kind == 0:
            cv2.line(image, p0, p1, color, randint(rng, 1, 6), cv2.LINE_AA)
        elif kind == 1:
            poly = (rng.random((randint(rng, 3, 7), 2)) * (w, h)).astype(np.int32)
            cv2.polylines(image, [poly], rng.random() < 0.5, color, randint(rng, 1, 4), cv2.LINE_AA)
        elif kind == 2:
            radius = randint(rng, 4, max(5, min(h, w) // 6))
            thickness = pick(rng, (-1, 1, 2, 3), (0.4, 0.2, 0.2, 0.2))
            cv2.circle(image, p0, radius, color, thickness, cv2.LINE_AA)
        elif kind == 3:
            cv2.rectangle(image, p0, p1, color, pick(rng, (-1, 1, 2), (0.4, 0.3, 0.3)), cv2.LINE_AA)
        else:
            axes = (randint(rng, 4, max(5, w // 5)), randint(rng, 4, max(5, h // 5)))
            cv2.ellipse(image, p0, axes, uniform(rng, 0, 180), 0, 360, color, -1, cv2.LINE_AA)


def draw_occluder(rng: np.random.Generator, image: np.ndarray, top: np.ndarray, at: np.ndarray, size: float) -> None:
    """A hatched rectangle or ellipse near ``at``; marks its pixels in the top-layer map ``top``."""
    h, w = image.shape[:2]
    c = at + (rng.random(2) - 0.5) * 0.6 * size
    half = (0.35 + 0.4 * rng.random(2)) * size
    x0, y0 = (max(0, int(v)) for v in np.floor(c - half.max() - 1))
    x1, y1 = min(w, int(c[0] + half.max()) + 2), min(h, int(c[1] + half.max()) + 2)
    if x1 <= x0 or y1 <= y0:
        return
    c = c - (x0, y0)  # drawn in the occluder's own window of the image
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    if rng.random() < 0.5:
        p0, p1 = fixed_point((c - half).tolist()), fixed_point((c + half).tolist())
        cv2.rectangle(mask, p0, p1, 255, -1, cv2.LINE_8, SHIFT)
    else:
        ax = (int(half[0] * ONE), int(half[1] * ONE))
        cv2.ellipse(mask, fixed_point(c.tolist()), ax, uniform(rng, 0, 180), 0, 360, 255, -1, cv2.LINE_8, SHIFT)
    # Hatching, so an occluder is a texture rather than a flat limb-like blob.
    patch = np.empty((y1 - y0, x1 - x0, 3), np.uint8)
    patch[:] = muted_color(rng)
    step = randint(rng, 3, 8)
    patch[:, ::step] = muted_color(rng)
    if rng.random() < 0.5:
        patch[::step] = muted_color(rng)
    inside = mask > 0
    image[y0:y1, x0:x1][inside] = patch[inside]
    top[y0:y1, x0:x1][inside] = OCCLUDER
