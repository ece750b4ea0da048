"""Jetson: CSI or USB camera -> ONNX detector on TensorRT/CUDA -> MQTT and an annotated MP4.

What it shows:

* A GStreamer source for the CSI camera (``--source csi`` expands to the
  ``nvarguscamerasrc`` pipeline below) or a USB camera (``--source 0``).
* ``edgeinfer.load("detector.onnx")`` on a Jetson tries TensorRT, then CUDA, then the CPU
  (the board profile ``jetson_orin`` says so) and prints that plan with the reason for
  every skipped provider. TensorRT builds an engine on the first run (minutes on an Orin
  Nano); ``export ORT_TENSORRT_ENGINE_CACHE_ENABLE=1 ORT_TENSORRT_CACHE_PATH=trt-cache``
  makes ONNX Runtime keep it for the next start (the systemd unit sets both).
* :class:`edgeinfer.pipeline.Pipeline` runs capture, preprocessing, inference, decoding
  and publishing on their own threads, so the GPU is never waiting for the camera.
* Sinks: MQTT (or JSON lines when no broker answers), an annotated MP4 (``--video``) with
  the boxes drawn, and a console line per frame.

Run it on the Jetson (JetPack 5/6; see devices/kits/jetson)::

    python examples/jetson_detector.py --model yolov8n.onnx --source csi \\
        --broker broker.local:1883 --video annotated.mp4

The CSI pipeline that ``--source csi`` uses (1280x720 at 30 fps from sensor 0)::

    gst:nvarguscamerasrc sensor-id=0 ! video/x-raw(memory:NVMM),width=1280,height=720,framerate=30/1 !
        nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR !
        appsink drop=true max-buffers=1

It needs an OpenCV built with GStreamer: JetPack's ``python3-opencv`` (make the venv with
``--system-site-packages`` and ``pip uninstall opencv-python-headless``).

What to change for real hardware: ``--model`` (an Ultralytics YOLOv8/YOLO11 ONNX export
with its model card, e.g. ``edgeinfer card yolov8n.onnx``; exports carry their labels),
``--source`` (``csi``, ``csi:1`` for the second sensor, ``0`` or ``/dev/video1`` for USB,
``rtsp://...``), ``--broker`` and ``--device-id``.

RTSP output is not built in. To restream the annotated video, replace the MP4 writer with
an OpenCV GStreamer writer pushing to an RTSP server such as mediamtx::

    cv2.VideoWriter("appsrc ! videoconvert ! nvv4l2h264enc ! h264parse ! "
                    "rtspclientsink location=rtsp://127.0.0.1:8554/annotated",
                    cv2.CAP_GSTREAMER, 0, 30.0, (1280, 720))

(``x264enc tune=zerolatency`` instead of ``nvv4l2h264enc`` off the Jetson.)
"""

from __future__ import annotations

import argparse
import socket
import sys
import time
from pathlib import Path
from typing import Any

CSI_PIPELINE = (
    "gst:nvarguscamerasrc sensor-id={sensor} ! video/x-raw(memory:NVMM),width={width},height={height},"
    "framerate={fps}/1 ! nvvidconv ! video/x-raw,format=BGRx ! videoconvert ! video/x-raw,format=BGR ! "
    "appsink drop=true max-buffers=1"
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="CSI pipeline used by --source csi (with the defaults):\n  "
                                     + CSI_PIPELINE.format(sensor=0, width=1280, height=720, fps=30))
    parser.add_argument("--source", default="csi",
                        help="csi, csi:N (CSI sensor N), 0 or /dev/videoN (USB), gst:<pipeline>, rtsp://..., or a file")
    parser.add_argument("--model", type=Path, default=Path("yolov8n.onnx"), help="ONNX detector with its card")
    parser.add_argument("--accelerator", default="auto", help="auto, tensorrt, cuda or cpu")
    parser.add_argument("--broker", default="127.0.0.1:1883", help="MQTT broker host:port")
    parser.add_argument("--device-id", default=socket.gethostname().split(".")[0] or "jetson", help="name in topics")
    parser.add_argument("--stream", default="csi0", help="stream name in topics and results")
    parser.add_argument("--video", type=Path, default=Path("annotated.mp4"), help="annotated MP4 output")
    parser.add_argument("--jsonl", default="-", help="JSON-lines file when no broker answers (- for stdout)")
    parser.add_argument("--queue", default=None, help="MQTT store-and-forward queue file (default: state dir)")
    parser.add_argument("--width", type=int, default=1280, help="camera width, pixels")
    parser.add_argument("--height", type=int, default=720, help="camera height, pixels")
    parser.add_argument("--fps", type=int, default=30, help="camera frame rate")
    parser.add_argument("--max-frames", type=int, default=0, help="stop after this many results (0: never)")
    return parser.parse_args(argv)


