"""``edgeinfer run CONFIG.yaml``: streams -> models -> sinks as a long-lived service.

The daemon owns the sinks (one MQTT session shared by every stream), one
:class:`~edgeinfer.pipeline.Pipeline` per stream, the health timer and the remote-control
topic. Every sink is built the same way, by :func:`edgeinfer.sinks.build_sink` from its
entry in ``sinks:`` (plus a ``live`` sink for the ``http:`` page); health
(:mod:`edgeinfer.health`) and commands (:mod:`edgeinfer.control`) use the first sink that
is a message :class:`~edgeinfer.sinks.Connection` (the MQTT sink).

SIGTERM/SIGINT stop the sources, finish in-flight frames, flush the queue and exit 0;
SIGHUP reloads the config without dropping the MQTT session. When every source is finite
(files, folders) and has ended, the daemon flushes and exits 0, or 75 (``SinkError``) when
results are still undelivered (the broker was not reached): they stay queued on disk for
the next start, and 75 tells the supervisor to retry.
"""

from __future__ import annotations

import contextlib
import json
import logging
import queue
import signal
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from edgeinfer.config import DaemonConfig, load_config
from edgeinfer.control import (
    CommandChannel,
    CommandError,
    ModelSwitch,
    decode_command,
    load_switched_model,
    parse_command,
    resolve_model_switch,
)
from edgeinfer.errors import EdgeInferError, SinkError
from edgeinfer.health import health_document, publish_health
from edgeinfer.sinks import Connection, SinkContext, build_sink, undelivered
from edgeinfer.sinks.live import LiveFrames, LiveSinkConfig

__all__ = ["Daemon", "run_daemon"]

log = logging.getLogger("edgeinfer.daemon")

POLL_S = 0.2
STOP_TIMEOUT_S = 5.0


@dataclass
class _Stream:
    name: str
    model: Any
    pipeline: Any


_Kept = list[tuple[tuple[Any, ...], Any]]  # (_sink_key, sink); compared with ==, configs may not hash


def _sink_key(spec: Any, config: DaemonConfig) -> tuple[Any, ...]:
    """A sink's identity across reloads: its config and the daemon keys it ``uses``."""
    return (spec, *(getattr(config, key) for key in getattr(spec, "uses", ())))


def _find(kept: _Kept, key: tuple[Any, ...]) -> Any:
    return next((sink for k, sink in kept if k == key), None)


def _sink_specs(config: DaemonConfig) -> list[Any]:
    """The configured sinks, plus the live view the ``http:`` page shows."""
    specs = list(config.sinks)
    if config.http is not None and not any(isinstance(s, LiveSinkConfig) for s in specs):
        specs.append(LiveSinkConfig())
    return specs


