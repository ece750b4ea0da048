"""From a trained Keras model to a checked int8 TFLite artifact with its model card.

What it shows:

1. Train a small Keras CNN on the handwritten digits that ship inside scikit-learn (no
   download; a few seconds on a laptop CPU). Keras works in NHWC, so the model takes
   ``(N, 32, 32, 1)`` grey images scaled to 0..1.
2. ``converters.convert(...)``: TFLite export, full-int8 quantization with calibration
   images, a fidelity check of the int8 model against Keras (cosine similarity and top-1
   agreement gates), and the model card written into the ``.tflite`` file.
3. Print the conversion report (sizes, fidelity, latency), then load the artifact with
   ``edgeinfer.load`` as a device would and measure its accuracy on unseen digits.

Run it::

    python examples/convert_keras.py --out digits-keras
    python examples/convert_keras.py --out digits-keras --to onnx   # int8 ONNX via tf2onnx

For your own model, load it instead of training (``keras.saving.load_model("model.keras")``
or pass the path of a ``.keras``/``.h5`` file or SavedModel folder straight to
``converters.convert``), write a ``CARD`` describing its preprocessing and labels, and
calibrate with a folder of real images (``calibration="calib_images/"``).
``io_type="uint8"`` gives a model whose input and output are uint8 (what the Edge TPU
compiler and some NPUs want); edgeinfer quantizes frames for it either way.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _digits import report_and_check  # beside this script

CARD: dict[str, Any] = {
    "task": "classification",
    "labels": [str(i) for i in range(10)],
    "preprocess": {"color": "gray", "resize": "center_crop", "crop_fraction": 1.0, "std": 255},
    "postprocess": {"activation": "softmax", "top_k": 3},
}
SIZE = 32  # input side, pixels


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("digits-keras"), help="output folder (created)")
    parser.add_argument("--to", choices=("tflite", "onnx"), default="tflite", help="artifact format")
    parser.add_argument("--epochs", type=int, default=20, help="training epochs")
    parser.add_argument("--calib", type=int, default=200, help="calibration images from the training set")
    parser.add_argument("--show", type=int, default=5, help="test digits to print one by one")
    return parser.parse_args(argv)


def build_model() -> Any:
    """A small CNN: ``(N, 32, 32, 1)`` grey 0..1 -> 10 logits."""
    import keras

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=(SIZE, SIZE, 1))
    x = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(32, 3, padding="same", activation="relu")(x)
    x = keras.layers.MaxPooling2D()(x)
    x = keras.layers.Conv2D(64, 3, padding="same", activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, keras.layers.Dense(10, name="logits")(x))


def train(epochs: int) -> tuple[Any, Any, float]:
    """Train on scikit-learn's digits; returns ``(keras model, data, float test accuracy)``."""
    import keras

    from edgeinfer.demo.digits import load_digits_data

    data = load_digits_data()
    x_train = data.train_images[..., None].astype(np.float32) / 255.0
    x_test = data.test_images[..., None].astype(np.float32) / 255.0
    model = build_model()
    model.compile(optimizer=keras.optimizers.Adam(3e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
    model.fit(x_train, data.train_labels, batch_size=64, epochs=epochs, verbose=0)
    accuracy = float((model.predict(x_test, verbose=0).argmax(1) == data.test_labels).mean())
    return model, data, accuracy


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import converters

    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    model, data, float_accuracy = train(args.epochs)
    print(f"trained in {time.perf_counter() - started:.1f} s: float accuracy {float_accuracy:.1%} "
          f"on {len(data.test_labels)} unseen digits")
    # Calibration inputs: ready float32 arrays in the model's layout (NHWC, 0..1), batch of one.
    calibration = [image[None, ..., None].astype(np.float32) / 255.0 for image in data.train_images[:args.calib]]
    artifact = args.out / f"digits_keras_int8.{args.to}"
    report = converters.convert(model, to=args.to, quantize="int8", calibration=calibration, card=CARD,
                                out=artifact, verbose=False)
    report_and_check(report, artifact, data, float_accuracy, out=args.out, to=args.to, show=args.show)
    return 0


if __name__ == "__main__":
    sys.exit(main())
