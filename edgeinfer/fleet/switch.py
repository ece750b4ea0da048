"""The daemon's health-gated model switch for the fleet agent, with automatic rollback.

For a verified artifact the switch (on the agent's thread):

1. loads it beside the running model (``edgeinfer.load``) with the stream's accelerator,
   merges the card overrides, warms it up and runs a self-test: one inference on zeros
   of the input spec and one whole ``predict`` of a blank frame (preprocess, decode);
2. swaps it in between frames the way the ``model`` command does (the stream's pipeline
   is stopped after its in-flight frames and started again with the new model), in the
   daemon's own loop thread; the old model stays open;
3. watches the new pipeline for ``watch_s``: inference errors against
   ``max_error_rate`` and the frames/s against ``min_fps_ratio`` times the rate before
   the swap, and a failed pipeline;
4. rolls back to the old model when it regresses (or the start fails), and says why.
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from edgeinfer.errors import ConfigError
from edgeinfer.fleet.agent import FleetAgent
from edgeinfer.fleet.desired import DesiredState
from edgeinfer.fleet.signing import load_public_key

__all__ = ["DaemonSwitch", "self_test", "start_fleet"]

log = logging.getLogger("edgeinfer.fleet")

T = TypeVar("T")
MIN_FRAMES = 5  # frames seen before the error rate is judged
POLL_S = 0.25


def self_test(model: Any, width: int | None = None, height: int | None = None) -> None:
    """Warm the model up on zeros and decode one blank frame; raises what the model raises."""
    model.warm()
    model.predict(np.zeros((height or 120, width or 160, 3), np.uint8))


class DaemonSwitch:
    """``switch(stream, path, sha256, card, desired) -> (state, reason)`` for a :class:`~edgeinfer.daemon.Daemon`."""

    def __init__(self, daemon: Any) -> None:
        self.daemon = daemon

    def in_loop(self, fn: Callable[[], T], timeout_s: float = 30.0) -> T:
        """Run ``fn`` on the daemon's loop thread (between its commands) and return its result."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()

        def task() -> None:
            try:
                future.set_result(fn())
            except BaseException as exc:
                future.set_exception(exc)

        self.daemon._commands.put(task)
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                return future.result(POLL_S)
            except concurrent.futures.TimeoutError:
                if self.daemon._stop.is_set() or time.monotonic() > deadline:
                    raise RuntimeError("the daemon is stopping (or its loop is stuck); "
                                       "fleet switch abandoned") from None

    def _stats(self, name: str) -> dict[str, Any]:
        pipeline = self.daemon._streams[name].pipeline
        stats = dict(pipeline.stats().to_dict())
        try:
            pipeline.raise_error()
        except Exception as exc:  # why a failed pipeline stopped
            stats["error"] = str(exc)
        return stats

    def _swap(self, name: str, model: Any) -> Any:
        """Stop the stream's pipeline (not its model), start it with ``model``; returns the old model."""
        from edgeinfer.daemon import STOP_TIMEOUT_S

        daemon = self.daemon
        stream = daemon._streams[name]
        config = next(s for s in daemon.config.streams if s.name == name)
        stream.pipeline.stop(STOP_TIMEOUT_S)
        try:
            daemon._streams[name] = daemon._start_stream(config, daemon.config, model=model)
        except BaseException:
            daemon._streams[name] = daemon._start_stream(config, daemon.config, model=stream.model)
            raise
        return stream.model

    def __call__(self, name: str, path: Path, sha256: str, card: dict[str, Any],
                 desired: DesiredState) -> tuple[str, str | None]:
        import edgeinfer

        config = next(s for s in self.daemon.config.streams if s.name == name)
        old_name = self.in_loop(lambda: self.daemon._streams[name].model.name)
        try:
            model = edgeinfer.load(path, accelerator=config.accelerator, threads=config.threads)
        except Exception as exc:
            return "failed", f"{path.name} does not load, stream {name} keeps running {old_name}: {exc}"
        try:
            if card or config.card_overrides:
                model.card = model.card.merged({**config.card_overrides, **card})
            self_test(model, config.width, config.height)
        except Exception as exc:
            model.close()
            return "failed", f"{path.name} failed its self-test, stream {name} keeps running {old_name}: {exc}"
        baseline = self.in_loop(lambda: self._stats(name))
        try:
            old = self.in_loop(lambda: self._swap(name, model))
        except Exception as exc:
            return "failed", f"stream {name} could not start with {path.name} and keeps running {old_name}: {exc}"
        problem = self._watch(name, desired, baseline)
        if problem is None:
            old.close()
            log.info("fleet: stream %s runs %s (sha256 %s...)", name, path.name, sha256[:12])
            return "running", None
        self.in_loop(lambda: self._swap(name, old)).close()
        log.warning("fleet: stream %s rolled back to %s: %s", name, old_name, problem)
        return "rolled_back", f"{problem}; rolled back to {old_name}"

    def _watch(self, name: str, desired: DesiredState, baseline: dict[str, Any]) -> str | None:
        """Why the new model regresses, or ``None`` when it stayed healthy for ``watch_s``."""
        base_fps = float(baseline.get("fps", {}).get("infer") or 0.0)
        started = time.monotonic()
        stats = self.in_loop(lambda: self._stats(name))
        while True:
            stats = self.in_loop(lambda: self._stats(name))
            tried = stats["frames_inferred"] + stats["inference_errors"]
            if stats["state"] == "failed":
                return f"the stream's pipeline failed with the new model: {stats.get('error', 'unknown error')}"
            if tried >= MIN_FRAMES and stats["inference_errors"] / tried > desired.max_error_rate:
                return (f"{stats['inference_errors']} of {tried} frames failed at inference "
                        f"(max_error_rate {desired.max_error_rate:g})")
            if time.monotonic() - started >= desired.watch_s:
                break
            time.sleep(POLL_S)
        fps = float(stats.get("fps", {}).get("infer") or 0.0)
        if base_fps > 0 and tried >= MIN_FRAMES and fps < desired.min_fps_ratio * base_fps:
            return f"inference ran at {fps:.1f} frames/s, under {desired.min_fps_ratio:g} x {base_fps:.1f} before"
        return None


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def start_fleet(daemon: Any) -> FleetAgent | None:
    """Start the fleet agent of a daemon whose config has a ``fleet:`` section (else ``None``).

    Raises:
        ConfigError: ``fleet:`` without a message connection (the ``mqtt`` sink), or a bad public key.
    """
    fleet = getattr(daemon.config, "fleet", None)
    if fleet is None:
        return None
    if daemon.connection is None:
        raise ConfigError("fleet: needs the MQTT connection; add mqtt: and the mqtt sink to the config")
    running = {s.name: _sha256(s.model) for s in daemon.config.streams}
    agent = FleetAgent(daemon.config.device_id, fleet.groups, fleet.artifact_dir, load_public_key(fleet.public_key),
                       daemon.connection, switch=DaemonSwitch(daemon), running=running,
                       max_bytes=int(fleet.max_artifact_mb * 2**20), ca_file=fleet.ca_file,
                       allow_http=fleet.allow_http)
    agent.start()
    log.info("fleet: following %s", ", ".join(agent.topics))
    return agent