class Daemon:
    """Run the streams of a :class:`~edgeinfer.config.DaemonConfig` until stopped or finished.

    Args:
        config: The validated configuration.
        config_path: Where it was read from (needed for reloads).
    """

    def __init__(self, config: DaemonConfig, config_path: Path | None = None) -> None:
        self.config = config
        self.config_path = config_path
        self.started_at = time.time()
        self.connection: Connection | None = None
        self.commands: CommandChannel | None = None
        self.live: LiveFrames | None = None
        self._sinks: list[Any] = []
        self._kept: _Kept = []  # the sinks that survive a reload unchanged
        self._streams: dict[str, _Stream] = {}
        self._stop = threading.Event()
        self._reload = threading.Event()
        self._commands: queue.Queue[bytes] = queue.Queue()
        self._paused = False
        self._http: Any = None
        self._ended = False  # every source ended (a finite run), not a stop
        self._left: list[str] = []  # what the sinks could not deliver before closing

    # -- lifecycle ------------------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the main loop to stop (signal-safe)."""
        self._stop.set()

    def request_reload(self) -> None:
        """Ask the main loop to reload the config file (signal-safe)."""
        self._reload.set()

    def run(self) -> int:
        """Start everything, loop until stopped or every finite source ended, then shut down.

        Returns:
            The exit code (0 after a clean stop).

        Raises:
            EdgeInferError: start-up failed (bad model, missing camera, broker refused ...).
            SinkError: every source ended but results were left undelivered (exit 75).
        """
        restore = self._install_signal_handlers()
        try:
            self._start_sinks(self.config)
            self._start_streams(self.config)
            self._start_http()
            self._loop()
        finally:
            self._shutdown()
            restore()
        if self._left:
            left = "; ".join(self._left)
            if self._ended:
                raise SinkError(f"every source has ended, but results were not delivered: {left}")
            log.warning("stopped with results not delivered: %s", left)
        return 0

    def _install_signal_handlers(self) -> Any:
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)}
        signal.signal(signal.SIGTERM, lambda *_: self.request_stop())
        signal.signal(signal.SIGINT, lambda *_: self.request_stop())
        signal.signal(signal.SIGHUP, lambda *_: self.request_reload())

        def restore() -> None:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

        return restore

    def _loop(self) -> None:
        next_health = time.monotonic()
        while not self._stop.is_set():
            if self._reload.is_set():
                self._reload.clear()
                with contextlib.suppress(CommandError):  # logged; the running config stays in force
                    self._do_reload()
            self._drain_commands()
            if time.monotonic() >= next_health:
                self.publish_health()
                next_health = time.monotonic() + self.config.health_interval_s
            if self._streams and all(s.pipeline.finished for s in self._streams.values()):
                log.info("every source has ended; flushing and exiting")
                self._ended = True
                break
            self._stop.wait(POLL_S)

    def _shutdown(self) -> None:
        for stream in list(self._streams.values()):
            self._stop_stream(stream)
        self._streams.clear()
        if self.connection is not None:
            self.publish_health()
        self._left = self._close_sinks(keep=[])
        self._sinks.clear()
        if self._http is not None:
            self._http.stop()

    # -- building blocks ------------------------------------------------------------------

    def _start_sinks(self, config: DaemonConfig, kept: _Kept | None = None) -> None:
        """Build the sinks of ``config``, reusing ``kept`` ones (same key) instead of building them."""
        context = SinkContext(config.device_id, config, self.stream_stats)
        now_kept: _Kept = []
        sinks: list[Any] = []
        for spec in _sink_specs(config):
            key = _sink_key(spec, config)
            sink = _find([*(kept or []), *now_kept], key)
            if sink is None:
                sink = build_sink(spec, context)
            if getattr(spec, "keep_on_reload", False):
                now_kept.append((key, sink))
            sinks.append(sink)
        self._sinks, self._kept = sinks, now_kept
        self.live = next((s for s in sinks if isinstance(s, LiveFrames)), None)
        connection = next((s for s in sinks if isinstance(s, Connection)), None)
        if connection is not self.connection:
            self.connection = connection
            # control disabled: nobody on the broker can steer this device
            self.commands = (CommandChannel(connection, config.device_id, self._commands.put)
                             if connection is not None and config.control.enabled else None)

    def _close_sinks(self, keep: list[Any]) -> list[str]:
        """Flush and close each running sink once, except those in ``keep``; returns what
        the sinks that did not flush in time still held (:func:`~edgeinfer.sinks.undelivered`)."""
        closed: list[Any] = []
        left: list[str] = []
        for sink in self._sinks:
            if any(sink is k for k in keep) or any(sink is c for c in closed):
                continue
            closed.append(sink)
            try:
                if not sink.flush(STOP_TIMEOUT_S):
                    left.append(undelivered(sink))
            finally:
                sink.close()
        return left

    def _start_streams(self, config: DaemonConfig) -> None:
        for stream_config in config.streams:
            self._streams[stream_config.name] = self._start_stream(stream_config, config)

    def _start_stream(self, stream_config: Any, config: DaemonConfig, model: Any = None) -> _Stream:
        import edgeinfer
        from edgeinfer.pipeline import Pipeline
        from edgeinfer.sources import open_source

        if model is None and stream_config.model.suffix.lower() in (".yaml", ".yml"):
            model = edgeinfer.load_ocr(stream_config.model, accelerator=stream_config.accelerator)  # an OCR card
        elif model is None:
            model = edgeinfer.load(stream_config.model, accelerator=stream_config.accelerator,
                                   threads=stream_config.threads, card=stream_config.card)
        if stream_config.card_overrides:
            model.card = model.card.merged(stream_config.card_overrides)
        source = None
        try:
            source = open_source(stream_config.source, width=stream_config.width, height=stream_config.height,
                                 fps=stream_config.fps, policy=stream_config.policy, loop=stream_config.loop,
                                 name=stream_config.name)
            events = stream_config.event_setup(journal=config.events_journal(stream_config.name))
            pipeline = Pipeline(source, model, self._sinks, device_id=config.device_id,
                                stream_name=stream_config.name, gate=stream_config.gate, workers=stream_config.workers,
                                tracker=stream_config.tracker, events=events)
        except BaseException:
            if source is not None:
                source.close()
            model.close()
            raise
        if self._paused:
            pipeline.pause()
        pipeline.start()
        log.info("stream %s: %s -> %s on %s", stream_config.name, stream_config.source, model.name,
                 model.accelerator)
        return _Stream(stream_config.name, model, pipeline)

    def _stop_stream(self, stream: _Stream) -> None:
        try:
            stream.pipeline.stop(STOP_TIMEOUT_S)
        finally:
            stream.model.close()

    def _start_http(self) -> None:
        """Serve the local page and API (:mod:`edgeinfer.serve`) from a background thread."""
        if self.config.http is None or self.live is None:
            return
        from edgeinfer.serve import create_app, start_in_thread

        http = self.config.http
        token = None if http.token is None else http.token.get_secret_value()

        def current_model() -> Any:
            first = next(iter(self._streams.values()), None)
            return None if first is None else first.model

        # start_in_thread ends open MJPEG streams before uvicorn's graceful shutdown, so a
        # watcher never holds the daemon up; it returns once the port listens.
        self._http = start_in_thread(create_app(current_model, token=token, live=self.live), http.host, http.port)
        log.info("live view on %s", self._http.url)

    # -- health, reload, commands ---------------------------------------------------------

    def stream_stats(self) -> dict[str, dict[str, Any]]:
        """Per-stream pipeline stats plus the model and accelerator in use."""
        out = {}
        for name, stream in list(self._streams.items()):
            stats = stream.pipeline.stats().to_dict()
            stats.update(model=stream.model.name, accelerator=stream.model.accelerator)
            out[name] = stats
        return out

    def publish_health(self) -> dict[str, Any]:
        """Build the health document, log it, and publish it (retained) when MQTT is configured."""
        sinks = {type(s).__name__: s.stats() for s in self._sinks if hasattr(s, "stats")}
        doc = health_document(self.config.device_id, self.started_at, self.stream_stats(), sinks,
                              paused=self._paused)
        log.info("health: %s", json.dumps({k: doc[k] for k in ("uptime_s", "queue_depth", "dropped")}))
        if self.connection is not None:
            publish_health(self.connection, self.config.device_id, doc)
        return doc

    def _do_reload(self) -> str:
        if self.config_path is None:
            raise CommandError("this daemon was not started from a config file; nothing to reload")
        try:
            new = load_config(self.config_path)
        except EdgeInferError as exc:
            log.error("reload failed, keeping the running config: %s", exc)
            raise CommandError(f"reload failed, keeping the running config: {exc}") from exc
        old = self.config
        try:
            keep_mqtt = self._switch_config(new)
        except EdgeInferError as exc:
            log.error("reload failed while starting, going back to the running config: %s", exc)
            self._switch_config(old)
            raise CommandError(f"reload failed, keeping the running config: {exc}") from exc
        log.info("config reloaded from %s (MQTT session %s)", self.config_path, "kept" if keep_mqtt else "renewed")
        return f"reloaded {len(new.streams)} stream(s)"

    def _switch_config(self, new: DaemonConfig) -> bool:
        """Stop the streams and sinks, then start ``new``; sinks that are kept on reload (the
        MQTT session, the live view) stay when their config is unchanged. True when the
        message connection was kept."""
        for stream in list(self._streams.values()):
            self._stop_stream(stream)
        self._streams.clear()
        keys = [_sink_key(spec, new) for spec in _sink_specs(new)]
        kept = [(key, sink) for key, sink in self._kept if key in keys]
        self._close_sinks(keep=[sink for _, sink in kept])
        old_connection = self.connection
        if not any(old_connection is sink for _, sink in kept):
            self.connection = self.commands = None
        self.config = new
        self._start_sinks(new, kept)
        self._start_streams(new)
        return old_connection is not None and self.connection is old_connection

    def _drain_commands(self) -> None:
        while True:
            try:
                payload = self._commands.get_nowait()
            except queue.Empty:
                return
            reply = self.handle_command(payload)
            if self.commands is not None:
                self.commands.reply(reply)

    def handle_command(self, payload: bytes | str | dict[str, Any]) -> dict[str, Any]:
        """Run one remote command and return the reply ``{"id", "cmd", "ok", "message"}``."""
        command: dict[str, Any] = {}
        try:
            command = decode_command(payload)
            command = parse_command(command)
            message = self._dispatch(command)
            return {"id": command.get("id"), "cmd": command["cmd"], "ok": True, "message": message}
        except (CommandError, EdgeInferError) as exc:
            log.warning("command %r refused: %s", command.get("cmd"), exc)
            return {"id": command.get("id"), "cmd": command.get("cmd"), "ok": False, "message": str(exc)}

    def _dispatch(self, command: dict[str, Any]) -> str:
        name = command["cmd"]
        if name == "reload":
            return self._do_reload()
        if name in ("pause", "resume"):
            self._paused = name == "pause"
            for stream in self._streams.values():
                getattr(stream.pipeline, name)()
            return f"{name}d {len(self._streams)} stream(s)"
        if name == "status":
            return json.dumps(self.publish_health(), default=str)
        return self._switch_model(resolve_model_switch(command, self.config.control.model_dir, list(self._streams)))

    def _switch_model(self, switch: ModelSwitch) -> str:
        stream = self._streams[switch.stream]
        stream_config = next(s for s in self.config.streams if s.name == switch.stream)
        try:
            model = load_switched_model(switch, accelerator=stream_config.accelerator, threads=stream_config.threads)
        except EdgeInferError as exc:  # the running model was not touched
            reason = str(exc).removeprefix(f"{switch.path.name}: ")
            raise CommandError(f"{switch.path.name} refused, stream {switch.stream} keeps running "
                               f"{stream.model.name}: {reason}") from exc
        self._stop_stream(stream)
        self._streams[switch.stream] = self._start_stream(stream_config, self.config, model=model)
        return f"stream {switch.stream} now runs {switch.path.name} (sha256 {switch.sha256[:12]}...)"


def run_daemon(config_path: str | Path) -> int:
    """Load the config and run the daemon; returns the exit code."""
    config = load_config(config_path)
    logging.getLogger("edgeinfer").setLevel(config.log_level.upper())
    return Daemon(config, Path(config_path)).run()
