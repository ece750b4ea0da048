"""``edgeinfer predict MODEL IMAGE... [--card CARD] [--save OUT] [--json]``, or ``MODEL --text "..."``.

A video, camera or stream instead of images (``edgeinfer predict MODEL video.mp4 --track
--zones zones.yaml --save out.mp4``) runs through :mod:`edgeinfer.cli.predict_video`.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Any

import click

from edgeinfer.errors import InputError

__all__ = ["command", "summarize"]


def summarize(result: dict[str, Any]) -> str:
    """One human line for a result dict (the JSON shape of ``result.to_dict()``)."""
    task = result.get("task")
    if task == "classification":
        return ", ".join(f"{t['label']} {t['score']:.2f}" for t in result["top"]) or "(nothing)"
    if task in ("detection", "pose", "obb", "instance_segmentation"):
        items = [_box_summary(task, d) for d in result["detections"]]
        return f"{len(items)} found: " + "; ".join(items) if items else "nothing found"
    if task == "segmentation":
        return ", ".join(f"{k} {v:.1%}" for k, v in result["classes"].items())
    if task == "regression":
        return ", ".join(f"{v:.4g}" for v in result["values"])
    return _other_summary(task, result)


def _other_summary(task: Any, result: dict[str, Any]) -> str:
    if task == "embedding":
        return f"embedding dim {result['dim']}: [{', '.join(f'{v:.3f}' for v in result['vector'][:4])}, ...]"
    if task == "ocr":
        return " | ".join(f"{line['text']} ({line['score']:.2f})" for line in result["lines"]) or "no text found"
    return json.dumps(result.get("outputs", result))


def _box_summary(task: str, d: dict[str, Any]) -> str:
    """``label score [box]``, with the angle for obb, the keypoints for pose and the mask for seg."""
    if task == "obb":
        return (f"{d['label']} {d['score']:.2f} [{', '.join(f'{v:.0f}' for v in d['rbox'][:4])}, "
                f"{math.degrees(d['rbox'][4]):.0f}deg]")
    text = f"{d['label']} {d['score']:.2f} [{', '.join(f'{v:.0f}' for v in d['box_xyxy'])}]"
    if task == "pose":
        text += f" {sum(k[2] >= 0.5 for k in d['keypoints'])}/{len(d['keypoints'])} keypoints"
    if task == "instance_segmentation":
        text += f" mask: {len(d['polygons'])} polygon(s)" if "polygons" in d else " mask: rle" if "rle" in d else ""
    return text


def _save_path(save: Path, image: str, many: bool) -> Path:
    if many or save.is_dir() or not save.suffix:
        save.mkdir(parents=True, exist_ok=True)
        return save / (Path(image).stem + ".jpg")
    save.parent.mkdir(parents=True, exist_ok=True)
    return save


@click.command()
@click.argument("model", type=click.Path(dir_okay=False))
@click.argument("images", nargs=-1)
@click.option("--text", "texts", multiple=True, help="A text for a model with a tokenizer: card (repeatable).")
@click.option("--card", "card_path", type=click.Path(exists=True, dir_okay=False),
              help="Card YAML overriding the model's own.")
@click.option("--ocr-rec", type=click.Path(exists=True, dir_okay=False),
              help="OCR: MODEL is a text detector and this its recogniser (or give an OCR card YAML as MODEL).")
@click.option("--ocr-cls", type=click.Path(exists=True, dir_okay=False), help="OCR: the angle classifier.")
@click.option("--accelerator", default="auto", show_default=True, help="auto, or a name from `edgeinfer devices`.")
@click.option("--save", type=click.Path(path_type=Path), help="Write annotated images: a file (one image) or a folder.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines instead of a table.")
@click.option("--track", is_flag=True, help="Video: follow objects and print events (new, zones, crossings, end).")
@click.option("--tracker", type=click.Choice(["bytetrack", "iou"]), default="bytetrack", show_default=True,
              help="Video: how objects are followed.")
@click.option("--zones", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Video: a YAML file of zones: and lines: to count (implies --track).")
@click.option("--snapshots", type=click.Path(file_okay=False, path_type=Path),
              help="Video with --track: write each event's best crop and frame into this folder.")
@click.option("--clips", type=click.Path(file_okay=False, path_type=Path),
              help="Video with --track: write an MP4 clip of each event (5 s before to 5 s after) into this folder.")
def command(model: str, images: tuple[str, ...], texts: tuple[str, ...], card_path: str | None, ocr_rec: str | None,
            ocr_cls: str | None, accelerator: str,
            save: Path | None, as_json: bool, track: bool, tracker: str, zones: Path | None,
            snapshots: Path | None, clips: Path | None) -> None:
    """Run MODEL on IMAGE files and print one result per image; or on a video, camera or stream.

    With a card that has a stream: section (task vad: silero-vad), the files are audio (WAV).

    \b
    Examples:
      edgeinfer predict detector.tflite photo.jpg --save out.jpg
      edgeinfer predict detector.tflite video.mp4 --track --zones zones.yaml --save out.mp4
      edgeinfer predict det.onnx page.png --ocr-rec rec.onnx --ocr-cls cls.onnx --save read.jpg
      edgeinfer predict silero_vad.onnx speech.wav --card silero_vad.yaml
      edgeinfer predict intent.onnx --text "turn the lights off" --text "what's the weather"
    """
    import edgeinfer
    from edgeinfer.cli.predict_video import is_stream, run_video
    from edgeinfer.images import read_image

    if texts or not images:
        _predict_texts(model, texts, bool(images), card_path, accelerator, as_json)
        return
    streams = [name for name in images if is_stream(name)]
    if streams and len(images) > 1:
        raise click.UsageError(f"give one video, camera or stream at a time (got {', '.join(images)})")
    if (track or zones or snapshots or clips) and not streams:
        raise click.UsageError("--track, --zones, --snapshots and --clips follow objects through a video, camera or "
                               "stream; give one (video.mp4, 0, rtsp://...) instead of images")
    ocr = ocr_rec is not None or Path(model).suffix.lower() in (".yaml", ".yml")
    if ocr and streams:
        raise click.UsageError("OCR reads images: give image files instead of a video, camera or stream")
    failed = 0
    opened = edgeinfer.load_ocr(model, ocr_rec, ocr_cls, accelerator=accelerator) if ocr else \
        edgeinfer.load(model, accelerator=accelerator, card=card_path)
    with opened as loaded:
        if not ocr and loaded.card.stream is not None:  # a streaming model: audio files (cli.predict_audio)
            from edgeinfer.cli.predict_audio import run_audio

            if run_audio(loaded, images, as_json=as_json):
                sys.exit(65)
            return
        if streams:
            run_video(loaded, streams[0], track=track, tracker=tracker, zones=zones, snapshots=snapshots,
                      clips=clips, save=save, as_json=as_json)
            return
        rows = []
        for image in images:
            try:
                frame = read_image(image)
                result = loaded.predict(frame)
            except InputError as exc:
                failed += 1
                click.secho(f"error: {exc}", fg="red", err=True)
                continue
            data = result.to_dict()
            if as_json:
                click.echo(json.dumps({"image": image, **data}))
            else:
                rows.append((image, summarize(data)))
            if save is not None:
                import cv2

                out = _save_path(save, image, len(images) > 1)
                cv2.imwrite(str(out), edgeinfer.draw(frame, result))
        if rows:
            _print_table(rows, loaded)
    if failed:
        sys.exit(65)


def _predict_texts(model: str, texts: tuple[str, ...], images: bool, card_path: str | None, accelerator: str,
                   as_json: bool) -> None:
    """``--text``: one result per text, batched (a model whose card has a tokenizer: section)."""
    import edgeinfer

    if images or not texts:
        raise click.UsageError("give IMAGE files (or a video, camera or stream) or --text, one of the two")
    with edgeinfer.load(model, accelerator=accelerator, card=card_path) as loaded:
        results = loaded.predict_batch(texts)
        _print_results(loaded, [(t, r.to_dict()) for t, r in zip(texts, results, strict=True)], as_json, "text")


def _print_results(model: Any, results: list[tuple[str, dict[str, Any]]], as_json: bool, key: str) -> None:
    if as_json:
        for name, data in results:
            click.echo(json.dumps({key: name, **data}))
    else:
        _print_table([(name, summarize(data)) for name, data in results], model, key)


def _print_table(rows: list[tuple[str, str]], model: Any, key: str = "image") -> None:
    from rich.table import Table

    from edgeinfer.cli.output import make_console

    table = Table(title=f"{model.name} ({model.card.task}) on {model.accelerator}")
    table.add_column(key)
    table.add_column("result")
    for image, text in rows:
        table.add_row(image, text)
    make_console().print(table)
