"""ComfyUI-DreamActor: ComfyUI entry point (V3 node API).

ComfyUI imports this file as a package named after the pack folder (for
instance ``ComfyUI-DreamActor``), so the relative import of ``nodes`` works
there. A test runner may also import it as a lone file with no parent
package (pytest does so for a root folder whose name is not a Python
identifier, such as the README's ``ComfyUI-DreamActor``); then there is no
package to import ``nodes`` from, and the file registers nothing instead of
failing the whole collection.

The pack folder is appended to ``sys.path`` so the nodes can import the
host-independent ``dreamactor_core`` package by its own name (appended, not
prepended, so the pack's folder names never shadow the host's modules).
"""
import os
import sys

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.append(_HERE)

WEB_DIRECTORY = "./web/js"

if __package__:
    # Loaded as the pack (by ComfyUI): register the nodes. Without a parent
    # package (see the module docstring) there is nothing to register.
    from comfy_api.latest import ComfyExtension, io

    from .nodes import NODE_CLASSES

    class DreamActorExtension(ComfyExtension):
        async def get_node_list(self) -> list[type[io.ComfyNode]]:
            return list(NODE_CLASSES)

    async def comfy_entrypoint() -> DreamActorExtension:
        return DreamActorExtension()
