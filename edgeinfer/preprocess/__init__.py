"""Preprocessing: camera frame (BGR uint8, any size) -> model-input tensor + geometry.

Sits between ``sources`` and ``backends``. Build one :class:`Preprocessor` per model
input with :func:`build_preprocessor` from the model card's ``preprocess`` section and
the input's :class:`~edgeinfer.types.TensorSpec`; call it once per frame::

    pre = build_preprocessor(card.preprocess, model.inputs[0])
    tensor, geometry = pre(frame_bgr)          # tensor is reused: copy it to keep it
    boxes_px = geometry.boxes_to_frame(boxes)  # model-input pixels -> frame pixels

OpenCV (extra ``camera``) is imported when a preprocessor is built.
"""

from __future__ import annotations

from edgeinfer.preprocess.base import Preprocess, check_frame, import_cv2
from edgeinfer.preprocess.normalize import ValueTables, build_value_tables
from edgeinfer.preprocess.preprocessor import Preprocessor, build_preprocessor, infer_layout
from edgeinfer.preprocess.resize import ResizePlan, letterbox_geometry, plan_resize

__all__ = [
    "Preprocess",
    "Preprocessor",
    "ResizePlan",
    "ValueTables",
    "build_preprocessor",
    "build_value_tables",
    "check_frame",
    "import_cv2",
    "infer_layout",
    "letterbox_geometry",
    "plan_resize",
]
