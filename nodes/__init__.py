"""Thin ComfyUI nodes over ``dreamactor_core``. Every node id starts with ``DreamActor``."""
from . import detail, mask, model, sampling, settings, signals

NODE_CLASSES: list = [*signals.NODES, *mask.NODES, *model.NODES, *sampling.NODES, *settings.NODES, *detail.NODES]
