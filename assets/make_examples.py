"""Draw the app's example images procedurally (our own work, CC0): ``python assets/make_examples.py``.

Simple shaded scenes with clear depth ordering, surfaces facing different ways, separable objects and human-like
figures, so every task has something to show. Deterministic: the same files every run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent / "examples"


def _vertical_gradient(width: int, height: int, top: tuple[int, int, int], bottom: tuple[int, int, int]) -> np.ndarray:
    t = np.linspace(0.0, 1.0, height)[:, None, None]  # [H, 1, 1]
    colours = (1 - t) * np.array(top, dtype=np.float64) + t * np.array(bottom, dtype=np.float64)
    return np.repeat(colours, width, axis=1)  # [H, W, 3]


def _shaded_sphere(canvas: np.ndarray, cx: float, cy: float, r: float, colour: tuple[int, int, int]) -> None:
    height, width = canvas.shape[:2]
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float64)
    dx, dy = (xx - cx) / r, (yy - cy) / r
    inside = dx**2 + dy**2 <= 1.0
    dz = np.sqrt(np.clip(1.0 - dx**2 - dy**2, 0.0, 1.0))
    light = np.array([-0.5, -0.6, 0.62])
    shade = np.clip(dx * light[0] + dy * light[1] + dz * light[2], 0.0, 1.0) * 0.8 + 0.2
    canvas[inside] = (np.array(colour, dtype=np.float64)[None, :] * shade[inside][:, None])


def _figure(draw: ImageDraw.ImageDraw, x: int, ground: int, size: int, colour: tuple[int, int, int]) -> None:
    """A person-like figure standing at ``x`` on ``ground``: head, torso, arms, legs."""
    head = size // 7
    top = ground - size
    draw.ellipse([x - head, top, x + head, top + 2 * head], fill=(224, 180, 150))
    torso_top, torso_bottom = top + 2 * head, top + int(size * 0.6)
    draw.rounded_rectangle([x - head, torso_top, x + head, torso_bottom], radius=head // 2, fill=colour)
    arm = max(3, head // 3)
    draw.line([x - head, torso_top + arm, x - 2 * head, torso_bottom - arm], fill=colour, width=arm)
    draw.line([x + head, torso_top + arm, x + 2 * head, torso_bottom - arm], fill=colour, width=arm)
    leg = max(4, head // 2)
    draw.line([x - head // 2, torso_bottom, x - head, ground], fill=(40, 40, 70), width=leg)
    draw.line([x + head // 2, torso_bottom, x + head, ground], fill=(40, 40, 70), width=leg)


def street(width: int = 768, height: int = 512) -> Image.Image:
    canvas = _vertical_gradient(width, height, (120, 170, 230), (215, 230, 245))
    horizon = int(height * 0.55)
    ground = _vertical_gradient(width, height - horizon, (150, 150, 145), (90, 90, 88))
    canvas[horizon:] = ground
    image = Image.fromarray(canvas.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    # Buildings receding towards the horizon.
    for i, (x0, w, h, c) in enumerate([(20, 150, 230, (170, 120, 100)), (190, 110, 170, (200, 190, 160)),
                                       (560, 180, 250, (120, 130, 160)), (470, 80, 120, (180, 160, 140))]):
        draw.rectangle([x0, horizon - h, x0 + w, horizon], fill=c)
        for wy in range(horizon - h + 15, horizon - 20, 30):
            for wx in range(x0 + 12, x0 + w - 20, 28):
                draw.rectangle([wx, wy, wx + 14, wy + 16], fill=(90 + 10 * i, 110, 140))
    # Road lines converging to a vanishing point.
    vx = width // 2
    for offset in (-0.9, 0.9):
        draw.line([vx, horizon, vx + offset * width, height], fill=(235, 235, 235), width=4)
    _figure(draw, 300, height - 40, 260, (200, 60, 60))
    _figure(draw, 470, height - 90, 170, (60, 120, 200))
    _figure(draw, 380, horizon + 60, 90, (60, 160, 90))
    return image.filter(ImageFilter.SMOOTH)


def tabletop(width: int = 640, height: int = 480) -> Image.Image:
    canvas = _vertical_gradient(width, height, (235, 228, 215), (200, 190, 175))
    table_top = int(height * 0.45)
    canvas[table_top:] = _vertical_gradient(width, height - table_top, (150, 105, 70), (110, 75, 50))
    _shaded_sphere(canvas, 190, 300, 90, (220, 70, 60))
    _shaded_sphere(canvas, 430, 330, 70, (70, 150, 220))
    _shaded_sphere(canvas, 320, 230, 45, (240, 200, 60))
    image = Image.fromarray(canvas.astype(np.uint8))
    draw = ImageDraw.Draw(image)
    # A box: front, top and side faces shaded differently (three surface orientations).
    draw.polygon([(480, 170), (590, 170), (590, 270), (480, 270)], fill=(90, 170, 100))
    draw.polygon([(480, 170), (510, 140), (620, 140), (590, 170)], fill=(140, 210, 150))
    draw.polygon([(590, 170), (620, 140), (620, 240), (590, 270)], fill=(60, 120, 70))
    return image.filter(ImageFilter.SMOOTH)


def corridor(width: int = 640, height: int = 640) -> Image.Image:
    image = Image.new("RGB", (width, height), (200, 200, 200))
    draw = ImageDraw.Draw(image)
    cx, cy, inner = width // 2, height // 2, 90
    box = (cx - inner, cy - inner, cx + inner, cy + inner)
    draw.polygon([(0, 0), (width, 0), (box[2], box[1]), (box[0], box[1])], fill=(235, 235, 240))  # ceiling
    draw.polygon([(0, height), (width, height), (box[2], box[3]), (box[0], box[3])], fill=(120, 95, 80))  # floor
    draw.polygon([(0, 0), (box[0], box[1]), (box[0], box[3]), (0, height)], fill=(170, 185, 200))  # left wall
    draw.polygon([(width, 0), (box[2], box[1]), (box[2], box[3]), (width, height)], fill=(150, 165, 180))
    draw.rectangle(box, fill=(250, 245, 220))  # the far end, bright
    for k in range(1, 6):  # floor tiles receding
        t = k / 6
        y = int(height + (box[3] - height) * t)
        x0 = int(0 + (box[0] - 0) * t)
        draw.line([x0, y, width - x0, y], fill=(90, 70, 60), width=2)
    _figure(draw, cx + 60, int(height * 0.82), 230, (150, 60, 160))
    return image.filter(ImageFilter.SMOOTH)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    street().save(OUT / "street.jpg", quality=90)
    tabletop().save(OUT / "tabletop.jpg", quality=90)
    corridor().save(OUT / "corridor.jpg", quality=90)


if __name__ == "__main__":
    main()
