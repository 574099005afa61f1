from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ImageFormat(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    IMAGE_FORMAT_UNSPECIFIED: _ClassVar[ImageFormat]
    IMAGE_FORMAT_PNG: _ClassVar[ImageFormat]
    IMAGE_FORMAT_JPEG: _ClassVar[ImageFormat]
    IMAGE_FORMAT_WEBP: _ClassVar[ImageFormat]

class TilingMode(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    TILING_MODE_AUTO: _ClassVar[TilingMode]
    TILING_MODE_ALWAYS: _ClassVar[TilingMode]
    TILING_MODE_NEVER: _ClassVar[TilingMode]

class ModelState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    MODEL_STATE_UNSPECIFIED: _ClassVar[ModelState]
    MODEL_STATE_LOADING: _ClassVar[ModelState]
    MODEL_STATE_READY: _ClassVar[ModelState]
    MODEL_STATE_UNAVAILABLE: _ClassVar[ModelState]
IMAGE_FORMAT_UNSPECIFIED: ImageFormat
IMAGE_FORMAT_PNG: ImageFormat
IMAGE_FORMAT_JPEG: ImageFormat
IMAGE_FORMAT_WEBP: ImageFormat
TILING_MODE_AUTO: TilingMode
TILING_MODE_ALWAYS: TilingMode
TILING_MODE_NEVER: TilingMode
MODEL_STATE_UNSPECIFIED: ModelState
MODEL_STATE_LOADING: ModelState
MODEL_STATE_READY: ModelState
MODEL_STATE_UNAVAILABLE: ModelState

class TilingOptions(_message.Message):
    __slots__ = ("mode", "tile_size", "overlap")
    MODE_FIELD_NUMBER: _ClassVar[int]
    TILE_SIZE_FIELD_NUMBER: _ClassVar[int]
    OVERLAP_FIELD_NUMBER: _ClassVar[int]
    mode: TilingMode
    tile_size: int
    overlap: int
    def __init__(self, mode: _Optional[_Union[TilingMode, str]] = ..., tile_size: _Optional[int] = ..., overlap: _Optional[int] = ...) -> None: ...

class TranslateRequest(_message.Message):
    __slots__ = ("id", "model", "version", "image", "output_format", "quality", "tiling")
    ID_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    TILING_FIELD_NUMBER: _ClassVar[int]
    id: str
    model: str
    version: int
    image: bytes
    output_format: ImageFormat
    quality: int
    tiling: TilingOptions
    def __init__(self, id: _Optional[str] = ..., model: _Optional[str] = ..., version: _Optional[int] = ..., image: _Optional[bytes] = ..., output_format: _Optional[_Union[ImageFormat, str]] = ..., quality: _Optional[int] = ..., tiling: _Optional[_Union[TilingOptions, _Mapping]] = ...) -> None: ...

class Error(_message.Message):
    __slots__ = ("code", "message")
    CODE_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    code: int
    message: str
    def __init__(self, code: _Optional[int] = ..., message: _Optional[str] = ...) -> None: ...

class TranslateResponse(_message.Message):
    __slots__ = ("id", "image", "format", "width", "height", "model", "version", "tiled", "error")
    ID_FIELD_NUMBER: _ClassVar[int]
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    WIDTH_FIELD_NUMBER: _ClassVar[int]
    HEIGHT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    TILED_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    id: str
    image: bytes
    format: ImageFormat
    width: int
    height: int
    model: str
    version: int
    tiled: bool
    error: Error
    def __init__(self, id: _Optional[str] = ..., image: _Optional[bytes] = ..., format: _Optional[_Union[ImageFormat, str]] = ..., width: _Optional[int] = ..., height: _Optional[int] = ..., model: _Optional[str] = ..., version: _Optional[int] = ..., tiled: _Optional[bool] = ..., error: _Optional[_Union[Error, _Mapping]] = ...) -> None: ...

class SeedList(_message.Message):
    __slots__ = ("seeds",)
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    seeds: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, seeds: _Optional[_Iterable[int]] = ...) -> None: ...

class SeedRange(_message.Message):
    __slots__ = ("count", "first_seed")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    FIRST_SEED_FIELD_NUMBER: _ClassVar[int]
    count: int
    first_seed: int
    def __init__(self, count: _Optional[int] = ..., first_seed: _Optional[int] = ...) -> None: ...

class Latent(_message.Message):
    __slots__ = ("values",)
    VALUES_FIELD_NUMBER: _ClassVar[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, values: _Optional[_Iterable[float]] = ...) -> None: ...

class LatentList(_message.Message):
    __slots__ = ("latents",)
    LATENTS_FIELD_NUMBER: _ClassVar[int]
    latents: _containers.RepeatedCompositeFieldContainer[Latent]
    def __init__(self, latents: _Optional[_Iterable[_Union[Latent, _Mapping]]] = ...) -> None: ...

class GenerateRequest(_message.Message):
    __slots__ = ("model", "version", "seeds", "range", "latents", "truncation", "label", "output_format", "quality", "class_name")
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    SEEDS_FIELD_NUMBER: _ClassVar[int]
    RANGE_FIELD_NUMBER: _ClassVar[int]
    LATENTS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATION_FIELD_NUMBER: _ClassVar[int]
    LABEL_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FORMAT_FIELD_NUMBER: _ClassVar[int]
    QUALITY_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAME_FIELD_NUMBER: _ClassVar[int]
    model: str
    version: int
    seeds: SeedList
    range: SeedRange
    latents: LatentList
    truncation: float
    label: int
    output_format: ImageFormat
    quality: int
    class_name: str
    def __init__(self, model: _Optional[str] = ..., version: _Optional[int] = ..., seeds: _Optional[_Union[SeedList, _Mapping]] = ..., range: _Optional[_Union[SeedRange, _Mapping]] = ..., latents: _Optional[_Union[LatentList, _Mapping]] = ..., truncation: _Optional[float] = ..., label: _Optional[int] = ..., output_format: _Optional[_Union[ImageFormat, str]] = ..., quality: _Optional[int] = ..., class_name: _Optional[str] = ...) -> None: ...

class GeneratedImage(_message.Message):
    __slots__ = ("image", "seed")
    IMAGE_FIELD_NUMBER: _ClassVar[int]
    SEED_FIELD_NUMBER: _ClassVar[int]
    image: bytes
    seed: int
    def __init__(self, image: _Optional[bytes] = ..., seed: _Optional[int] = ...) -> None: ...

class GenerateResponse(_message.Message):
    __slots__ = ("images", "format", "model", "version")
    IMAGES_FIELD_NUMBER: _ClassVar[int]
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    images: _containers.RepeatedCompositeFieldContainer[GeneratedImage]
    format: ImageFormat
    model: str
    version: int
    def __init__(self, images: _Optional[_Iterable[_Union[GeneratedImage, _Mapping]]] = ..., format: _Optional[_Union[ImageFormat, str]] = ..., model: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class ListModelsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ModelSummary(_message.Message):
    __slots__ = ("name", "version", "state", "family", "task", "error", "class_names", "runtime")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAMES_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    state: ModelState
    family: str
    task: str
    error: str
    class_names: _containers.RepeatedScalarFieldContainer[str]
    runtime: Runtime
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., state: _Optional[_Union[ModelState, str]] = ..., family: _Optional[str] = ..., task: _Optional[str] = ..., error: _Optional[str] = ..., class_names: _Optional[_Iterable[str]] = ..., runtime: _Optional[_Union[Runtime, _Mapping]] = ...) -> None: ...

class Runtime(_message.Message):
    __slots__ = ("backend", "precision", "reason", "psnr_db")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    PRECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    PSNR_DB_FIELD_NUMBER: _ClassVar[int]
    backend: str
    precision: str
    reason: str
    psnr_db: float
    def __init__(self, backend: _Optional[str] = ..., precision: _Optional[str] = ..., reason: _Optional[str] = ..., psnr_db: _Optional[float] = ...) -> None: ...

class ListModelsResponse(_message.Message):
    __slots__ = ("models",)
    MODELS_FIELD_NUMBER: _ClassVar[int]
    models: _containers.RepeatedCompositeFieldContainer[ModelSummary]
    def __init__(self, models: _Optional[_Iterable[_Union[ModelSummary, _Mapping]]] = ...) -> None: ...

class GetModelRequest(_message.Message):
    __slots__ = ("name", "version")
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class TensorDescription(_message.Message):
    __slots__ = ("name", "dtype", "shape")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DTYPE_FIELD_NUMBER: _ClassVar[int]
    SHAPE_FIELD_NUMBER: _ClassVar[int]
    name: str
    dtype: str
    shape: _containers.RepeatedScalarFieldContainer[int]
    def __init__(self, name: _Optional[str] = ..., dtype: _Optional[str] = ..., shape: _Optional[_Iterable[int]] = ...) -> None: ...

class Limits(_message.Message):
    __slots__ = ("max_image_pixels", "max_message_bytes", "max_batch", "max_queue", "max_generate_count", "tile_above_pixels", "tile_size", "max_batch_pixels", "min_input_size", "max_streams", "max_streams_per_client", "stream_idle_timeout")
    MAX_IMAGE_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MAX_MESSAGE_BYTES_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_FIELD_NUMBER: _ClassVar[int]
    MAX_QUEUE_FIELD_NUMBER: _ClassVar[int]
    MAX_GENERATE_COUNT_FIELD_NUMBER: _ClassVar[int]
    TILE_ABOVE_PIXELS_FIELD_NUMBER: _ClassVar[int]
    TILE_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_BATCH_PIXELS_FIELD_NUMBER: _ClassVar[int]
    MIN_INPUT_SIZE_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAMS_FIELD_NUMBER: _ClassVar[int]
    MAX_STREAMS_PER_CLIENT_FIELD_NUMBER: _ClassVar[int]
    STREAM_IDLE_TIMEOUT_FIELD_NUMBER: _ClassVar[int]
    max_image_pixels: int
    max_message_bytes: int
    max_batch: int
    max_queue: int
    max_generate_count: int
    tile_above_pixels: int
    tile_size: int
    max_batch_pixels: int
    min_input_size: int
    max_streams: int
    max_streams_per_client: int
    stream_idle_timeout: float
    def __init__(self, max_image_pixels: _Optional[int] = ..., max_message_bytes: _Optional[int] = ..., max_batch: _Optional[int] = ..., max_queue: _Optional[int] = ..., max_generate_count: _Optional[int] = ..., tile_above_pixels: _Optional[int] = ..., tile_size: _Optional[int] = ..., max_batch_pixels: _Optional[int] = ..., min_input_size: _Optional[int] = ..., max_streams: _Optional[int] = ..., max_streams_per_client: _Optional[int] = ..., stream_idle_timeout: _Optional[float] = ...) -> None: ...

class ModelDescription(_message.Message):
    __slots__ = ("name", "version", "available_versions", "state", "error", "family", "task", "in_channels", "out_channels", "pad_multiple", "scale", "latent_size", "num_classes", "image_size", "direction", "metadata", "inputs", "outputs", "limits", "class_names", "runtime")
    class MetadataEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    FAMILY_FIELD_NUMBER: _ClassVar[int]
    TASK_FIELD_NUMBER: _ClassVar[int]
    IN_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    OUT_CHANNELS_FIELD_NUMBER: _ClassVar[int]
    PAD_MULTIPLE_FIELD_NUMBER: _ClassVar[int]
    SCALE_FIELD_NUMBER: _ClassVar[int]
    LATENT_SIZE_FIELD_NUMBER: _ClassVar[int]
    NUM_CLASSES_FIELD_NUMBER: _ClassVar[int]
    IMAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    DIRECTION_FIELD_NUMBER: _ClassVar[int]
    METADATA_FIELD_NUMBER: _ClassVar[int]
    INPUTS_FIELD_NUMBER: _ClassVar[int]
    OUTPUTS_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    CLASS_NAMES_FIELD_NUMBER: _ClassVar[int]
    RUNTIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    version: int
    available_versions: _containers.RepeatedScalarFieldContainer[int]
    state: ModelState
    error: str
    family: str
    task: str
    in_channels: int
    out_channels: int
    pad_multiple: int
    scale: int
    latent_size: int
    num_classes: int
    image_size: int
    direction: str
    metadata: _containers.ScalarMap[str, str]
    inputs: _containers.RepeatedCompositeFieldContainer[TensorDescription]
    outputs: _containers.RepeatedCompositeFieldContainer[TensorDescription]
    limits: Limits
    class_names: _containers.RepeatedScalarFieldContainer[str]
    runtime: Runtime
    def __init__(self, name: _Optional[str] = ..., version: _Optional[int] = ..., available_versions: _Optional[_Iterable[int]] = ..., state: _Optional[_Union[ModelState, str]] = ..., error: _Optional[str] = ..., family: _Optional[str] = ..., task: _Optional[str] = ..., in_channels: _Optional[int] = ..., out_channels: _Optional[int] = ..., pad_multiple: _Optional[int] = ..., scale: _Optional[int] = ..., latent_size: _Optional[int] = ..., num_classes: _Optional[int] = ..., image_size: _Optional[int] = ..., direction: _Optional[str] = ..., metadata: _Optional[_Mapping[str, str]] = ..., inputs: _Optional[_Iterable[_Union[TensorDescription, _Mapping]]] = ..., outputs: _Optional[_Iterable[_Union[TensorDescription, _Mapping]]] = ..., limits: _Optional[_Union[Limits, _Mapping]] = ..., class_names: _Optional[_Iterable[str]] = ..., runtime: _Optional[_Union[Runtime, _Mapping]] = ...) -> None: ...
