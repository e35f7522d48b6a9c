"""Thin ComfyUI nodes over ``dreamactor_core``. Every node id starts with ``DreamActor``."""
from . import model, sampling, signals

NODE_CLASSES: list = [*signals.NODES, *model.NODES, *sampling.NODES]
