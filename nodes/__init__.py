"""Thin ComfyUI nodes over ``dreamactor_core``. Every node id starts with ``DreamActor``."""
NODE_CLASSES: list = []
