"""A tiny Ultralytics-layout pose model, built in torch and exported with torch.onnx.

Ultralytics cannot be installed here (its torchvision dependency is broken with this torch),
so the head follows the documented export layout of ``ultralytics.nn.modules.head.Pose``
with ``export=True``: ``[1, 4 + nc + K*3, anchors]`` holding, per anchor over strides
8, 16, 32, the box ``cx, cy, w, h`` (``dist2bbox(..., xywh=True) * stride``), the class
scores through a sigmoid, then for each keypoint ``(raw * 2 + (anchor - 0.5)) * stride``
for ``x`` and ``y`` and ``sigmoid(raw)`` for its visibility.

The raw per-anchor values are fixed (a buffer) so the test knows which anchors are people,
and a 1x1 convolution of the image with tiny weights is added so the graph really reads
its input (it moves the output by less than 1e-3).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

IMGSZ_HW = (64, 96)
STRIDES = (8, 16, 32)
NUM_KPT = 17
NAMES = ("person",)
CHANNELS = 4 + len(NAMES) + NUM_KPT * 3
PEOPLE = {  # anchor index -> class logit; 51 and 52 are neighbours (IoU 0.5), so NMS at 0.45 drops 52
    51: 3.0, 52: 1.0, 112: 2.0, 124: 1.5,
}


def anchor_grid() -> tuple[np.ndarray, np.ndarray]:
    """Anchor centres ``(A, 2)`` in grid cells (``+0.5``) and each anchor's stride ``(A,)``."""
    h, w = IMGSZ_HW
    centres, strides = [], []
    for s in STRIDES:
        ys, xs = np.meshgrid(np.arange(h // s) + 0.5, np.arange(w // s) + 0.5, indexing="ij")
        centres.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        strides.append(np.full(xs.size, s, np.float32))
    return np.concatenate(centres).astype(np.float32), np.concatenate(strides)


def raw_values(seed: int = 0) -> np.ndarray:
    """The head's raw per-anchor values ``(CHANNELS, A)`` before the export decode."""
    rng = np.random.default_rng(seed)
    centres, _ = anchor_grid()
    raw = rng.normal(0.0, 0.3, (CHANNELS, len(centres))).astype(np.float32)
    raw[4] = -8.0  # background everywhere ...
    for anchor, logit in PEOPLE.items():  # ... except the people
        raw[4, anchor] = logit
        raw[:4, anchor] = np.log([1.5, 2.0, 1.5, 2.0])  # ltrb distances in cells
        raw[7::3, anchor] = rng.choice([-3.0, 3.0], NUM_KPT)  # visibility: about half shown
    return raw


def pose_module():
    """The torch module: image ``[1, 3, 64, 96]`` -> pose head ``[1, CHANNELS, A]``."""
    import torch

    class UltralyticsStylePose(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            centres, strides = anchor_grid()
            self.register_buffer("raw", torch.from_numpy(raw_values())[None])
            self.register_buffer("anchors", torch.from_numpy(centres.T.copy())[None])  # [1, 2, A]
            self.register_buffer("strides", torch.from_numpy(strides)[None, None])  # [1, 1, A]
            self.mix = torch.nn.Conv2d(3, CHANNELS, 1)
            torch.nn.init.constant_(self.mix.weight, 1e-5)
            torch.nn.init.zeros_(self.mix.bias)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raw = self.raw + self.mix(x).mean(dim=(2, 3))[:, :, None]
            lt, rb = raw[:, 0:2].exp(), raw[:, 2:4].exp()
            x1y1, x2y2 = self.anchors - lt, self.anchors + rb
            box = torch.cat([(x1y1 + x2y2) / 2, x2y2 - x1y1], 1) * self.strides
            cls = raw[:, 4:5].sigmoid()
            kpt = raw[:, 5:].reshape(1, NUM_KPT, 3, -1)
            xy = (kpt[:, :, :2] * 2.0 + (self.anchors[:, None] - 0.5)) * self.strides[:, None]
            kpts = torch.cat([xy, kpt[:, :, 2:3].sigmoid()], 2).reshape(1, NUM_KPT * 3, -1)
            return torch.cat([box, cls, kpts], 1)

    return UltralyticsStylePose().eval()


def export_pose_onnx(path: Path) -> Path:
    """Export the module with ``torch.onnx.export`` (dynamo exporter, as the converters use)."""
    import torch

    h, w = IMGSZ_HW
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(pose_module(), (torch.zeros(1, 3, h, w),), str(path), dynamo=True, external_data=False,
                          opset_version=18, input_names=["images"], output_names=["output0"], verbose=False)
    return path


def with_metadata(source: Path, path: Path, metadata: dict[str, object]) -> Path:
    """Copy of the ONNX file ``source`` with ``metadata`` written as Ultralytics' exporter does (``str`` values)."""
    import onnx

    model = onnx.load(str(source))
    for key, value in metadata.items():  # as Exporter.export_onnx
        prop = model.metadata_props.add()
        prop.key, prop.value = key, str(value)
    onnx.save(model, str(path))
    return path