def source_uri(args: argparse.Namespace) -> str:
    """Expand ``csi``/``csi:N`` into the Jetson GStreamer pipeline; pass anything else through."""
    if args.source == "csi" or args.source.startswith("csi:"):
        sensor = args.source.partition(":")[2] or "0"
        return CSI_PIPELINE.format(sensor=sensor, width=args.width, height=args.height, fps=args.fps)
    return str(args.source)


def print_plan(model: Any) -> None:
    """Which execution provider runs the model, and why each other one was skipped."""
    print(f"model {model.name}: {model.card.task} on {model.accelerator}; labels {model.card.labels}",
          file=sys.stderr)
    for step in model.plan:
        print(f"  {step.accelerator:<9} {step.status:<10} {step.reason}", file=sys.stderr)


class ConsoleSink:
    """Prints one line per result and counts them (a sink is send, flush and close)."""

    def __init__(self) -> None:
        self.count = 0

    def send(self, envelope: dict[str, Any], *, frame: Any = None, result: Any = None) -> None:
        self.count += 1
        found = envelope["result"].get("detections", [])
        labels = " ".join(f"{d['label']}:{d['score']:.2f}" for d in found)
        print(f"frame {envelope['frame_index']:5d}  {len(found)} objects  {labels}  "
              f"{envelope['latency_ms']:.1f} ms", file=sys.stderr)

    def flush(self, timeout_s: float) -> bool:
        return True

    def close(self) -> None:
        return None


def result_sink(args: argparse.Namespace) -> tuple[Any, str]:
    """An MQTT sink when the broker answers, else JSON lines; and where results go."""
    from edgeinfer.sinks import registry

    host, _, port = args.broker.rpartition(":")
    try:
        with socket.create_connection((host or "127.0.0.1", int(port)), timeout=1.0):
            pass
    except (OSError, ValueError):
        where = "stdout" if args.jsonl == "-" else args.jsonl
        print(f"no MQTT broker answered at {args.broker}; writing JSON lines to {where}", file=sys.stderr)
        return registry.get("jsonl")(None if args.jsonl == "-" else args.jsonl), f"jsonl {where}"  # type: ignore[call-arg]
    from edgeinfer.sinks.mqtt_options import MqttOptions

    options = MqttOptions(host=host or "127.0.0.1", port=int(port), queue_path=args.queue)
    topic = options.topic.format(device_id=args.device_id, stream=args.stream, model="")
    return registry.get("mqtt")(options, device_id=args.device_id), f"mqtt {args.broker} {topic}"  # type: ignore[call-arg]


def run(pipeline: Any, console: ConsoleSink, max_frames: int) -> Any:
    """Run until the source ends, ``max_frames`` results, or Ctrl-C; returns the final stats."""
    pipeline.start()
    try:
        while not pipeline.finished and not (max_frames and console.count >= max_frames):
            time.sleep(0.05)
    except KeyboardInterrupt:
        print("stopping", file=sys.stderr)
    finally:
        pipeline.close()  # finish frames in flight, flush and close every sink (the MP4 too)
    pipeline.raise_error()
    return pipeline.stats()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    import edgeinfer
    from edgeinfer.pipeline import Pipeline
    from edgeinfer.sinks import registry
    from edgeinfer.sources import open_source

    model = edgeinfer.load(args.model, accelerator=args.accelerator)
    print_plan(model)
    source = open_source(source_uri(args), width=args.width, height=args.height, fps=args.fps, name=args.stream)
    console = ConsoleSink()
    sink, target = result_sink(args)
    video = registry.get("video")(args.video, fps=float(args.fps))  # type: ignore[call-arg]
    pipeline = Pipeline(source, model, [console, sink, video], device_id=args.device_id, stream_name=args.stream)
    try:
        stats = run(pipeline, console, args.max_frames)
    finally:
        model.close()
    print(f"{stats.frames_published} frames, capture {stats.fps.get('capture', 0):.1f} fps, "
          f"latency p50 {stats.latency_ms.get('p50', 0):.1f} ms on {model.accelerator}; "
          f"results -> {target}; annotated video -> {args.video}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
