"""Procedural 64x64 face renderer of the bundled sentiment data set (dataset, issue 4).

A face is drawn with Pillow at 2x resolution (128x128) and downsampled, so edges
are smooth. What it shows is decided by two parameter sets:

* **identity** (fixed per speaker): skin tone, face shape, eye spacing and colour,
  hair colour and style, glasses;
* **expression and capture** (per utterance): ``expr`` (the face's own noisy view
  of the latent sentiment, about -3..3), head pose (roll, yaw, shift, scale),
  lighting (direction, strength, colour cast), background, and an optional
  occlusion (mask, hand, microphone, sunglasses).

Expression mapping: a positive ``expr`` curves the mouth corners up, opens a
smile (teeth) for strong values, raises the brows and narrows the eyes
(a Duchenne squint); a negative one turns the corners down, lowers and tilts the
brows inwards and droops the upper lids. Only ``numpy`` and ``Pillow`` are
used; the output depends only on the parameters (no hidden randomness).
"""
from __future__ import annotations

import io
import math
from typing import Any

import numpy as np

SIZE = 64
_S = 2 * SIZE  # drawing resolution

#: Skin tones, light to dark (roughly Fitzpatrick I-VI), as RGB.
SKIN_TONES: tuple[tuple[int, int, int], ...] = (
    (246, 216, 196), (234, 190, 158), (214, 164, 120),
    (178, 124, 86), (130, 86, 58), (88, 58, 40),
)
HAIR_COLOURS: tuple[tuple[int, int, int], ...] = (
    (30, 24, 20), (70, 45, 25), (120, 80, 40), (200, 160, 90), (150, 150, 150), (160, 60, 30),
)
EYE_COLOURS: tuple[tuple[int, int, int], ...] = (
    (60, 40, 25), (40, 90, 140), (70, 110, 60), (90, 70, 40),
)
#: Partial occlusions hide part of the expression; "dark" (camera in a dark room: a
#: nearly black, grainy picture) and "out_of_frame" (only the top of the head is in
#: the picture) hide all of it: the face modality is effectively missing.
OCCLUSIONS: tuple[str, ...] = ("none", "mask", "hand", "microphone", "sunglasses", "dark", "out_of_frame")


def _bezier(p0: tuple[float, float], p1: tuple[float, float], p2: tuple[float, float], n: int = 16) -> list[tuple[float, float]]:
    t = np.linspace(0.0, 1.0, n)
    x = (1 - t) ** 2 * p0[0] + 2 * (1 - t) * t * p1[0] + t**2 * p2[0]
    y = (1 - t) ** 2 * p0[1] + 2 * (1 - t) * t * p1[1] + t**2 * p2[1]
    return list(zip(x.tolist(), y.tolist()))


def _shade(rgb: tuple[int, int, int], f: float) -> tuple[int, int, int]:
    return tuple(int(max(0, min(255, round(c * f)))) for c in rgb)  # type: ignore[return-value]


