"""What a model needs around it: the processing block shared by checkpoints and ONNX files.

A checkpoint stores ``ModelInfo.to_dict()`` under ``"processing"``; an exported ONNX model
stores ``ModelInfo.to_metadata()`` as ``metadata_props`` (string key/values). Every caller
(CLI, server, export checks) reads this one description, so nothing that training already
knew has to be typed again at inference time.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field

import numpy as np

from translate.errors import LabelError, ModelError

FAMILIES = ("pix2pix", "cyclegan", "srgan", "dcgan")
TASKS = ("translate", "super_resolve", "generate")
TASK_OF_FAMILY = {"pix2pix": "translate", "cyclegan": "translate", "srgan": "super_resolve", "dcgan": "generate"}
ONNX_FORMAT = "translate-onnx"
ONNX_FORMAT_VERSION = 1


def default_min_input_size(task: str, pad_multiple: int) -> int:
    """The smallest input side assumed when a checkpoint or ONNX file does not record it.

    Translators with a small pad multiple (a ResNet generator: 4) get two multiples, what reflection
    padding and instance norm need at its 1/4-size bottleneck; a large multiple is a U-Net's
    (2**num_downs, 128 or 256), whose minimum is one multiple. Either way at least the network's
    real minimum: a larger pad only costs compute on tiny images, a smaller one fails in the model.
    Super-resolvers (SRResNet, zero padding) take any size; generators take no image (0).
    """
    if task == "generate":
        return 0
    if task == "super_resolve":
        return 1
    return pad_multiple if pad_multiple >= 32 else 2 * pad_multiple


@dataclass
class ModelInfo:
    """Pre/post-processing and provenance of one generator.

    Image models take float32 NCHW in ``value_range`` (always [-1, 1] here) and return the
    same range; their spatial size must be padded to ``pad_multiple`` and to at least
    ``min_input_size`` (the network's own minimum, declared by ``translate.nets``; 0 on
    construction means "not recorded": a safe value for the family is derived, see
    :func:`default_min_input_size`); super-resolvers scale height and width by ``scale``.
    Generators take ``z`` [N, latent_size] (plus ``label`` [N] int64 when ``num_classes`` > 0)
    and return [N, out_channels, image_size, image_size].

    ``class_names[k]`` is the name of label ``k`` of a class-conditional model: the class folder
    or IDX label it was trained from (class folders ``1, 5, 7, 8`` are labels 0..3 named
    ``"1", "5", "7", "8"``). Files written before the names were recorded get the label numbers
    as names (``"0"`` .. ``"K-1"``), so ``class_names`` always has ``num_classes`` entries.
    Look names up with :meth:`label_of` / :meth:`labels_of`.
    """

    family: str
    task: str
    in_channels: int = 3
    out_channels: int = 3
    value_range: tuple[float, float] = (-1.0, 1.0)
    pad_multiple: int = 1
    scale: int = 1
    latent_size: int = 0
    num_classes: int = 0
    class_names: list[str] = field(default_factory=list)  # name of each label 0..num_classes-1
    image_size: int = 0  # generators: output size; translators: training crop size (informative)
    direction: str = ""  # "AtoB" / "BtoA" for translators, "" otherwise
    batchnorm_mode: str = "running"  # "running" or "batch" statistics at inference (pix2pix U-Net)
    min_input_size: int = 0  # smallest padded height/width the network takes (0: derive from the family)
    provenance: dict[str, str] = field(default_factory=dict)  # run_name, step, dataset, created, ...

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ModelError(f"unknown model family {self.family!r}; expected one of {', '.join(FAMILIES)}")
        if self.task not in TASKS:
            raise ModelError(f"unknown task {self.task!r}; expected one of {', '.join(TASKS)}")
        if self.in_channels < 0 or self.out_channels < 1:
            raise ModelError(f"bad channel counts in={self.in_channels} out={self.out_channels}")
        if self.pad_multiple < 1 or self.scale < 1:
            raise ModelError(f"pad_multiple and scale must be >= 1 (got {self.pad_multiple}, {self.scale})")
        if self.task == "generate" and self.latent_size < 1:
            raise ModelError("a generate model needs latent_size >= 1")
        if self.min_input_size < 0:
            raise ModelError(f"min_input_size must be >= 0 (got {self.min_input_size})")
        if self.min_input_size == 0:
            self.min_input_size = default_min_input_size(self.task, self.pad_multiple)
        self.value_range = (float(self.value_range[0]), float(self.value_range[1]))
        self.class_names = _checked_class_names(self.class_names, self.num_classes)

    def check_labels(self, labels, count: int | None = None, *, name: str = "labels") -> np.ndarray | None:
        """Class labels checked against this model: int64 [count] (None for an unconditional model).

        Class-conditional models (``num_classes`` > 0) need integer labels in 0..num_classes-1,
        one per sample when ``count`` is given (an int, a sequence or an array; [N, 1] is
        flattened); unconditional models take none. ``name`` is how the caller's user spells the
        argument ("labels", "--class C"), so the message says what to change. Raises
        :class:`~translate.errors.LabelError` (a ConfigError and a ModelError).
        """
        k = self.num_classes
        if k == 0:
            if labels is not None:
                raise LabelError(f"this model is unconditional (num_classes = 0): drop {name}")
            return None
        if labels is None:
            raise LabelError(f"this model is class-conditional ({k} classes): pass {name} with values in 0..{k - 1}")
        arr = np.asarray(labels)
        if arr.dtype.kind not in "iu":
            raise LabelError(f"{name} must be integer class numbers in 0..{k - 1}, got {arr.dtype} values")
        arr = arr.astype(np.int64).reshape(-1)
        if count is not None and arr.shape != (count,):
            raise LabelError(f"need one label per sample ({count}), got {arr.size}")
        bad = np.unique(arr[(arr < 0) | (arr >= k)])
        if bad.size:
            shown = ", ".join(str(v) for v in bad[:5]) + (", ..." if bad.size > 5 else "")
            raise LabelError(f"{name} out of range: this model has classes 0..{k - 1} (got {shown})")
        return arr

    def label_of(self, name: str, *, what: str = "class") -> int:
        """The label number of the class called ``name`` (LabelError listing the names when unknown).

        Names are matched exactly, as strings: ``"7"`` is the class named 7 (e.g. the folder
        ``7/``), which need not be label 7. A model without recorded names (an older file) is
        named by its label numbers, so there ``"7"`` is label 7.
        """
        k = self.num_classes
        if k == 0:
            raise LabelError(f"this model is unconditional (num_classes = 0): drop the {what}")
        try:
            return self.class_names.index(str(name))
        except ValueError:
            shown = str(name) if len(str(name)) <= 64 else f"{str(name)[:64]}...({len(str(name))} chars)"
            raise LabelError(f"unknown {what} {shown!r}; this model's classes are "
                             f"{_shown_names(self.class_names)}") from None

    def labels_of(self, names, *, what: str = "class") -> np.ndarray:
        """int64 label numbers of the class ``names`` (one name or a sequence); see :meth:`label_of`."""
        if isinstance(names, str):
            names = [names]
        return np.array([self.label_of(n, what=what) for n in names], np.int64)

    # -- checkpoint form (plain python types, safe for torch.load(weights_only=True)) --
    def to_dict(self) -> dict:
        """Plain-dict form stored in checkpoints."""
        d = dataclasses.asdict(self)
        d["value_range"] = list(self.value_range)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> ModelInfo:
        """Inverse of :meth:`to_dict`; unknown keys are ignored (forward compatibility)."""
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in d.items() if k in names}
        if "value_range" in kwargs:
            kwargs["value_range"] = tuple(kwargs["value_range"])
        try:
            return cls(**kwargs)
        except TypeError as exc:
            raise ModelError(f"incomplete model description: {exc}") from exc

    # -- ONNX metadata form (string -> string) --
    def to_metadata(self) -> dict[str, str]:
        """Flat string map written to ONNX ``metadata_props``."""
        md = {
            "format": ONNX_FORMAT,
            "format_version": str(ONNX_FORMAT_VERSION),
            "family": self.family,
            "task": self.task,
            "in_channels": str(self.in_channels),
            "out_channels": str(self.out_channels),
            "value_range": json.dumps(list(self.value_range)),
            "pad_multiple": str(self.pad_multiple),
            "scale": str(self.scale),
            "latent_size": str(self.latent_size),
            "num_classes": str(self.num_classes),
            "image_size": str(self.image_size),
            "direction": self.direction,
            "batchnorm_mode": self.batchnorm_mode,
            "min_input_size": str(self.min_input_size),
        }
        if self.num_classes:
            md["class_names"] = json.dumps(self.class_names)
        for k, v in self.provenance.items():
            md[f"provenance.{k}"] = str(v)
        return md

    @classmethod
    def from_metadata(cls, md: dict[str, str]) -> ModelInfo:
        """Read the map written by :meth:`to_metadata`; raises ModelError if it is not ours."""
        if md.get("format") != ONNX_FORMAT:
            raise ModelError(
                "this ONNX file has no translate metadata (format key missing); "
                "export it with `translate export` so the server knows how to feed it"
            )
        version = int(md.get("format_version", "0"))
        if version > ONNX_FORMAT_VERSION:
            raise ModelError(f"ONNX metadata format_version {version} is newer than this tool; upgrade translate")
        try:
            return cls(
                family=md["family"],
                task=md["task"],
                in_channels=int(md["in_channels"]),
                out_channels=int(md["out_channels"]),
                value_range=tuple(json.loads(md.get("value_range", "[-1, 1]"))),
                pad_multiple=int(md.get("pad_multiple", "1")),
                scale=int(md.get("scale", "1")),
                latent_size=int(md.get("latent_size", "0")),
                num_classes=int(md.get("num_classes", "0")),
                class_names=_names_from_metadata(md.get("class_names")),
                image_size=int(md.get("image_size", "0")),
                direction=md.get("direction", ""),
                batchnorm_mode=md.get("batchnorm_mode", "running"),
                min_input_size=int(md.get("min_input_size", "0")),  # files exported before the key: derived
                provenance={k.split(".", 1)[1]: v for k, v in md.items() if k.startswith("provenance.")},
            )
        except (KeyError, ValueError) as exc:
            raise ModelError(f"ONNX metadata is incomplete or malformed: {exc}") from exc


def _checked_class_names(names, num_classes: int) -> list[str]:
    """``names`` as a list of distinct, non-empty strings, one per class; the label numbers when empty."""
    names = list(names or [])
    if not names:
        return [str(k) for k in range(num_classes)]
    if num_classes == 0:
        raise ModelError(f"class_names {_shown_names(names)} given for an unconditional model (num_classes = 0)")
    if len(names) != num_classes:
        raise ModelError(f"{len(names)} class_names for {num_classes} classes; need one name per class")
    if not all(isinstance(n, str) and n for n in names):
        raise ModelError(f"class_names must be non-empty strings (got {names[:10]!r})")
    if len(set(names)) != len(names):
        raise ModelError(f"class_names must be distinct (got {_shown_names(names)})")
    return names


def _names_from_metadata(text: str | None) -> list[str]:
    """The ``class_names`` metadata value (a JSON list of strings); [] when the key is absent."""
    if text is None:
        return []
    try:
        names = json.loads(text)
    except ValueError as exc:
        raise ModelError(f"ONNX metadata class_names is not a JSON list: {exc}") from exc
    if not isinstance(names, list):
        raise ModelError(f"ONNX metadata class_names must be a JSON list of strings (got {text[:80]!r})")
    return names


def _shown_names(names: list[str], limit: int = 20) -> str:
    """Names for a message: quoted, the first ``limit`` and a count of the rest."""
    shown = ", ".join(repr(n) for n in names[:limit])
    return shown + (f" ... ({len(names) - limit} more)" if len(names) > limit else "")
