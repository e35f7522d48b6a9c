"""Stand-in for ``comfy_api.latest._io`` (ComfyUI v0.3.64): the schema surface the pack uses.

Names, constructor signatures and ``as_dict`` keys follow the host, so a node
written against this module runs unchanged in ComfyUI. What the host does at
execution time (caching, hidden inputs, async wrappers) is reduced to the parts
a test needs: ``GET_SCHEMA`` validates and finalizes like the host, and
``execute`` is called directly.
"""
from __future__ import annotations

from enum import Enum
from typing import Any

# The node half (hidden inputs, Schema, ComfyNode, NodeOutput) lives in _schema, re-exported here.
from ._schema import ComfyNode, Hidden, HiddenHolder, NodeOutput, Schema, _UIOutput  # noqa: F401


class FolderType(str, Enum):
    input = "input"
    output = "output"
    temp = "temp"


class UploadType(str, Enum):
    image = "image_upload"
    audio = "audio_upload"
    video = "video_upload"
    model = "file_upload"


class NumberDisplay(str, Enum):
    number = "number"
    slider = "slider"


def prune_dict(d: dict) -> dict:
    return {k: v for k, v in d.items() if v is not None}


class _StringIOType(str):
    """An io type string where "*" matches anything and "A,B" matches A or B (as in the host)."""

    def __ne__(self, value: object) -> bool:
        if self == "*" or value == "*":
            return False
        if not isinstance(value, str):
            return True
        a, b = frozenset(self.split(",")), frozenset(value.split(","))
        return not (b.issubset(a) or a.issubset(b))

    __hash__ = str.__hash__


class _ComfyType:
    Type = Any
    io_type: str = None


def comfytype(io_type: str, **kwargs):
    """Bind ``io_type`` to a ComfyType class and its nested Input/Output classes."""

    def decorator(cls):
        if not issubclass(cls, _ComfyType):
            cls = type(cls.__name__, (cls, ComfyTypeIO), dict(cls.__dict__))
        # Copy nested classes so binding Parent does not touch the base classes.
        for name in ("Input", "Output"):
            nested = getattr(cls, name, None)
            if nested is not None:
                setattr(cls, name, type(nested.__name__, (nested,), {}))
        cls.io_type = _StringIOType(io_type)
        for name in ("Input", "Output"):
            nested = getattr(cls, name, None)
            if nested is not None:
                nested.Parent = cls
        return cls

    return decorator


def Custom(io_type: str):
    """A ComfyType for a custom io type (e.g. ``"DREAMACTOR_MOTION"``)."""

    @comfytype(io_type=io_type)
    class CustomComfyType(ComfyTypeIO):
        ...

    return CustomComfyType


class _IO_V3:
    Parent: _ComfyType = None

    @property
    def io_type(self):
        return self.Parent.io_type

    @property
    def Type(self):
        return self.Parent.Type


class Input(_IO_V3):
    def __init__(self, id: str, display_name: str = None, optional=False, tooltip: str = None,
                 lazy: bool = None, extra_dict=None):
        self.id = id
        self.display_name = display_name
        self.optional = optional
        self.tooltip = tooltip
        self.lazy = lazy
        self.extra_dict = extra_dict if extra_dict is not None else {}

    def as_dict(self):
        return prune_dict({"display_name": self.display_name, "optional": self.optional,
                           "tooltip": self.tooltip, "lazy": self.lazy}) | prune_dict(self.extra_dict)

    def get_io_type(self):
        return _StringIOType(self.io_type)


class WidgetInput(Input):
    def __init__(self, id: str, display_name: str = None, optional=False, tooltip: str = None,
                 lazy: bool = None, default: Any = None, socketless: bool = None,
                 widget_type: str = None, force_input: bool = None, extra_dict=None):
        super().__init__(id, display_name, optional, tooltip, lazy, extra_dict)
        self.default = default
        self.socketless = socketless
        self.widget_type = widget_type
        self.force_input = force_input

    def as_dict(self):
        return super().as_dict() | prune_dict({"default": self.default, "socketless": self.socketless,
                                               "widgetType": self.widget_type, "forceInput": self.force_input})

    def get_io_type(self):
        return self.widget_type if self.widget_type is not None else super().get_io_type()


class Output(_IO_V3):
    def __init__(self, id: str = None, display_name: str = None, tooltip: str = None, is_output_list=False):
        self.id = id
        self.display_name = display_name
        self.tooltip = tooltip
        self.is_output_list = is_output_list

    def as_dict(self):
        return prune_dict({"display_name": self.display_name, "tooltip": self.tooltip,
                           "is_output_list": self.is_output_list})

    def get_io_type(self):
        return self.io_type


class ComfyTypeI(_ComfyType):
    class Input(Input):
        ...


class ComfyTypeIO(ComfyTypeI):
    class Output(Output):
        ...