def render_face(identity: dict[str, Any], item: dict[str, Any]) -> "np.ndarray":
    """Render one face as a ``(64, 64, 3)`` uint8 array (dataset, issue 4).

    ``identity`` keys: ``skin`` (index into :data:`SKIN_TONES`), ``face_w``,
    ``face_h``, ``eye_gap``, ``eye_colour``, ``hair_colour``, ``hair_style``
    (0 short, 1 long, 2 bald), ``glasses`` (bool).
    ``item`` keys: ``expr``, ``roll``, ``yaw``, ``dx``, ``dy``, ``scale``,
    ``light_angle``, ``light_strength``, ``brightness``, ``cast``, ``bg``
    (RGB tuple), ``occlusion`` (one of :data:`OCCLUSIONS`), ``occ_shift`` and
    ``grain_seed`` (seeds the sensor noise of a dark picture).
    """
    from PIL import Image, ImageDraw

    e = float(np.clip(item["expr"], -3.5, 3.5)) / 3.0  # about -1..1
    skin = SKIN_TONES[identity["skin"]]
    dark = _shade(skin, 0.55)
    hair = HAIR_COLOURS[identity["hair_colour"]]
    cx, cy = _S / 2, _S / 2 + 4
    fw, fh = identity["face_w"], identity["face_h"]
    yaw = float(item["yaw"])  # -1..1, shifts the features sideways
    fx = cx + 7.0 * yaw  # centre line of the features

    layer = Image.new("RGBA", (_S, _S), (0, 0, 0, 0))
    d = ImageDraw.Draw(layer)

    # hair behind the head, neck, ears, head
    if identity["hair_style"] == 1:
        d.ellipse([cx - fw - 8, cy - fh - 6, cx + fw + 8, cy + fh * 0.6], fill=hair + (255,))
    d.rectangle([cx - fw * 0.45, cy + fh * 0.6, cx + fw * 0.45, _S], fill=_shade(skin, 0.85) + (255,))
    for side in (-1, 1):
        ex = cx + side * (fw - 2 - 3 * side * yaw)
        d.ellipse([ex - 6, cy - 8, ex + 6, cy + 10], fill=_shade(skin, 0.92) + (255,))
    d.ellipse([cx - fw, cy - fh, cx + fw, cy + fh], fill=skin + (255,))
    if identity["hair_style"] in (0, 1):
        d.chord([cx - fw - 1, cy - fh - 4, cx + fw + 1, cy + fh * 0.2], 180, 360, fill=hair + (255,))
        d.ellipse([cx - fw * 0.8, cy - fh * 0.78, cx + fw * 0.8, cy - fh * 0.2], fill=skin + (255,))

    # cheeks: a flush for positive expressions, a grey pallor under the eyes for negative ones
    # (drawn on an overlay and alpha-blended, so the face stays opaque)
    if abs(e) > 0.1:
        overlay = Image.new("RGBA", (_S, _S), (0, 0, 0, 0))
        od = ImageDraw.Draw(overlay)
        for side in (-1, 1):
            if e > 0:
                x0 = fx + side * (identity["eye_gap"] + 5)
                od.ellipse([x0 - 9, cy + 4, x0 + 9, cy + 14], fill=(235, 80, 95, int(170 * min(1.0, e))))
            else:
                x0 = fx + side * identity["eye_gap"]
                od.ellipse([x0 - 9, cy - 5, x0 + 9, cy + 1], fill=(60, 60, 80, int(140 * min(1.0, -e))))
        layer = Image.alpha_composite(layer, overlay)
        d = ImageDraw.Draw(layer)

    # eyes: openness falls with a smile (squint) and with sadness (droopy lids)
    gap = identity["eye_gap"]
    ey = cy - 8
    open_ = 1.0 - 0.45 * max(e, 0.0) - 0.35 * max(-e, 0.0)
    iris = EYE_COLOURS[identity["eye_colour"]]
    brow_rgb = _shade(hair, 0.6) if sum(hair) < 360 else (70, 55, 40)
    for side in (-1, 1):
        x0 = fx + side * gap
        w, h = 7.5, 5.0 * open_ + 0.8
        d.ellipse([x0 - w, ey - h, x0 + w, ey + h], fill=(245, 245, 240, 255))
        d.ellipse([x0 - 3.6 + yaw * 2, ey - min(3.6, h), x0 + 3.6 + yaw * 2, ey + min(3.6, h)], fill=iris + (255,))
        d.ellipse([x0 - 1.6 + yaw * 2, ey - min(1.6, h), x0 + 1.6 + yaw * 2, ey + min(1.6, h)], fill=(10, 10, 10, 255))
        d.arc([x0 - w, ey - h, x0 + w, ey + h], 180, 360, fill=dark + (255,), width=2)

        # brows: raised and arched for positive, lowered and tilted inwards (frown) for negative
        by = ey - 12 - 4.0 * max(e, 0.0) + 2.0 * max(-e, 0.0)
        inner = 5.0 * max(-e, 0.0)  # inner end drops
        d.line([(x0 - side * 9, by + inner), (x0, by - 2.0 * max(e, 0.0)), (x0 + side * 10, by + 1.0)],
               fill=brow_rgb + (255,), width=4, joint="curve")

    # nose
    d.line([(fx + 1, cy - 2), (fx + 3 + 2 * yaw, cy + 10), (fx - 2, cy + 11)], fill=dark + (255,), width=2)

    # mouth: corners move up (smile) or down (frown); smiles open with teeth
    my = cy + 25
    half = 13.0 + 4.0 * max(e, 0.0)
    lift = 14.0 * e  # corner height relative to the middle
    gape = 9.0 * max(e - 0.25, 0.0) + 3.0 * max(-e - 0.6, 0.0)
    left, right = (fx - half, my - lift / 2), (fx + half, my - lift / 2)
    upper = _bezier(left, (fx, my + lift / 2 - gape / 2), right)
    lower = _bezier(right, (fx, my + lift / 2 + gape + 4.0), left)
    lip = (176, 70, 72)
    lip = tuple(int(0.6 * a + 0.4 * b) for a, b in zip(lip, _shade(skin, 0.7)))
    d.polygon(upper + lower, fill=lip + (255,))
    if gape > 1.0:
        inner_up = _bezier((left[0] + 2, left[1]), (fx, my + lift / 2 - gape / 2 + 1.5), (right[0] - 2, right[1]))
        inner_lo = _bezier((right[0] - 2, right[1]), (fx, my + lift / 2 + gape + 0.5), (left[0] + 2, left[1]))
        d.polygon(inner_up + inner_lo, fill=(60, 20, 25, 255))
        if e > 0:
            d.polygon(inner_up + _bezier((right[0] - 2, right[1]), (fx, my + lift / 2 + gape * 0.6), (left[0] + 2, left[1])),
                      fill=(240, 240, 232, 255))

    if identity["glasses"]:
        for side in (-1, 1):
            x0 = fx + side * gap
            d.ellipse([x0 - 10, ey - 8, x0 + 10, ey + 8], outline=(40, 40, 40, 255), width=2)
        d.line([(fx - gap + 10, ey), (fx + gap - 10, ey)], fill=(40, 40, 40, 255), width=2)

    # occlusions (drawn on the face layer, so they follow the head pose)
    occ = item["occlusion"]
    s = float(item.get("occ_shift", 0.0))
    if occ == "mask":
        d.polygon([(cx - fw + 4, cy + 4), (cx + fw - 4, cy + 4), (cx + fw - 10, cy + fh - 4),
                   (cx, cy + fh + 2), (cx - fw + 10, cy + fh - 4)], fill=(200, 215, 230, 255))
    elif occ == "hand":
        hx, hy = fx + 6 * s, my - 2
        d.ellipse([hx - 26, hy - 20, hx + 26, hy + 20], fill=_shade(skin, 0.95) + (255,))
        for k in range(4):
            d.line([(hx - 15 + 10 * k, hy - 12), (hx - 15 + 10 * k, hy + 8)], fill=_shade(skin, 0.75) + (255,), width=1)
    elif occ == "microphone":
        mx = fx + 12 * s
        d.ellipse([mx - 16, my - 17, mx + 16, my + 14], fill=(55, 55, 60, 255))
        d.rectangle([mx - 5, my + 8, mx + 5, _S], fill=(30, 30, 35, 255))
    elif occ == "sunglasses":
        for side in (-1, 1):
            x0 = fx + side * gap
            d.ellipse([x0 - 12, ey - 16, x0 + 12, ey + 9], fill=(20, 20, 25, 255))
        d.line([(fx - gap + 10, ey - 4), (fx + gap - 10, ey - 4)], fill=(20, 20, 25, 255), width=3)

    # head pose: yaw already shifted the features; now roll, scale, shift
    scale = float(item["scale"])
    layer = layer.rotate(float(item["roll"]), resample=Image.BICUBIC, center=(cx, cy))
    if abs(scale - 1.0) > 1e-6:
        n = int(round(_S * scale))
        layer = layer.resize((n, n), Image.BICUBIC)
    canvas = Image.new("RGB", (_S, _S), tuple(item["bg"]))
    drop = 0.75 * _S if occ == "out_of_frame" else 0.0
    off = (int(round((_S - layer.width) / 2 + item["dx"])), int(round((_S - layer.height) / 2 + item["dy"] + drop)))
    canvas.paste(layer, off, layer)

    # lighting: directional gradient, global brightness, colour cast
    img = np.asarray(canvas, dtype=np.float32)
    yy, xx = np.mgrid[0:_S, 0:_S].astype(np.float32)
    a = float(item["light_angle"])
    grad = ((xx - _S / 2) * math.cos(a) + (yy - _S / 2) * math.sin(a)) / (_S / 2)
    gain = float(item["brightness"]) * (1.0 + float(item["light_strength"]) * grad)
    if occ == "dark":
        gain = gain * 0.012
    cast = np.array([1.0 + item["cast"], 1.0, 1.0 - item["cast"]], dtype=np.float32)
    img = img * gain[..., None] * cast
    if occ == "dark":  # a dark room: little light, much sensor noise
        grain = np.random.default_rng(int(item.get("grain_seed", 0))).normal(0.0, 5.0, img.shape[:2])
        img = img + grain[..., None].astype(np.float32)
    img = np.clip(img, 0, 255).astype(np.uint8)
    small = Image.fromarray(img).resize((SIZE, SIZE), Image.BOX)
    return np.asarray(small, dtype=np.uint8)


def png_bytes(image: "np.ndarray") -> bytes:
    """Encode a uint8 RGB array as PNG bytes, deterministically (dataset, issue 4)."""
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="PNG", optimize=True)
    return buf.getvalue()
