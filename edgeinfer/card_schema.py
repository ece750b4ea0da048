"""The model card's schema: what a card may say, validated once.

A card says what a model is for (task, labels), how frames become its input
(``preprocess``) and how its outputs become results (``postprocess``), plus where it came
from (``conversion``). Unknown keys and bad values raise ``ConfigError`` naming the key,
the value and the allowed choices. Where a model's card is found is :mod:`edgeinfer.card`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edgeinfer.errors import ConfigError

__all__ = [
    "BOX_TASKS",
    "CARD_KEY",
    "CardOrigin",
    "ConversionInfo",
    "LetterboxSpec",
    "ModelCard",
    "OcrSpec",
    "PostprocessSpec",
    "PreprocessSpec",
    "SsdAnchorsSpec",
    "StateSpec",
    "StreamSpec",
    "Task",
    "TokenizerSpec",
    "VadSpec",
    "parse",
    "validation_message",
]

CARD_KEY = "edgeinfer"
Task = Literal["classification", "detection", "segmentation", "regression", "raw",
               "pose", "obb", "instance_segmentation", "ocr", "vad", "embedding"]
# Tasks whose results are boxes decoded by ``postprocess.decoder`` (Detections and its subclasses).
BOX_TASKS = ("detection", "pose", "obb", "instance_segmentation")
CardOrigin = str  # "argument", "embedded", "sidecar", "ultralytics", "tflite-metadata", "default"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class LetterboxSpec(_Strict):
    """Letterbox placement: the resized frame sits centred or at the top-left."""

    align: Literal["center", "top_left"] = "center"
    pad_value: int = Field(114, ge=0, le=255)


class PreprocessSpec(_Strict):
    """How a BGR uint8 frame becomes the model input; pixel units are 0..255."""

    color: Literal["rgb", "bgr", "gray"] = "rgb"
    resize: Literal["stretch", "letterbox", "center_crop"] = "stretch"
    size_wh: tuple[int, int] | None = None
    letterbox: LetterboxSpec = LetterboxSpec()
    crop_fraction: float = Field(0.875, gt=0.0, le=1.0)
    mean: tuple[float, ...] = (0.0, 0.0, 0.0)
    std: tuple[float, ...] = (1.0, 1.0, 1.0)
    layout: Literal["nhwc", "nchw"] | None = None
    interpolation: Literal["auto", "area", "linear", "nearest"] = "auto"

    @field_validator("mean", "std", mode="before")
    @classmethod
    def _scalar_to_triple(cls, value: Any) -> Any:
        if isinstance(value, int | float):
            return (float(value),) * 3
        return value

    @field_validator("std")
    @classmethod
    def _std_nonzero(cls, value: tuple[float, ...]) -> tuple[float, ...]:
        if any(s == 0 for s in value):
            raise ValueError("std values must be non-zero (x = (pixel - mean) / std)")
        return value

    @model_validator(mode="after")
    def _channels_match(self) -> PreprocessSpec:
        for key in ("mean", "std"):
            values = getattr(self, key)
            if len(values) not in (1, 3):
                raise ValueError(f"{key} has {len(values)} values; give 1 (all channels) or 3 (per channel)")
            if self.color == "gray" and len(set(values)) > 1:
                raise ValueError(f"{key} {list(values)} differs per channel, but color 'gray' has one channel")
        return self


class SsdAnchorsSpec(_Strict):
    """MediaPipe ``SsdAnchorsCalculator`` options and box scales, for raw-anchor SSDs (BlazeFace).

    Used by task ``pose`` with decoder ``ssd``: the model gives box and keypoint offsets per
    anchor, ``x, y, w, h`` first (MediaPipe's ``reverse_output_order: true``). Sizes default
    to the model input; the scales (MediaPipe ``x_scale`` ...) to the input width and height.
    """

    num_layers: int = Field(4, ge=1)
    strides: tuple[int, ...] = (8, 16, 16, 16)
    min_scale: float = Field(0.1484375, gt=0.0)
    max_scale: float = Field(0.75, gt=0.0)
    input_size_wh: tuple[int, int] | None = None
    anchor_offset_xy: tuple[float, float] = (0.5, 0.5)
    aspect_ratios: tuple[float, ...] = (1.0,)
    interpolated_scale_aspect_ratio: float = 1.0
    reduce_boxes_in_lowest_layer: bool = False
    fixed_anchor_size: bool = True
    scale_xywh: tuple[float, float, float, float] | None = None
    apply_exponential_on_box_size: bool = False

    @model_validator(mode="after")
    def _layers_have_strides(self) -> SsdAnchorsSpec:
        if len(self.strides) != self.num_layers:
            raise ValueError(f"strides has {len(self.strides)} values but num_layers is {self.num_layers}; "
                             "give one stride per layer")
        return self


class PostprocessSpec(_Strict):
    """How raw outputs become results."""

    activation: Literal["softmax", "sigmoid", "none"] = "none"
    decoder: Literal["yolov8", "yolov5", "ssd"] | None = None
    score_threshold: float = Field(0.25, ge=0.0, le=1.0)
    iou_threshold: float = Field(0.45, ge=0.0, le=1.0)
    max_detections: int = Field(100, ge=1)
    # One box per object whatever its label: small detectors often give one object two
    # labels, and a tracker then follows it twice.
    agnostic_nms: bool = False
    top_k: int = Field(5, ge=1)
    mask_threshold: float = Field(0.5, ge=0.0, le=1.0)
    # pose: keypoints per object and values per keypoint (2: x, y; 3: x, y, score), as
    # Ultralytics' kpt_shape; the skeleton's edges are pairs of keypoint indices.
    kpt_shape: tuple[int, int] | None = None
    skeleton: tuple[tuple[int, int], ...] | None = None
    # instance_segmentation: how masks travel in to_dict (MQTT, serve, predict --json).
    mask_format: Literal["polygon", "rle", "none"] = "polygon"
    # pose with decoder ssd: the anchor grid of a raw-anchor SSD (BlazeFace family).
    anchors: SsdAnchorsSpec | None = None


class OcrSpec(_Strict):
    """task ocr: the chain's model files (relative to the card's folder) and its character list."""

    det: str
    rec: str
    cls: str | None = None
    characters: tuple[str, ...] | None = None  # default: the recogniser's own metadata
    characters_file: str | None = None  # one character per line, UTF-8


# -- streaming (edgeinfer.streamer): stateful models over a continuous signal ------------

class StateSpec(_Strict):
    """One state pair: ``output`` of one call feeds ``input`` of the next (``init`` at the start)."""

    input: str
    output: str
    shape: tuple[int, ...]
    dtype: Literal["float32", "float16", "int64", "int32", "int8", "uint8"] = "float32"
    init: float = 0.0


class VadSpec(_Strict):
    """Speech segments from per-window speech probabilities (``edgeinfer.vad.VadSegmenter``).

    Hysteresis: speech starts at ``threshold`` and ends below ``neg_threshold`` (default
    ``threshold - 0.15``) held for ``min_silence_ms``; shorter segments than
    ``min_speech_ms`` are dropped; kept ones are widened by ``speech_pad_ms`` each side.
    """

    output: str | None = None  # the probability output; default: the first non-state output
    threshold: float = Field(0.5, gt=0.0, le=1.0)
    neg_threshold: float | None = Field(None, ge=0.0, le=1.0)
    min_speech_ms: float = Field(250.0, ge=0.0)
    min_silence_ms: float = Field(100.0, ge=0.0)
    speech_pad_ms: float = Field(30.0, ge=0.0)

    @model_validator(mode="after")
    def _hysteresis(self) -> VadSpec:
        if self.neg_threshold is not None and self.neg_threshold > self.threshold:
            raise ValueError(f"neg_threshold {self.neg_threshold} is above threshold {self.threshold}: speech ends "
                             "below neg_threshold, so give one at or under threshold (default threshold - 0.15)")
        return self


class StreamSpec(_Strict):
    """How a model runs over a signal: windows of ``window`` samples every ``hop`` samples.

    Each call gets ``context + window`` samples: the ``context`` samples before the window
    (zeros at the start) then the window. ``constants`` are fixed inputs (a sample rate),
    cast to the model input's dtype; ``state`` pairs carry outputs to inputs between calls.
    """

    input: str | None = None  # the signal input; default: the one input not a state or constant
    sample_rate: int = Field(16000, gt=0)
    window: int = Field(..., gt=0)
    hop: int | None = Field(None, gt=0)  # default: window (no overlap)
    context: int = Field(0, ge=0)
    state: tuple[StateSpec, ...] = ()
    constants: dict[str, float | int | list[float] | list[int]] = {}
    vad: VadSpec = VadSpec()

    @model_validator(mode="after")
    def _hop_within_window(self) -> StreamSpec:
        if self.hop is not None and self.hop > self.window:
            raise ValueError(f"hop {self.hop} is longer than window {self.window}: samples between windows would be "
                             "skipped; give a hop at most the window")
        return self


# -- text input (edgeinfer.preprocess.text): a Hugging Face tokenizers JSON, embedded or a sidecar --

class TokenizerSpec(_Strict):
    """How text becomes token ids: ``json`` (a ``tokenizers`` JSON) or ``file`` (relative to the card/model)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_by_name=True, serialize_by_alias=True)
    json_: str | None = Field(None, alias="json")
    file: str | None = None
    max_length: int = Field(128, gt=0)
    padding: Literal["max_length", "longest"] = "max_length"
    truncation: bool = True
    input_ids: str | None = None  # input names; default: found by name among the model's inputs
    attention_mask: str | None = None
    token_type_ids: str | None = None
    pooling: Literal["mean", "cls"] = "mean"  # task embedding, when the model gives per-token vectors

    @model_validator(mode="after")
    def _one_source(self) -> TokenizerSpec:
        if (self.json_ is None) == (self.file is None):
            raise ValueError("give the tokenizer as json (a tokenizers JSON string) or file (a tokenizer.json "
                             "path relative to the card), exactly one")
        return self


