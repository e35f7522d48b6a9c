"""Stand-in for ``comfy_api.latest``: the schema surface of ComfyUI's V3 node API.

It mirrors the public names the pack uses (``ComfyExtension``, ``io``, ``ui``)
with the host's signatures, so nodes tested here run unchanged in ComfyUI.
"""
from abc import ABC, abstractmethod

from . import _io as io  # noqa: F401
from . import _ui as ui  # noqa: F401


class ComfyExtension(ABC):
    async def on_load(self) -> None:
        """Called when the extension is loaded."""

    @abstractmethod
    async def get_node_list(self) -> list:
        """The node classes this extension provides."""


comfy_io = io
__all__ = ["ComfyExtension", "io", "ui", "comfy_io"]
