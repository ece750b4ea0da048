"""Draw README's events picture and example event: the real detector on the ``zone_line`` scene.

Trains the tests' tiny detector (about a minute), runs the scene through the pipeline with a
zone and a line, as ``edgeinfer predict scene.mp4 --track --zones`` would, and writes

* ``docs/images/events.jpg``: the frame with the most tracked objects, as the video sink
  draws it (zone and line with their counts, boxes with ``#track_id``), twice the size;
* ``docs/event.example.json``: the ``end`` event of the object that crossed the line.

Usage: ``.venv/bin/python scripts/make_events_picture.py [--detector DIR]`` (``DIR`` reuses
a detector built before).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--detector", type=Path, help="folder holding detector.onnx from an earlier run")
    args = parser.parse_args()

    import cv2

    import edgeinfer
    from edgeinfer.events import EventsConfig
    from edgeinfer.pipeline import Pipeline
    from edgeinfer.publishing import EventSetup
    from edgeinfer.sinks.memory import MemorySink
    from edgeinfer.sinks.video import VideoSink
    from edgeinfer.sources import ReplaySource
    from tests.events.scenes import FPS, render, scene_specs

    work = Path(tempfile.mkdtemp(prefix="events-picture-"))
    onnx = args.detector / "detector.onnx" if args.detector else None
    if onnx is None or not onnx.exists():
        from tests.e2e.detector import build_detector

        onnx = build_detector(work).onnx_path
    spec = next(s for s in scene_specs() if s.name == "zone_line")
    frames = render(spec)
    setup = EventSetup(
        zones={"door": {"polygon": [list(p) for p in spec.zone], "coords": "pixels"}},
        lines={"gate": {"points": [list(p) for p in spec.line], "coords": "pixels"}},
        events=EventsConfig(snapshots=None), publish=["events", "results"])
    memory = MemorySink()
    with edgeinfer.load(onnx) as model:
        Pipeline(ReplaySource([f.image for f in frames], fps=FPS), model, [memory, VideoSink(work / "frames")],
                 stream_name="front", device_id="cam-01", events=setup).run()
    ids = [{d["track_id"] for d in e["result"]["detections"] if d.get("track_id")} for e in memory.envelopes]
    # The scene's objects are the longest-followed tracks: show a frame with all of them and no
    # other (the tiny detector's short-lived false boxes), the latest one before the scene's end
    # third, once the cat has crossed the line.
    lives = Counter(i for frame in ids for i in frame)
    objects = {i for i, _ in lives.most_common(len(spec.movers))}
    clean = [i for i, frame in enumerate(ids) if frame == objects and i < 2 * len(ids) // 3] or [len(ids) // 2]
    best = clean[-1]
    tracked = [len(frame) for frame in ids]
    picture = cv2.imread(str(work / "frames" / f"front_{best:06d}.jpg"))
    if picture is None:
        picture = cv2.imread(str(sorted((work / "frames").glob(f"front_*{best}.jpg"))[0]))
    out = ROOT / "docs" / "images" / "events.jpg"
    out.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(out), cv2.resize(picture, None, fx=2, fy=2, interpolation=cv2.INTER_CUBIC),
                [cv2.IMWRITE_JPEG_QUALITY, 88])
    ends = [e for e in memory.events if e["type"] == "end"]
    example = next((e for e in ends if e["crossings"]), ends[0])
    text = json.dumps(example, indent=2)
    # One line per box and path point: [\n  1.0,\n  2.0\n] -> [1.0, 2.0]
    number_list = r"\[\s+([-\d.e]+(?:,\s+[-\d.e]+)*)\s+\]"
    text = re.sub(number_list, lambda m: "[" + " ".join(m[1].split()) + "]", text)
    (ROOT / "docs" / "event.example.json").write_text(text + "\n")
    print(f"{out} (frame {best}, {tracked[best]} tracked); docs/event.example.json ({example['event_id']})")


if __name__ == "__main__":
    main()
