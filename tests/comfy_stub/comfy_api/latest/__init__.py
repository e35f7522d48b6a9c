"""Stand-in for ``comfy_api.latest``: just enough schema surface for node tests.

It mirrors the public names the pack uses (ComfyExtension, io, ui); it is
expanded as nodes need more of the surface.
"""
from abc import ABC, abstractmethod

from . import _io as io  # noqa: F401


class ComfyExtension(ABC):
    async def on_load(self) -> None:
        return None

    @abstractmethod
    async def get_node_list(self):
        ...
