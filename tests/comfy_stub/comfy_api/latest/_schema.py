"""Stand-in for the node half of ``comfy_api.latest._io``: ``Schema``, ``ComfyNode``, ``NodeOutput``
and hidden inputs, re-exported by :mod:`._io` under the host's names.

Kept apart from the socket types so each stub module stays small; the host has them in one module.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import Enum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # annotations only: _io imports this module
    from ._io import Input, Output


class Hidden(str, Enum):
    unique_id = "UNIQUE_ID"
    prompt = "PROMPT"
    extra_pnginfo = "EXTRA_PNGINFO"
    dynprompt = "DYNPROMPT"
    auth_token_comfy_org = "AUTH_TOKEN_COMFY_ORG"
    api_key_comfy_org = "API_KEY_COMFY_ORG"


class HiddenHolder:
    """Hidden inputs of a running node; every one is None in tests."""

    def __getattr__(self, key: str):
        return None


@dataclass
class Schema:
    node_id: str
    display_name: str = None
    category: str = "sd"
    inputs: list[Input] = None
    outputs: list[Output] = None
    hidden: list[Hidden] = None
    description: str = ""
    is_input_list: bool = False
    is_output_node: bool = False
    is_deprecated: bool = False
    is_experimental: bool = False
    is_api_node: bool = False
    not_idempotent: bool = False
    enable_expand: bool = False

    def validate(self):
        """Raise ``ValueError`` if input or output ids repeat (the host's check)."""
        input_ids = [i.id for i in self.inputs or []]
        output_ids = [o.id for o in self.outputs or []]
        issues = []
        for ids, kind in ((input_ids, "Input"), (output_ids, "Output")):
            repeated = [k for k, n in Counter(ids).items() if n > 1]
            if repeated:
                issues.append(f"{kind} ids must be unique, but {repeated} are not.")
        common = set(input_ids) & set(output_ids)
        if common:
            issues.append(f"Ids must be unique between inputs and outputs, but {common} are not.")
        if issues:
            raise ValueError("\n".join(issues))

    def finalize(self):
        if self.is_output_node:
            self.hidden = list(self.hidden or [])
            for h in (Hidden.prompt, Hidden.extra_pnginfo):
                if h not in self.hidden:
                    self.hidden.append(h)
        for i, output in enumerate(self.outputs or []):
            if output.id is None:
                output.id = f"_{i}_{output.io_type}_"

    def get_v1_info(self, cls=None) -> dict:
        """The ``/object_info`` entry the host builds from this schema."""
        inputs: dict = {"required": {}}
        for i in self.inputs or []:
            d = i.as_dict()
            d.pop("optional", None)
            inputs.setdefault("optional" if i.optional else "required", {})[i.id] = (i.get_io_type(), d)
        return {
            "input": inputs,
            "output": [o.io_type for o in self.outputs or []],
            "output_name": [o.display_name or o.io_type for o in self.outputs or []],
            "name": self.node_id, "display_name": self.display_name,
            "category": self.category, "description": self.description,
            "output_node": self.is_output_node,
        }


class ComfyNode:
    """Base of V3 nodes: classmethods ``define_schema`` and ``execute``."""

    SCHEMA = None
    hidden = HiddenHolder()

    @classmethod
    def define_schema(cls) -> Schema:
        raise NotImplementedError

    @classmethod
    def execute(cls, **kwargs) -> "NodeOutput":
        raise NotImplementedError

    @classmethod
    def GET_SCHEMA(cls) -> Schema:
        schema = cls.define_schema()
        schema.finalize()
        schema.validate()
        cls.SCHEMA = schema
        return schema

    @classmethod
    def INPUT_TYPES(cls, include_hidden=True, return_schema=False):
        schema = cls.define_schema()
        schema.finalize()
        info = schema.get_v1_info(cls)["input"]
        return (info, schema) if return_schema else info


class NodeOutput:
    def __init__(self, *args: Any, ui: "_UIOutput | dict" = None, expand: dict = None,
                 block_execution: str = None):
        self.args = args
        self.ui = ui
        self.expand = expand
        self.block_execution = block_execution

    @property
    def result(self):
        return self.args if len(self.args) > 0 else None

    def __getitem__(self, index) -> Any:
        return self.args[index]


class _UIOutput:
    def as_dict(self) -> dict:
        raise NotImplementedError


