"""From a trained PyTorch model to a checked int8 artifact with its model card.

What it shows:

1. Train a small CNN on the handwritten digits that ship inside scikit-learn (no
   download; about ten seconds on a laptop CPU).
2. ``converters.convert(...)``: export to TFLite (or ONNX), quantize to full int8 with
   calibration images, check the int8 model against the float PyTorch model (cosine
   similarity and top-1 agreement gates) and write the model card *into* the artifact, so
   the device needs nothing but the file.
3. Print the conversion report (sizes, fidelity, latency), then load the artifact with
   ``edgeinfer.load`` exactly as a device would, and measure its accuracy on unseen digits.

Run it::

    python examples/convert_pytorch.py --out digits-model            # int8 TFLite
    python examples/convert_pytorch.py --out digits-model --to onnx  # int8 ONNX

For your own model, replace ``train()`` with loading your ``nn.Module`` (in eval mode),
set ``INPUT_SHAPE`` to its input (batch first, NCHW), write a ``CARD`` that describes its
preprocessing and labels, and pass real images as calibration data
(``calibration="calib_images/"`` is preprocessed with the card, as on the device).
Add ``edgetpu=True`` (needs ``edgetpu_compiler``) to also get ``<name>_edgetpu.tflite``.
The same conversion from the shell: ``edgeinfer convert model.pt --to tflite --quantize
int8 --calib images/ --card card.yaml --out model.tflite``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _digits import report_and_check  # beside this script

# The model card travels inside the artifact: how to turn a camera frame into the input
# tensor (grey, centre crop, 0..1) and how to read the output (softmax over 10 labels).
CARD: dict[str, Any] = {
    "task": "classification",
    "labels": [str(i) for i in range(10)],
    "preprocess": {"color": "gray", "resize": "center_crop", "crop_fraction": 1.0, "std": 255},
    "postprocess": {"activation": "softmax", "top_k": 3},
}
INPUT_SHAPE = (1, 1, 32, 32)  # batch, channels, height, width (PyTorch's NCHW)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("digits-model"), help="output folder (created)")
    parser.add_argument("--to", choices=("tflite", "onnx"), default="tflite", help="artifact format")
    parser.add_argument("--epochs", type=int, default=12, help="training epochs (12: ~97%% accuracy)")
    parser.add_argument("--calib", type=int, default=200, help="calibration images from the training set")
    parser.add_argument("--show", type=int, default=5, help="test digits to print one by one")
    return parser.parse_args(argv)


def train(epochs: int) -> tuple[Any, Any, float]:
    """Train the digits CNN; returns ``(torch model in eval mode, data, float test accuracy)``."""
    from converters.demo import train_classifier
    from edgeinfer.demo.digits import load_digits_data

    data = load_digits_data()
    model, accuracy = train_classifier(data, epochs=epochs)
    return model, data, accuracy


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import converters

    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    model, data, float_accuracy = train(args.epochs)
    print(f"trained in {time.perf_counter() - started:.1f} s: float accuracy {float_accuracy:.1%} "
          f"on {len(data.test_labels)} unseen digits")
    # Calibration inputs are ready float32 arrays in the model's own layout (NCHW, 0..1).
    calibration = [image[None, None].astype(np.float32) / 255.0 for image in data.train_images[:args.calib]]
    artifact = args.out / f"digits_int8.{args.to}"
    report = converters.convert(model, to=args.to, quantize="int8", calibration=calibration, card=CARD,
                                input_shape=INPUT_SHAPE, out=artifact, verbose=False)
    report_and_check(report, artifact, data, float_accuracy, out=args.out, to=args.to, show=args.show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
