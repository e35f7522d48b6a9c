"""Host-independent core of ComfyUI-DreamActor.

Motion signals (``signals``), the Wan-family animation DiT and VAE (``model``),
flow-matching sampling (``sampling``) and training (``training``). Nothing in
this package imports ComfyUI.
"""
__version__ = "0.1.0"
