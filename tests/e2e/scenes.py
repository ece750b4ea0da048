"""Real photographs for the end-to-end detector tests: objects, backgrounds, scenes.

Two object classes are cut from real photos in ``skimage.data``: ``cat`` (the face of the
cat in ``chelsea()``) and ``cup`` (the espresso cup in ``coffee()``). Training scenes paste
them onto crops of other real photos; held-out photos (``astronaut()`` and both
``stereo_motorcycle()`` views) are never used for training, and the tests paste the
objects onto them at known boxes.

Training scenes are made the way ``edgeinfer``'s preprocessing makes model inputs: a frame
of some aspect ratio is shrunk to fit 128 pixels and centred on a grey (114) canvas, so the
network sees letterbox padding as it will at inference time. No torch here.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
from skimage import data as photos

__all__ = [
    "CUP_BOX_XYXY",
    "FACE_BOX_XYXY",
    "INPUT_SIZE",
    "LABELS",
    "SceneSampler",
    "heldout_backgrounds",
    "object_crops",
    "paste",
    "photo_bgr",
    "training_backgrounds",
]

LABELS = ("cat", "cup")
INPUT_SIZE = 128
PAD_VALUE = 114
# Object boxes in their source photos, x1, y1, x2, y2 pixels, read off the images.
FACE_BOX_XYXY = (105, 55, 365, 290)  # chelsea(): both eyes, nose and mouth
CUP_BOX_XYXY = (172, 18, 412, 302)  # coffee(): rim to the bottom of the handle


def photo_bgr(name: str) -> np.ndarray:
    """Return the ``skimage.data`` photo ``name`` as BGR uint8, as OpenCV reads images."""
    return _bgr(getattr(photos, name)())


def _bgr(image: np.ndarray) -> np.ndarray:
    """Return a 3-channel BGR uint8 copy of a skimage photo (gray, RGB or RGBA)."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    return cv2.cvtColor(np.ascontiguousarray(image[..., :3]), cv2.COLOR_RGB2BGR)


def object_crops() -> list[np.ndarray]:
    """Return the BGR object crops, one per label, in ``LABELS`` order."""
    x1, y1, x2, y2 = FACE_BOX_XYXY
    cat = photo_bgr("chelsea")[y1:y2, x1:x2]
    x1, y1, x2, y2 = CUP_BOX_XYXY
    cup = photo_bgr("coffee")[y1:y2, x1:x2]
    return [np.ascontiguousarray(cat), np.ascontiguousarray(cup)]


def training_backgrounds() -> list[np.ndarray]:
    """Return BGR photos the scenes are cut from; none shows a cat or a cup."""
    names = ("camera", "coins", "page", "grass", "gravel", "brick", "text", "moon", "clock", "cell",
             "retina", "colorwheel", "immunohistochemistry", "hubble_deep_field", "rocket", "logo")
    images = [photo_bgr(name) for name in names] + _other_sample_photos()
    coffee = photo_bgr("coffee")
    # The wooden table beside and below the cup: real context without the object.
    images += [coffee[:, 440:], coffee[320:, :]]
    return images


def _other_sample_photos() -> list[np.ndarray]:
    """Cluttered real photos shipped with scikit-learn and matplotlib (a temple, a flower,
    a portrait): hard negatives that keep false detections off shelves and faces."""
    import matplotlib.cbook
    from sklearn.datasets import load_sample_images

    images = [_bgr(image) for image in load_sample_images().images]
    portrait = cv2.imread(str(matplotlib.cbook.get_sample_data("grace_hopper.jpg", asfileobj=False)))
    return images if portrait is None else [*images, portrait]


def heldout_backgrounds() -> dict[str, np.ndarray]:
    """Return BGR photos never used in training, at natural sizes (square, wide, tall)."""
    left, right = photos.stereo_motorcycle()[:2]
    return {
        "astronaut": photo_bgr("astronaut"),
        "motorcycle_wide": _bgr(left),
        "motorcycle_tall": np.ascontiguousarray(_bgr(right)[:, 150:450]),
    }


def paste(frame: np.ndarray, crop: np.ndarray, box_xyxy: Sequence[int]) -> np.ndarray:
    """Resize ``crop`` into ``box_xyxy`` of ``frame`` (in place) and return ``frame``."""
    x1, y1, x2, y2 = (int(v) for v in box_xyxy)
    size = (x2 - x1, y2 - y1)
    shrink = size[0] < crop.shape[1]
    frame[y1:y2, x1:x2] = cv2.resize(crop, size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)
    return frame


