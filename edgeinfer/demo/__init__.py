"""The end-to-end demo: train, convert, stream, publish, summarise, with nothing attached.

``edgeinfer demo`` trains a small CNN on the handwritten digits that ship inside
scikit-learn, converts it to int8 TFLite and ONNX with edgeinfer's converters, renders a
video of unseen digits as a stand-in camera, runs the live pipeline on it, publishes to
MQTT when a broker answers (JSON lines otherwise) and writes an annotated video, a plot
and a summary. A second run reuses what the first one built.

This package is the runtime half (data, video, streaming, summary); training and
conversion are :mod:`converters.demo`, given to :func:`run_demo` by the CLI, so nothing
here imports torch or the converters.
"""

from edgeinfer.demo.run import DemoOptions, ModelBuilder, run_demo

__all__ = ["DemoOptions", "ModelBuilder", "run_demo"]
