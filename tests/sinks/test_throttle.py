"""Throttle: on_change and max_rate_hz, per stream, with an injected clock."""

from __future__ import annotations

from typing import Any

import pytest

from edgeinfer.errors import ConfigError
from edgeinfer.sinks.throttle import Throttle


def env(stream: str, result: Any) -> dict[str, Any]:
    return {"stream": stream, "result": result}


def test_on_change_passes_changes_only_per_stream() -> None:
    throttle = Throttle(on_change=True)
    seen = [throttle.admit(env(s, r), now_s=0.0) for s, r in
            [("a", 1), ("a", 1), ("b", 1), ("a", 2), ("a", 2), ("a", 1), ("b", 1)]]
    assert seen == [True, False, True, True, False, True, False]


def test_max_rate_spaces_envelopes_per_stream() -> None:
    throttle = Throttle(max_rate_hz=2.0)
    times = [0.0, 0.1, 0.49, 0.5, 0.6, 1.0]
    assert [throttle.admit(env("a", t), now_s=t) for t in times] == [True, False, False, True, False, True]
    assert throttle.admit(env("b", 0), now_s=0.6)


def test_a_change_held_back_by_the_rate_passes_later() -> None:
    throttle = Throttle(on_change=True, max_rate_hz=1.0)
    assert throttle.admit(env("a", "cat"), now_s=0.0)
    assert not throttle.admit(env("a", "dog"), now_s=0.5)  # too soon
    assert throttle.admit(env("a", "dog"), now_s=1.0)  # still different from the last sent


def test_rate_must_be_positive() -> None:
    with pytest.raises(ConfigError, match="max_rate_hz must be positive"):
        Throttle(max_rate_hz=0)
