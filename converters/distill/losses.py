"""Distillation losses and student/teacher agreement, per task.

Classification (outputs ``[N, classes]``, logits): Hinton's soft-target loss,
``KL(softmax(t / T) || softmax(s / T)) * T**2``. Teacher outputs that are already
probabilities (non-negative rows summing to 1) are taken as ``log p``, which has the same
softmax. Agreement: top-1 agreement in percent.

Detection (an Ultralytics YOLO head ``[N, 4 + nc, anchors]``: ``cx, cy, w, h`` in input
pixels, then per-class scores after the sigmoid, as exported): mean squared error on the
boxes (divided by the input size), each anchor weighted by the teacher's confidence (its
best class score), plus binary cross-entropy of the student's class scores against the
teacher's. The temperature is not used. The student keeps the teacher's anchor grid, so the
same anchor index is compared, without matching. Agreement: ``score_corr`` (Pearson
correlation of the best class score over every anchor), and over the anchors where the
teacher is confident (score >= ``CONFIDENT``): ``box_iou`` (mean IoU of the two boxes) and
``class_agreement`` (the same best class, percent).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["CONFIDENT", "agreement", "as_logits", "loss"]

CONFIDENT = 0.25
_EPS = 1e-6


def as_logits(outputs: np.ndarray, task: str) -> np.ndarray:
    """Classification probabilities become log-probabilities; anything else is kept."""
    if task != "classification" or outputs.min() < 0:
        return outputs
    if np.allclose(outputs.sum(axis=1), 1.0, atol=1e-3):
        return np.log(np.clip(outputs, 1e-8, None)).astype(np.float32)
    return outputs


def loss(task: str, student: Any, teacher: Any, temperature: float, size: float) -> Any:
    """The distillation loss of one batch (torch tensors; ``size`` is the input's larger side, px)."""
    import torch.nn.functional as F

    if task == "classification":
        t = temperature
        kl = F.kl_div(F.log_softmax(student / t, dim=1), F.log_softmax(teacher / t, dim=1), log_target=True,
                      reduction="batchmean")
        return kl * t * t
    weight = teacher[:, 4:].max(dim=1).values  # [N, anchors]
    box = ((student[:, :4] - teacher[:, :4]) / size).pow(2).mean(dim=1)
    box_loss = (weight * box).sum() / weight.sum().clamp_min(_EPS)
    scores = F.binary_cross_entropy(student[:, 4:].clamp(_EPS, 1 - _EPS), teacher[:, 4:])
    return box_loss + scores


def _iou_cxcywh(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of matching rows of two ``[M, 4]`` cx, cy, w, h box arrays."""
    a1, a2 = a[:, :2] - a[:, 2:] / 2, a[:, :2] + a[:, 2:] / 2
    b1, b2 = b[:, :2] - b[:, 2:] / 2, b[:, :2] + b[:, 2:] / 2
    inter = np.clip(np.minimum(a2, b2) - np.maximum(a1, b1), 0, None).prod(axis=1)
    union = np.abs(a[:, 2:]).prod(axis=1) + np.abs(b[:, 2:]).prod(axis=1) - inter
    return np.asarray(inter / np.maximum(union, _EPS))


def agreement(task: str, student: np.ndarray, teacher: np.ndarray) -> dict[str, float]:
    """Student/teacher agreement on held-back images (see the module docstring for the keys)."""
    if task == "classification":
        return {"top1": float(100.0 * np.mean(student.argmax(1) == teacher.argmax(1)))}
    s_best, t_best = student[:, 4:].max(axis=1).ravel(), teacher[:, 4:].max(axis=1).ravel()
    corr = float(np.corrcoef(s_best, t_best)[0, 1]) if s_best.std() > 0 and t_best.std() > 0 else 0.0
    boxes_s = student[:, :4].transpose(0, 2, 1).reshape(-1, 4)
    boxes_t = teacher[:, :4].transpose(0, 2, 1).reshape(-1, 4)
    keep = t_best >= CONFIDENT
    if not keep.any():
        return {"score_corr": corr, "box_iou": float("nan"), "class_agreement": float("nan")}
    same = student[:, 4:].argmax(axis=1).ravel()[keep] == teacher[:, 4:].argmax(axis=1).ravel()[keep]
    return {"score_corr": corr, "box_iou": float(_iou_cxcywh(boxes_s[keep], boxes_t[keep]).mean()),
            "class_agreement": float(100.0 * same.mean())}
