"""Small real networks for the converter tests, built with PyTorch.

``mobilenet_v2_like``: MobileNetV2's shape (stem conv, inverted residual blocks with
depthwise convs and ReLU6, 1x1 head, global pool, classifier) at small width and 64x64.
``train_digits_cnn``: a CNN trained for a few seconds on scikit-learn's digits (real
8x8 handwritten digits upscaled to 32x32, 3 channels) so accuracy means something.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def _torch() -> Any:
    import torch

    return torch


def _conv_bn(torch: Any, cin: int, cout: int, k: int, *, stride: int = 1, groups: int = 1,
             act: bool = True) -> Any:
    layers = [torch.nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
              torch.nn.BatchNorm2d(cout)]
    if act:
        layers.append(torch.nn.ReLU6())
    return torch.nn.Sequential(*layers)


def _inverted_residual_cls(torch: Any) -> Any:
    class InvertedResidual(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self, cin: int, cout: int, stride: int, expand: int) -> None:
            super().__init__()
            hidden = cin * expand
            self.use_res = stride == 1 and cin == cout
            self.block = torch.nn.Sequential(
                _conv_bn(torch, cin, hidden, 1),
                _conv_bn(torch, hidden, hidden, 3, stride=stride, groups=hidden),
                _conv_bn(torch, hidden, cout, 1, act=False),
            )

        def forward(self, x: Any) -> Any:
            y = self.block(x)
            return x + y if self.use_res else y

    return InvertedResidual


def mobilenet_v2_like(num_classes: int = 10, width: int = 8, seed: int = 0) -> Any:
    """A MobileNetV2-shaped CNN for ``(N, 3, 64, 64)`` input; random weights, BN statistics set."""
    torch = _torch()
    torch.manual_seed(seed)
    block = _inverted_residual_cls(torch)
    cfg = [(width, 1, 1), (width * 2, 2, 4), (width * 2, 1, 4), (width * 4, 2, 4), (width * 4, 1, 4)]
    layers = [_conv_bn(torch, 3, width, 3, stride=2)]
    cin = width
    for cout, stride, expand in cfg:
        layers.append(block(cin, cout, stride, expand))
        cin = cout
    layers.append(_conv_bn(torch, cin, width * 8, 1))

    class Net(torch.nn.Module):  # type: ignore[misc,name-defined]
        def __init__(self) -> None:
            super().__init__()
            self.features = torch.nn.Sequential(*layers)
            self.classifier = torch.nn.Linear(width * 8, num_classes)

        def forward(self, x: Any) -> Any:
            y = self.features(x).mean((2, 3))
            return self.classifier(y)

    net = Net()
    with torch.no_grad():  # non-trivial BN statistics, as after training
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
    return net.eval()


def digits_data(size: int = 32) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """scikit-learn digits as ``(N, 3, size, size)`` float32 in [0, 1]; fixed train/test split."""
    import cv2
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images / 16.0).astype(np.float32)
    big = np.stack([cv2.resize(im, (size, size), interpolation=cv2.INTER_LINEAR) for im in images])
    x = np.repeat(big[:, None], 3, axis=1)
    y = digits.target.astype(np.int64)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(x))
    split = int(0.75 * len(x))
    train, test = order[:split], order[split:]
    return x[train], y[train], x[test], y[test]


def digits_cnn(width: int = 16) -> Any:
    """A CNN for ``(N, 3, 32, 32)`` digits whose dense layers hold most of the weights."""
    torch = _torch()
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, width, 3, stride=2, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(width, width * 2, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(width * 2 * 8 * 8, 128), torch.nn.ReLU(),
        torch.nn.Linear(128, 10),
    )


def train_digits_cnn(x: np.ndarray, y: np.ndarray, epochs: int = 4) -> Any:
    """Train :func:`digits_cnn` with Adam for a few epochs (seconds on 2 cores)."""
    torch = _torch()
    torch.manual_seed(0)
    net = digits_cnn()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    net.train()
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            idx = perm[i:i + 64]
            opt.zero_grad()
            loss = torch.nn.functional.cross_entropy(net(xt[idx]), yt[idx])
            loss.backward()
            opt.step()
    return net.eval()


def accuracy(logits: np.ndarray, y: np.ndarray) -> float:
    """Top-1 accuracy in percent."""
    return float(100.0 * np.mean(logits.argmax(axis=1) == y))