class ConversionInfo(_Strict):
    """Provenance written by the converters."""

    source_sha256: str | None = None
    source_kind: str | None = None
    converter: str | None = None
    versions: dict[str, str] = {}
    quantization: dict[str, Any] = {}
    fidelity: dict[str, Any] = {}


class ModelCard(_Strict):
    """The model card. ``origin`` is filled in by the reader and never written."""

    task: Task = "raw"
    labels: tuple[str, ...] | None = None
    labels_file: str | None = None
    names: tuple[str, ...] | None = None
    preprocess: PreprocessSpec = PreprocessSpec()
    postprocess: PostprocessSpec = PostprocessSpec()
    conversion: ConversionInfo | None = None
    ocr: OcrSpec | None = None
    stream: StreamSpec | None = None
    tokenizer: TokenizerSpec | None = None
    origin: str | None = Field(None, exclude=True)

    @model_validator(mode="after")
    def _task_rules(self) -> ModelCard:
        if self.labels is not None and self.labels_file is not None:
            raise ValueError("give either labels or labels_file, not both")
        if self.task in BOX_TASKS and self.postprocess.decoder is None:
            raise ValueError(
                f"task {self.task!r} needs postprocess.decoder: one of yolov8, yolov5, ssd"
            )
        if self.task == "vad" and self.stream is None:
            raise ValueError("task 'vad' needs a stream: section (window, sample_rate, state); see the README")
        return self

    def label(self, class_id: int) -> str:
        """Return the label of ``class_id``, or its number as text when unknown."""
        if self.labels is not None and 0 <= class_id < len(self.labels):
            return self.labels[class_id]
        return str(class_id)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict without defaults that were never set, ready for YAML or JSON."""
        return self.model_dump(mode="json", exclude_none=True)

    def merged(self, overrides: Mapping[str, Any]) -> ModelCard:
        """Return a copy with ``overrides`` (nested dicts) applied and validated."""
        base = self.model_dump(mode="json", exclude_none=True)
        return parse(_deep_merge(base, dict(overrides)), origin=self.origin)


def _deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def validation_message(exc: ValidationError, where: str) -> str:
    """Turn a pydantic error into one line per problem: key, value received and fix."""
    lines = []
    for err in exc.errors():
        key = ".".join(str(p) for p in err["loc"]) or "(top level)"
        if err["type"] == "extra_forbidden":
            lines.append(f"  {key}: unknown key (check the spelling; see the documented keys)")
        else:
            value = err.get("input")
            lines.append(f"  {key}: {err['msg']} (got {value!r})")
    return f"Invalid {where}:\n" + "\n".join(lines)


def parse(data: Mapping[str, Any] | str | bytes, *, origin: str | None = None,
          base_dir: Path | None = None) -> ModelCard:
    """Validate a card given as a mapping or YAML/JSON text.

    Args:
        data: The card as a mapping, or YAML/JSON text.
        origin: Where it came from, stored in ``ModelCard.origin``.
        base_dir: Folder that a relative ``labels_file`` is resolved against; when given,
            the labels file is read and its lines become ``labels``.

    Raises:
        ConfigError: the text is not YAML, or a key or value is invalid.
    """
    if isinstance(data, bytes | str):
        data = _load_yaml(data, origin or "model card")
    if not isinstance(data, Mapping):
        raise ConfigError(f"A model card must be a mapping, got {type(data).__name__} ({origin})")
    try:
        card = ModelCard.model_validate({**data, "origin": origin})
    except ValidationError as exc:
        raise ConfigError(validation_message(exc, f"model card ({origin or 'given'})")) from exc
    if card.labels_file is not None and base_dir is not None:
        path = (base_dir / card.labels_file).resolve()
        try:
            labels = tuple(line.strip() for line in path.read_text().splitlines() if line.strip())
        except OSError as exc:
            raise ConfigError(f"labels_file {str(path)!r} cannot be read: {exc.strerror}") from exc
        card = card.model_copy(update={"labels": labels, "labels_file": None})
    return with_tokenizer_file(card, base_dir)


def with_tokenizer_file(card: ModelCard, base_dir: Path | None) -> ModelCard:
    """Read ``tokenizer.file`` (relative to ``base_dir``) into ``tokenizer.json``; other cards pass."""
    spec = card.tokenizer
    if spec is None or spec.file is None or base_dir is None:
        return card
    path = (base_dir / spec.file).resolve()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"tokenizer.file {str(path)!r} cannot be read: {exc.strerror}") from exc
    return card.model_copy(update={"tokenizer": spec.model_copy(update={"json_": text, "file": None})})


def _load_yaml(text: str | bytes, where: str) -> Any:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{where} is not valid YAML: {exc}") from exc
