"""The model files that crashed edgeinfer or its runtimes, as fixed mutation recipes.

Each entry is ``name -> (format, recipe)``: the recipe takes the float base model of that
format (tests/model_factory.py) and returns the mutated bytes and what it changed, so the
corpus holds no binary files. tests/core/test_fuzz_models.py says what each must raise now.
"""

from __future__ import annotations

import numpy as np

from tests.model_mutations import (
    Recipe,
    onnx_edit,
    set_dims,
    set_graph_io,
    set_node_input,
    set_op_index,
    set_opcode,
    set_tensor,
    tflite_edit,
    with_dim_param_bytes,
    with_raw_metadata,
)

__all__ = ["REGRESSIONS"]

REGRESSIONS: dict[str, tuple[str, Recipe]] = {
    # LiteRT SIGSEGV in allocate_tensors (XNNPACK): a negative operator input index.
    "tflite-op-input-negative": ("tflite", lambda b: tflite_edit(b, set_op_index(0, 0, "inputs", 0, -5))),
    "tflite-op-input-negative-last": ("tflite", lambda b: tflite_edit(b, set_op_index(0, 1, "inputs", 1, -5))),
    # UnicodeDecodeError at load: metadata_props bytes that are not UTF-8.
    "onnx-metadata-not-utf8": ("onnx", lambda b: with_raw_metadata(b, b"\xff\xfe", b"\x80abc")),
    # numpy MemoryError at run: an input declared as [1, 3, 2147483648, 32].
    "onnx-huge-input-dim": ("onnx", lambda b: onnx_edit(b, set_dims("input", 0, [1, 3, 2147483648, 32]))),
    # onnxruntime Fail at run: a channel mismatch inside the graph (4 channels into a 3-channel Conv).
    "onnx-channel-mismatch": ("onnx", lambda b: onnx_edit(b, set_dims("input", 0, [1, 4, 16, 16]))),
    # onnxruntime Fail at run: a Conv bias of the wrong shape.
    "onnx-bias-mismatch": ("onnx", lambda b: onnx_edit(b, set_node_input(0, 2, "w2"))),
    # Found by this harness: LiteRT SIGABRT when two operators write the same tensor.
    "tflite-tensor-written-twice": ("tflite", lambda b: tflite_edit(b, set_op_index(0, 4, "outputs", 0, 7))),
    # Found by this harness: SIGABRT (after other files in the same process) for a graph output -1.
    "tflite-graph-output-negative": ("tflite", lambda b: tflite_edit(b, set_graph_io(0, "outputs", 0, -1))),
    # Found by this harness: an input shape of 2**31 - 1, a MemoryError when allocating the input.
    "tflite-huge-input": ("tflite", lambda b: tflite_edit(b, set_tensor(0, 0, "shapeSignature",
                                                                        np.array([1, 32, 2**31 - 1, 3], np.int32)))),
    # Found by this harness: SIGSEGV (in a batch) for -1 as a required input: XNNPACK reads tensor -1.
    "tflite-required-input-missing": ("tflite", lambda b: tflite_edit(b, set_op_index(0, 0, "inputs", 0, -1))),
    # Found by this harness: SIGSEGV in allocate_tensors when an operator code turns CONV_2D into
    # STRIDED_SLICE or FULLY_CONNECTED into SPLIT: the kernels read options of another type.
    "tflite-conv-becomes-strided-slice": ("tflite", lambda b: tflite_edit(b, set_opcode(0, "builtinCode", 45))),
    "tflite-fully-connected-becomes-split": ("tflite", lambda b: tflite_edit(b, set_opcode(2, "builtinCode", 49))),
    # Found by this harness: UnicodeDecodeError from ONNX Runtime's NodeArg.shape for a symbolic
    # output dimension that is not UTF-8.
    "onnx-dim-param-not-utf8": ("onnx", lambda b: with_dim_param_bytes(b, b"\x9c\xff\xfe\x80")),
    # Found by this harness: an operator code cut off by a flipped offset (struct.error in Python).
    "tflite-opcode-outside-file": ("tflite", lambda b: (b[:-64], "cut the last 64 bytes")),
}
