"""Benchmark the OCR chain (``edgeinfer.load_ocr``) end to end against RapidOCR's own pipeline.

Both run the same three PP-OCR ONNX models (det v4, rec v4, mobile cls v2, from the
``rapidocr-onnxruntime`` wheel) with the same settings (unclip ratio 1.5, batches of 6) on
the same three images of ``tests/ocr/images.py`` (``skimage.data.page()``, a labelled photo,
an upside-down receipt), frame in, text lines out. Rounds alternate between the two.

Rows:

1. OCR end to end, all three images per call, ours vs RapidOCR: ratio, goal <= 1.0x.
2. Character error rate between the two readings (reported).

Run: ``python bench/bench_ocr.py [--quick]`` (needs ``rapidocr-onnxruntime``, see scripts/setup.sh).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from common import interleaved_ms, row

ROOT = Path(__file__).resolve().parent.parent
UNCLIP_RATIO = 1.5


def run(quick: bool) -> list[dict[str, Any]]:
    """Run the benchmark; ``quick`` times fewer rounds."""
    import rapidocr_onnxruntime

    import edgeinfer
    from edgeinfer.ocr import character_error_rate

    sys.path.insert(0, str(ROOT))
    from tests.ocr.images import make_images

    models = Path(rapidocr_onnxruntime.__file__).parent / "models"
    images = list(make_images().values())
    engine = rapidocr_onnxruntime.RapidOCR()
    with edgeinfer.load_ocr(models / "ch_PP-OCRv4_det_infer.onnx", models / "ch_PP-OCRv4_rec_infer.onnx",
                            models / "ch_ppocr_mobile_v2.0_cls_infer.onnx") as ocr:
        def ours() -> list[str]:
            return [ocr.predict(image).text for image in images]

        def theirs() -> list[str]:
            readings = [engine(image, unclip_ratio=UNCLIP_RATIO)[0] or [] for image in images]
            return ["\n".join(str(r[1]) for r in reading) for reading in readings]

        ours_text, theirs_text = "\n".join(ours()), "\n".join(theirs())
        timed = interleaved_ms(ours, theirs, rounds=2 if quick else 6, per_round=1 if quick else 2, warmup=1)
    cer = character_error_rate(ours_text, theirs_text)
    return [
        row("OCR end to end, 3 images (page, photo label, upside-down receipt), vs RapidOCR pipeline, same models",
            timed.candidate_ms, "ms", timed.baseline_ms, "<= 1.0x", timed.ratio <= 1.0, ratio=timed.ratio,
            round_ratios=timed.round_ratios),
        row("OCR character error rate, ours vs RapidOCR's reading", cer * 100, "%", None, "reported", None),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer timed rounds")
    args = parser.parse_args()
    for r in run(args.quick):
        ratio = "" if r["ratio"] is None else f"  ratio {r['ratio']:.3f}"
        baseline = "" if r["baseline"] is None else f" vs {r['baseline']:.1f}"
        print(f"{r['name']:<100} {r['value']:>9.2f} {r['unit']}{baseline}{ratio}")


if __name__ == "__main__":
    main()
