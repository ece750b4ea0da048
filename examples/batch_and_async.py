"""A folder of images with ``predict_batch``, and an asyncio service with ``predict_async``.

What it shows:

1. Offline batch work: every image in a folder, ``batch`` at a time, through
   ``model.predict_batch(paths)`` (one interpreter call per batch when the model's batch
   dimension allows, else one call per image; results always in order).
2. Inside an asyncio program (a web handler, an MQTT client, a gRPC service):
   ``await model.predict_async(image)`` runs inference on a worker thread, so the event
   loop stays responsive. ``asyncio.gather`` fires many predictions at once while a ticker
   coroutine keeps ticking; the script prints how often it ticked and its longest gap.

Run it (examples/convert_pytorch.py makes the model)::

    python examples/batch_and_async.py --model digits-model/digits_int8.tflite --images digit-images

When ``--images`` holds no images, the script first writes a few handwritten digits from
scikit-learn there as PNG files (named ``<n>_label<digit>.png`` so accuracy can be shown).
For your own data point ``--images`` at a folder of JPEG/PNG files and ``--model`` at your
model; the model card inside it says how images are resized and normalised.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import re
import sys
import time
from pathlib import Path
from typing import Any

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("digits-model/digits_int8.tflite"), help=".tflite or .onnx")
    parser.add_argument("--images", type=Path, default=Path("digit-images"), help="folder of images")
    parser.add_argument("--count", type=int, default=24, help="digits to write when the folder is empty")
    parser.add_argument("--batch", type=int, default=8, help="images per predict_batch call")
    parser.add_argument("--requests", type=int, default=64, help="concurrent predict_async calls")
    return parser.parse_args(argv)


def write_digit_images(folder: Path, count: int) -> None:
    """Write ``count`` held-out scikit-learn digits (the examples never train on them) as 96x96 PNGs."""
    import cv2

    from edgeinfer.demo.digits import load_digits_data

    data = load_digits_data()  # the same split as examples/convert_pytorch.py: test images only
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(min(count, len(data.test_labels))):
        image = cv2.resize(data.test_images[n], (96, 96), interpolation=cv2.INTER_CUBIC)
        cv2.imwrite(str(folder / f"{n:03d}_label{data.test_labels[n]}.png"), image)
    print(f"wrote {min(count, len(data.test_labels))} digit images to {folder}")


def list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def top_label(result: Any) -> str:
    data = result.to_dict()
    if data["task"] == "classification":
        return str(data["top"][0]["label"])
    if data["task"] == "detection":
        return ",".join(d["label"] for d in data["detections"]) or "-"
    return str(data)


def run_batches(model: Any, paths: list[Path], batch: int) -> list[Any]:
    """Predict every image, ``batch`` paths per call; print one line per image."""
    results: list[Any] = []
    started = time.perf_counter()
    for start in range(0, len(paths), batch):
        results += model.predict_batch(paths[start:start + batch])
    elapsed = time.perf_counter() - started
    for path, result in zip(paths, results, strict=True):
        print(f"{path.name}: {top_label(result)}")
    print(f"predict_batch: {len(results)} images in {elapsed * 1000:.0f} ms "
          f"({elapsed * 1000 / max(len(results), 1):.2f} ms per image)")
    known = [(m.group(1), top_label(r)) for p, r in zip(paths, results, strict=True)
             if (m := re.search(r"_label(\w+)\.", p.name))]
    if known:
        print(f"accuracy on labelled files: {sum(a == b for a, b in known) / len(known):.1%} of {len(known)}")
    return results


async def serve(model: Any, images: list[Any], requests: int) -> dict[str, float]:
    """Fire ``requests`` predictions at once while a ticker proves the loop is never blocked."""
    ticks: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.005)

    ticking = asyncio.create_task(ticker())
    started = time.perf_counter()
    results = await asyncio.gather(*(model.predict_async(images[i % len(images)]) for i in range(requests)))
    elapsed = time.perf_counter() - started
    done.set()
    await ticking
    gaps = [b - a for a, b in itertools.pairwise(ticks)] or [0.0]
    stats = {"results": len(results), "seconds": elapsed, "ticks": len(ticks), "max_gap_ms": max(gaps) * 1000}
    print(f"predict_async: {len(results)} concurrent predictions in {elapsed * 1000:.0f} ms; the event loop "
          f"ticked {len(ticks)} times meanwhile (longest gap {stats['max_gap_ms']:.1f} ms)")
    return stats


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import edgeinfer

    if not args.images.is_dir() or not list_images(args.images):
        write_digit_images(args.images, args.count)
    paths = list_images(args.images)
    with edgeinfer.load(args.model) as model:
        print(f"{model!r}: input {model.inputs[0].shape} {model.inputs[0].dtype}")
        run_batches(model, paths, args.batch)
        # Encoded bytes work as well as paths and BGR arrays; read once, predict many times.
        images = [path.read_bytes() for path in paths]
        asyncio.run(serve(model, images, args.requests))
    return 0


if __name__ == "__main__":
    sys.exit(main())