class SceneSampler:
    """Random letterboxed 128x128 scenes with 0-2 pasted objects and their boxes."""

    def __init__(self, seed: int) -> None:
        self.rng = np.random.default_rng(seed)
        # Shrunk once: scenes are 128 pixels, and area-resizing a 1411-pixel photo per scene is slow.
        self.backgrounds = [_fit(photo, 320) for photo in training_backgrounds()]
        self.crops = [_fit(crop, 128) for crop in object_crops()]

    def batch(self, size: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Return ``(size, 128, 128, 3)`` BGR uint8 scenes and per scene ``(k, 5)`` cls,x1,y1,x2,y2."""
        scenes, targets = zip(*(self.scene() for _ in range(size)), strict=True)
        return np.stack(scenes), list(targets)

    def scene(self) -> tuple[np.ndarray, np.ndarray]:
        rng = self.rng
        aspect = 1.0 if rng.random() < 0.3 else float(np.exp(rng.uniform(np.log(0.6), np.log(1.7))))
        cw, ch = (INPUT_SIZE, round(INPUT_SIZE / aspect)) if aspect >= 1 else (round(INPUT_SIZE * aspect), INPUT_SIZE)
        content = self._background((cw, ch))
        for _ in range(rng.choice(3, p=[0.5, 0.3, 0.2])):
            self._paste_distractor(content)
        boxes: list[list[float]] = []
        for _ in range(rng.choice(3, p=[0.15, 0.5, 0.35])):
            self._paste_object(content, boxes)
        canvas = np.full((INPUT_SIZE, INPUT_SIZE, 3), PAD_VALUE, np.uint8)
        ox, oy = (INPUT_SIZE - cw) // 2, (INPUT_SIZE - ch) // 2
        canvas[oy:oy + ch, ox:ox + cw] = content
        target = np.asarray(boxes, np.float32).reshape(-1, 5)
        target[:, 1:] += [ox, oy, ox, oy]
        return canvas, target

    def _background(self, size_wh: tuple[int, int]) -> np.ndarray:
        rng = self.rng
        photo = self.backgrounds[rng.integers(len(self.backgrounds))]
        h, w = photo.shape[:2]
        aspect = size_wh[0] / size_wh[1]
        scale = rng.uniform(0.3, 1.0)
        cw = min(w, max(16, int(min(w, h * aspect) * scale)))
        ch = min(h, max(16, int(cw / aspect)))
        x, y = rng.integers(0, w - cw + 1), rng.integers(0, h - ch + 1)
        out = cv2.resize(photo[y:y + ch, x:x + cw], size_wh, interpolation=cv2.INTER_AREA)
        if rng.random() < 0.5:
            out = out[:, ::-1]
        return np.ascontiguousarray(out)

    def _paste_distractor(self, content: np.ndarray) -> None:
        """Paste a patch of another photo, so pasted edges alone do not mean "object"."""
        rng = self.rng
        h, w = content.shape[:2]
        pw, ph = int(rng.integers(16, max(17, w // 2))), int(rng.integers(16, max(17, h // 2)))
        x, y = int(rng.integers(0, w - pw + 1)), int(rng.integers(0, h - ph + 1))
        content[y:y + ph, x:x + pw] = self._background((pw, ph))

    def _paste_object(self, content: np.ndarray, boxes: list[list[float]]) -> None:
        rng = self.rng
        h, w = content.shape[:2]
        cls = int(rng.integers(len(self.crops)))
        crop = self.crops[cls]
        ow = float(np.exp(rng.uniform(np.log(20), np.log(min(100, 0.9 * w)))))
        oh = ow * crop.shape[0] / crop.shape[1] * float(rng.uniform(0.85, 1.15))
        ow, oh = int(ow), int(min(oh, 0.95 * h))
        for _ in range(5):
            x, y = int(rng.integers(0, w - ow + 1)), int(rng.integers(0, h - oh + 1))
            box = [x, y, x + ow, y + oh]
            if all(_iou(box, b[1:]) < 0.1 for b in boxes):
                break
        else:
            return
        patch = cv2.resize(crop, (ow, oh), interpolation=cv2.INTER_AREA).astype(np.float32)
        gain = rng.uniform(0.75, 1.25) * rng.uniform(0.92, 1.08, size=3)
        jittered = patch * gain + rng.uniform(-20, 20)
        if rng.random() < 0.5:
            jittered = jittered[:, ::-1]
        content[y:y + oh, x:x + ow] = np.clip(jittered, 0, 255).astype(np.uint8)
        boxes.append([cls, *box])


def _fit(image: np.ndarray, max_side: int) -> np.ndarray:
    scale = max_side / max(image.shape[:2])
    return image if scale >= 1 else cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)


def _iou(a: Sequence[float], b: Sequence[float]) -> float:
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0
