"""ComfyUI-DreamActor: ComfyUI entry point (V3 node API).

The pack folder is appended to ``sys.path`` so the nodes can import the
host-independent ``dreamactor_core`` package by its own name (appended, not
prepended, so the pack's folder names never shadow the host's modules).
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)

from comfy_api.latest import ComfyExtension, io  # noqa: E402

from .nodes import NODE_CLASSES  # noqa: E402

WEB_DIRECTORY = "./web/js"


class DreamActorExtension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        return list(NODE_CLASSES)


async def comfy_entrypoint() -> DreamActorExtension:
    return DreamActorExtension()
