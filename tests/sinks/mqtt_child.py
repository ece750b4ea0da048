"""A child process for the crash tests: ``python mqtt_child.py MODE HOST PORT QUEUE DEVICE N``.

Modes: ``queue`` sends N envelopes, prints QUEUED and waits to be killed; ``deliver``
flushes what an earlier process left on disk and prints the stats as JSON; ``online``
connects, prints CONNECTED and waits to be killed.
"""

from __future__ import annotations

import json
import sys
import time

from edgeinfer.sinks import make_envelope
from edgeinfer.sinks.mqtt import MqttOptions, MqttSink


def main(argv: list[str]) -> None:
    mode, host, port, queue_path, device_id, count = argv
    options = MqttOptions(host=host, port=int(port), queue_path=queue_path, keepalive_s=5)
    sink = MqttSink(options, device_id=device_id)
    if mode == "queue":
        for i in range(int(count)):
            sink.send(make_envelope(device_id=device_id, stream="front", frame_index=i, result={"i": i}))
        print("QUEUED", flush=True)
        time.sleep(600)
    elif mode == "online":
        sink.wait_connected(10.0)
        print("CONNECTED", flush=True)
        time.sleep(600)
    elif mode == "deliver":
        delivered = sink.flush(15.0)
        print(json.dumps({"delivered": delivered, **sink.stats()}), flush=True)
        sink.close()


if __name__ == "__main__":
    main(sys.argv[1:])
