"""Raspberry Pi camera -> int8 TFLite classifier or detector -> MQTT, on the Edge TPU when present.

What it shows:

* ``edgeinfer.load(model, accelerator="auto")`` picks the best accelerator that is really
  there and says why it skipped the others (``model.plan``, printed at start). With a Coral
  USB Accelerator plugged in and ``<name>_edgetpu.tflite`` (made by ``edgetpu_compiler``
  or ``converters.convert(..., edgetpu=True)``) next to ``--model``, the compiled model is
  used on the Edge TPU; otherwise the plain int8 model runs on the CPU with XNNPACK.
* ``model.stream(source)`` runs capture and inference on their own threads and yields
  ``(frame, result)``, newest frame first for a live camera, every frame for a file.
* Each result goes to MQTT as JSON (``edgeinfer/<device-id>/<stream>/results``) or, when no
  broker answers, as JSON lines on stdout (or ``--jsonl FILE``); everything meant for people
  (the plan, one line per frame, the summary) goes to stderr, so stdout can be piped to jq.

Run it on the Pi (64-bit Raspberry Pi OS; see devices/kits/raspberry_pi)::

    python examples/raspberry_pi_camera.py --model digits-model/digits_int8.tflite \\
        --source 0 --broker broker.local:1883 --device-id pi-kitchen

In CI a video file stands in for the camera: ``--source clip.mp4``.

What to change for real hardware:

* ``--source``: ``0`` or ``/dev/video0`` for a USB webcam, ``picam:0`` for a Raspberry Pi
  camera module through picamera2 (``sudo apt install python3-picamera2`` and a venv made
  with ``--system-site-packages``), or ``rtsp://...`` for an IP camera.
* ``--model``: your own int8 ``.tflite`` with its model card (examples/convert_pytorch.py
  makes one); a detector works the same way (results carry ``detections``).
* ``--accelerator edgetpu`` insists on the Edge TPU (fails loudly when it is absent);
  in code that is ``edgeinfer.load("model_edgetpu.tflite", accelerator="edgetpu")``.
* For a long-running service with store-and-forward, TLS, health and remote commands,
  use ``edgeinfer run`` (examples/iot_daemon) instead of this script.
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path
from typing import Any

DEFAULT_MODEL = Path("digits-model/digits_int8.tflite")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="0", help="camera index, /dev/videoN, picam:0, rtsp://..., or a video file")
    parser.add_argument("--model", type=Path, default=DEFAULT_MODEL, help="int8 .tflite with its model card")
    parser.add_argument("--accelerator", default="auto", help="auto, edgetpu, xnnpack, gpu or cpu")
    parser.add_argument("--broker", default="127.0.0.1:1883", help="MQTT broker host:port")
    parser.add_argument("--device-id", default=socket.gethostname().split(".")[0] or "pi", help="name in topics")
    parser.add_argument("--stream", default="camera", help="stream name in topics and results")
    parser.add_argument("--jsonl", default="-", help="JSON-lines file when no broker answers (- for stdout)")
    parser.add_argument("--queue", default=None, help="MQTT store-and-forward queue file (default: state dir)")
    parser.add_argument("--width", type=int, default=640, help="requested camera width, pixels")
    parser.add_argument("--height", type=int, default=480, help="requested camera height, pixels")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after this many results (0: never)")
    return parser.parse_args(argv)


def edgetpu_present() -> bool:
    """True when a Coral Edge TPU (USB or PCIe) is attached and its runtime is installed."""
    from edgeinfer.backends import probe

    info = probe(backends=["tflite"]).find("tflite", "edgetpu")
    return info is not None and info.present


def choose_model(path: Path, accelerator: str) -> Path:
    """Use ``<stem>_edgetpu.tflite`` when it exists and the Edge TPU is wanted and present.

    ``edgetpu_compiler model.tflite`` writes ``model_edgetpu.tflite``; that file runs only on
    the Edge TPU, the plain int8 file runs anywhere, so keep both next to each other.
    """
    compiled = path.with_name(f"{path.stem}_edgetpu.tflite")
    if path.stem.endswith("_edgetpu") or not compiled.is_file() or accelerator not in ("auto", "edgetpu"):
        return path
    return compiled if accelerator == "edgetpu" or edgetpu_present() else path


def print_plan(model: Any) -> None:
    """Which accelerator runs the model, and why each other one was skipped."""
    print(f"model {model.name}: {model.card.task} on {model.accelerator}", file=sys.stderr)
    for step in model.plan:
        print(f"  {step.accelerator:<8} {step.status:<10} {step.reason}", file=sys.stderr)


def broker_answers(broker: str, timeout_s: float = 1.0) -> tuple[str, int] | None:
    """``(host, port)`` when something accepts TCP connections there, else ``None``."""
    host, _, port = broker.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout_s):
            return host or "127.0.0.1", int(port)
    except (OSError, ValueError):
        return None


def open_sink(args: argparse.Namespace) -> tuple[Any, str]:
    """An MQTT sink when the broker answers, else JSON lines; and where results go."""
    from edgeinfer.sinks import registry

    broker = broker_answers(args.broker)
    if broker is None:
        where = "stdout" if args.jsonl == "-" else args.jsonl
        print(f"no MQTT broker answered at {args.broker}; writing JSON lines to {where}", file=sys.stderr)
        return registry.get("jsonl")(None if args.jsonl == "-" else args.jsonl), f"jsonl {where}"  # type: ignore[call-arg]
    from edgeinfer.sinks.mqtt_options import MqttOptions

    options = MqttOptions(host=broker[0], port=broker[1], queue_path=args.queue)
    sink = registry.get("mqtt")(options, device_id=args.device_id)  # type: ignore[call-arg]
    topic = options.topic.format(device_id=args.device_id, stream=args.stream, model="")
    return sink, f"mqtt {broker[0]}:{broker[1]} {topic}"


def describe(result: Any) -> str:
    """One short line for a classification or detection result."""
    data = result.to_dict()
    if data["task"] == "classification":
        return ", ".join(f"{t['label']} {t['score']:.2f}" for t in data["top"])
    if data["task"] == "detection":
        return f"{len(data['detections'])} objects " + " ".join(d["label"] for d in data["detections"])
    return str(data)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import edgeinfer
    from edgeinfer.sinks import make_envelope

    model = edgeinfer.load(choose_model(args.model, args.accelerator), accelerator=args.accelerator)
    print_plan(model)
    sink, target = open_sink(args)
    print(f"results -> {target}", file=sys.stderr)
    count, started = 0, time.monotonic()
    try:
        for frame, result in model.stream(args.source, width=args.width, height=args.height, name=args.stream):
            envelope = make_envelope(device_id=args.device_id, stream=args.stream, frame_index=frame.index,
                                     result=result, model=model.name, timestamp=frame.timestamp)
            sink.send(envelope, frame=frame.image, result=result)
            count += 1
            print(f"frame {frame.index:5d}  {describe(result)}", file=sys.stderr)
            if args.max_frames and count >= args.max_frames:
                break
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
    finally:
        delivered = sink.flush(10.0)
        sink.close()
        model.close()
    elapsed = time.monotonic() - started
    print(f"{count} results in {elapsed:.1f} s ({count / max(elapsed, 1e-9):.1f} fps) on {model.accelerator} "
          f"-> {target}{'' if delivered else ' (some still queued on disk)'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
