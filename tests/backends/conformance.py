"""The tests every backend passes; a backend's test module subclasses :class:`BackendConformance`.

A subclass sets ``kind`` (the registry key, the backend's ``FORMAT``) and provides real
tiny models and the runtime itself as the reference:

- ``float_model()`` and ``quantized_model(tmp_path)``: model bytes;
- ``direct(model, feeds)``: the outputs of the runtime called directly (native dtypes);
- ``unrunnable_model()``: bytes that pass the format's checks but the runtime refuses;
- ``failing_model()``: bytes that load, and whose first inference fails inside the runtime;
- ``absent_step()``: a plan step for a declared accelerator that cannot be used here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import edgeinfer
from devices.types import BackendProbe, PlanStep
from edgeinfer.backends import Backend, backend_class, declaration, kinds, plan, probe, probe_cached
from edgeinfer.backends.quant import dequantize, quantize
from edgeinfer.errors import AcceleratorError, ModelError
from edgeinfer.formats import open_model_file
from edgeinfer.types import TensorSpec


def random_feeds(specs: list[TensorSpec], seed: int = 0) -> list[np.ndarray]:
    """Float inputs in 0..1 for every input (batch 1 where the batch is dynamic)."""
    rng = np.random.default_rng(seed)
    shapes = [tuple(1 if d < 0 else d for d in spec.shape) for spec in specs]
    return [rng.uniform(0, 1, shape).astype(np.float32) for shape in shapes]


class BackendConformance:
    kind = ""

    def float_model(self) -> bytes:
        raise NotImplementedError

    def quantized_model(self, tmp_path: Path) -> bytes:
        raise NotImplementedError

    def direct(self, model: bytes, feeds: list[np.ndarray]) -> list[np.ndarray]:
        raise NotImplementedError

    def unrunnable_model(self) -> bytes:
        raise NotImplementedError

    def failing_model(self) -> bytes:
        raise NotImplementedError

    def absent_step(self) -> PlanStep:
        raise NotImplementedError

    # -- helpers ---------------------------------------------------------------------------

    def open(self, model: bytes, step: PlanStep | None = None) -> Backend:
        model_file = open_model_file(model)
        if step is None:
            step = next(s for s in plan(probe_cached([self.kind]), self.kind) if s.status == "try")
        return backend_class(self.kind).open(model_file, step, None)

    # -- the declaration -------------------------------------------------------------------

    def test_declares_its_format_and_accelerators(self) -> None:
        cls = backend_class(self.kind)
        assert self.kind in kinds()
        assert self.kind == cls.FORMAT
        assert cls.ACCELERATORS and len(set(cls.ACCELERATORS)) == len(cls.ACCELERATORS)
        assert all(isinstance(name, str) and name for name in cls.ACCELERATORS)
        assert declaration(self.kind).accelerators == tuple(cls.ACCELERATORS)

    def test_probe_answers_for_declared_accelerators_only(self, tmp_path: Path) -> None:
        cls = backend_class(self.kind)
        found = cls.probe(tmp_path)
        assert isinstance(found, BackendProbe)
        assert {a.backend for a in found.accelerators} <= {self.kind}
        assert {a.name for a in found.accelerators} <= set(cls.ACCELERATORS)
        assert all(a.evidence for a in found.accelerators)

    def test_inventory_lists_every_declared_accelerator_in_order(self, tmp_path: Path) -> None:
        inventory = probe(tmp_path, backends=[self.kind])
        assert [a.name for a in inventory.accelerators] == list(backend_class(self.kind).ACCELERATORS)
        assert [s.accelerator for s in plan(inventory, self.kind)] == list(backend_class(self.kind).ACCELERATORS)

    # -- opening and running ---------------------------------------------------------------

    def test_open_gives_input_and_output_specs(self) -> None:
        backend = self.open(self.float_model())
        try:
            for spec in (*backend.inputs, *backend.outputs):
                assert isinstance(spec, TensorSpec)
                assert spec.name and isinstance(spec.dtype, np.dtype)
                assert all(isinstance(d, int) for d in spec.shape)
            assert backend.inputs and backend.outputs
        finally:
            backend.close()

    def test_run_float_model_equals_the_runtime(self) -> None:
        model = self.float_model()
        backend = self.open(model)
        try:
            feeds = random_feeds(backend.inputs)
            results = backend.run(feeds)
        finally:
            backend.close()
        assert len(results) == len(backend.outputs)
        for got, want in zip(results, self.direct(model, feeds), strict=True):
            np.testing.assert_array_equal(got, want)

    def test_run_quantized_model_quantizes_inputs_and_dequantizes_outputs(self, tmp_path: Path) -> None:
        model = self.quantized_model(tmp_path)
        backend = self.open(model)
        try:
            feeds = random_feeds(backend.inputs, seed=1)
            native = [quantize(x, s) if s.quant is not None else x for x, s in zip(feeds, backend.inputs, strict=True)]
            raw = backend.run(feeds, raw=True)
            floats = backend.run(feeds)
            again = backend.run(native, raw=True)  # already quantized feeds pass as they are
        finally:
            backend.close()
        want = self.direct(model, native)
        for spec, got_raw, got, got_again, expected in zip(backend.outputs, raw, floats, again, want, strict=True):
            np.testing.assert_array_equal(got_raw, expected)
            np.testing.assert_array_equal(got_again, expected)
            assert got_raw.dtype == spec.dtype
            np.testing.assert_array_equal(got, dequantize(expected, spec))
            assert got.dtype.kind == "f"

    def test_close_is_idempotent_and_a_closed_model_refuses_to_run(self) -> None:
        backend = self.open(self.float_model())
        backend.close()
        backend.close()
        model = edgeinfer.load(self.float_model())
        feeds = random_feeds(model.inputs)
        model.close()
        with pytest.raises(ModelError, match="closed"):
            model.run({s.name: x for s, x in zip(model.inputs, feeds, strict=True)})

    def test_model_load_runs_on_it(self) -> None:
        model_bytes = self.float_model()
        with edgeinfer.load(model_bytes) as model:
            assert model.kind == self.kind
            assert model.accelerator in backend_class(self.kind).ACCELERATORS
            feeds = random_feeds(model.inputs, seed=2)
            out = model.run({s.name: x for s, x in zip(model.inputs, feeds, strict=True)})
            with model.replica() as twin:
                again = twin.run({s.name: x for s, x in zip(model.inputs, feeds, strict=True)})
        for got, want, same in zip(out.values(), self.direct(model_bytes, feeds), again.values(), strict=True):
            np.testing.assert_array_equal(got, want)
            np.testing.assert_array_equal(same, want)

    # -- errors ----------------------------------------------------------------------------

    def test_a_model_the_runtime_refuses_is_a_model_error(self) -> None:
        with pytest.raises(ModelError) as err:
            self.open(self.unrunnable_model())
        assert "<bytes>" in str(err.value)

    def test_a_model_that_fails_while_running_is_a_model_error(self) -> None:
        backend = self.open(self.failing_model())
        try:
            with pytest.raises(ModelError, match=r"<bytes>: the model failed while running: .*again") as err:
                backend.run(random_feeds(backend.inputs))
            assert not isinstance(err.value, ValueError)  # not an InputError: the input was right
        finally:
            backend.close()

    def test_an_accelerator_that_cannot_be_used_is_an_accelerator_error(self) -> None:
        step = self.absent_step()
        assert step.accelerator in backend_class(self.kind).ACCELERATORS
        with pytest.raises(AcceleratorError):
            self.open(self.float_model(), step)