@comfytype(io_type="BOOLEAN")
class Boolean(ComfyTypeIO):
    Type = bool

    class Input(WidgetInput):
        def __init__(self, id: str, display_name: str = None, optional=False, tooltip: str = None,
                     lazy: bool = None, default: bool = None, label_on: str = None, label_off: str = None,
                     socketless: bool = None, force_input: bool = None):
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input)
            self.label_on = label_on
            self.label_off = label_off

        def as_dict(self):
            return super().as_dict() | prune_dict({"label_on": self.label_on, "label_off": self.label_off})


@comfytype(io_type="INT")
class Int(ComfyTypeIO):
    Type = int

    class Input(WidgetInput):
        def __init__(self, id: str, display_name: str = None, optional=False, tooltip: str = None,
                     lazy: bool = None, default: int = None, min: int = None, max: int = None,
                     step: int = None, control_after_generate: bool = None,
                     display_mode: NumberDisplay = None, socketless: bool = None, force_input: bool = None):
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input)
            self.min, self.max, self.step = min, max, step
            self.control_after_generate = control_after_generate
            self.display_mode = display_mode

        def as_dict(self):
            return super().as_dict() | prune_dict({
                "min": self.min, "max": self.max, "step": self.step,
                "control_after_generate": self.control_after_generate,
                "display": self.display_mode.value if self.display_mode else None})


@comfytype(io_type="FLOAT")
class Float(ComfyTypeIO):
    Type = float

    class Input(WidgetInput):
        def __init__(self, id: str, display_name: str = None, optional=False, tooltip: str = None,
                     lazy: bool = None, default: float = None, min: float = None, max: float = None,
                     step: float = None, round: float = None, display_mode: NumberDisplay = None,
                     socketless: bool = None, force_input: bool = None):
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input)
            self.min, self.max, self.step, self.round = min, max, step, round
            self.display_mode = display_mode

        def as_dict(self):
            return super().as_dict() | prune_dict({"min": self.min, "max": self.max, "step": self.step,
                                                   "round": self.round, "display": self.display_mode})


@comfytype(io_type="STRING")
class String(ComfyTypeIO):
    Type = str

    class Input(WidgetInput):
        def __init__(self, id: str, display_name: str = None, optional=False, tooltip: str = None,
                     lazy: bool = None, multiline=False, placeholder: str = None, default: str = None,
                     dynamic_prompts: bool = None, socketless: bool = None, force_input: bool = None):
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless, None, force_input)
            self.multiline = multiline
            self.placeholder = placeholder
            self.dynamic_prompts = dynamic_prompts

        def as_dict(self):
            return super().as_dict() | prune_dict({"multiline": self.multiline, "placeholder": self.placeholder,
                                                   "dynamicPrompts": self.dynamic_prompts})


@comfytype(io_type="COMBO")
class Combo(ComfyTypeIO):
    Type = str

    class Input(WidgetInput):
        Type = str

        def __init__(self, id: str, options: list[str] | list[int] | type[Enum] = None,
                     display_name: str = None, optional=False, tooltip: str = None, lazy: bool = None,
                     default: str | int | Enum = None, control_after_generate: bool = None,
                     upload: UploadType = None, image_folder: FolderType = None, remote=None,
                     socketless: bool = None):
            if isinstance(options, type) and issubclass(options, Enum):
                options = [v.value for v in options]
            if isinstance(default, Enum):
                default = default.value
            super().__init__(id, display_name, optional, tooltip, lazy, default, socketless)
            self.multiselect = False
            self.options = options
            self.control_after_generate = control_after_generate
            self.upload = upload
            self.image_folder = image_folder
            self.remote = remote

        def as_dict(self):
            return super().as_dict() | prune_dict({
                "multiselect": self.multiselect, "options": self.options,
                "control_after_generate": self.control_after_generate,
                **({self.upload.value: True} if self.upload is not None else {}),
                "image_folder": self.image_folder.value if self.image_folder else None})


def _plain(name: str, io_type: str):
    """A socket-only type such as IMAGE (the host declares each with its own class)."""
    return comfytype(io_type=io_type)(type(name, (ComfyTypeIO,), {}))


Image = _plain("Image", "IMAGE")
Mask = _plain("Mask", "MASK")
Latent = _plain("Latent", "LATENT")
Conditioning = _plain("Conditioning", "CONDITIONING")
Vae = _plain("Vae", "VAE")
Model = _plain("Model", "MODEL")
Clip = _plain("Clip", "CLIP")
ClipVision = _plain("ClipVision", "CLIP_VISION")
ClipVisionOutput = _plain("ClipVisionOutput", "CLIP_VISION_OUTPUT")
Audio = _plain("Audio", "AUDIO")
Video = _plain("Video", "VIDEO")
AnyType = _plain("AnyType", "*")
