"""One VAE socket: the pack's VAE as a stock ComfyUI ``VAE``, and any stock Wan2.1 VAE for the core.

- :func:`wrap_vae` turns the core's :class:`~dreamactor_core.model.vae.WanVAE` into a
  ``comfy.sd.VAE`` subclass, so stock VAEEncode, VAEDecode, VAEDecodeTiled and
  WanAnimateToVideo take it. Its encode and decode are the core's chunked ones (memory
  flat in the video's length, progress and cancel), and it is held by a ModelPatcher,
  so ComfyUI's memory manager loads and offloads it like its own VAEs.
- :func:`core_vae` gives the core a WanVAE for whatever VAE reached a node: the pack's
  own, or a stock Wan2.1 VAE from Load VAE, whose loaded weights are taken over as they
  are (no copy) so the pack's decode runs on them.

Outside ComfyUI (unit tests, scripts) there is no ``comfy`` package: :func:`wrap_vae`
returns the core VAE unchanged and :func:`core_vae` accepts it.
"""
from __future__ import annotations

import functools
from typing import Any

import torch

from dreamactor_core.model.vae import WanVAE
from dreamactor_core.utils import DreamActorError

from . import host

# Working memory per latent pixel of one chunked decode/encode step, in units of the dtype's size.
# Chunked decoding keeps it independent of the number of frames (ComfyUI's own estimate grows with it).
_DECODE_BYTES_PER_LATENT_PIXEL = 7000 * 64
_ENCODE_BYTES_PER_PIXEL = 6000


def _wan21_ratios() -> dict[str, Any]:
    """The compression attributes ComfyUI's nodes read off a Wan2.1 VAE (4x time, 8x space)."""
    return {"upscale_ratio": (lambda a: max(0, a * 4 - 3), 8, 8), "upscale_index_formula": (4, 8, 8),
            "downscale_ratio": (lambda a: max(0, (a + 3) // 4), 8, 8), "downscale_index_formula": (4, 8, 8),
            "latent_dim": 3, "latent_channels": 16, "output_channels": 3}


@functools.lru_cache(maxsize=None)
def _vae_class():
    """The ``comfy.sd.VAE`` subclass, built on first use so this module imports without ComfyUI."""
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.sd

    class DreamActorVAE(comfy.sd.VAE):
        """A stock-compatible VAE whose encode/decode run the core's chunked Wan2.1 VAE."""

        # The parent's __init__ builds ComfyUI's own model from a state dict; ours is built already,
        # so the attributes ComfyUI's nodes and memory manager read are set here instead.
        def __init__(self, core: WanVAE) -> None:  # noqa: D107 - documented on the class
            self.__dict__.update(_wan21_ratios())
            self.memory_used_decode = lambda shape, dtype: _DECODE_BYTES_PER_LATENT_PIXEL * shape[3] * shape[4] \
                * mm.dtype_size(dtype)
            self.memory_used_encode = lambda shape, dtype: _ENCODE_BYTES_PER_PIXEL * shape[3] * shape[4] \
                * mm.dtype_size(dtype)
            self.process_input = lambda image: image * 2.0 - 1.0
            self.process_output = lambda image: torch.clamp((image + 1.0) / 2.0, min=0.0, max=1.0)
            self.working_dtypes = [torch.bfloat16, torch.float16, torch.float32]
            self.disable_offload = False
            self.not_video = False
            self.extra_1d_channel = None
            self.crop_input = True
            self.first_stage_model = core.eval()
            self.device = mm.vae_device()
            self.vae_dtype = next(core.parameters()).dtype
            self.output_device = mm.intermediate_device()
            self.patcher = comfy.model_patcher.ModelPatcher(core, load_device=self.device,
                                                            offload_device=mm.vae_offload_device())

        def load(self, shape, encode: bool) -> WanVAE:
            """Have ComfyUI's memory manager put the VAE on its device; returns the core VAE."""
            need = (self.memory_used_encode if encode else self.memory_used_decode)(shape, self.vae_dtype)
            mm.load_models_gpu([self.patcher], memory_required=need, force_full_load=self.disable_offload)
            return self.first_stage_model

        def _decode(self, samples: torch.Tensor, tile) -> torch.Tensor:
            core = self.load(samples.shape, encode=False)
            video = core.decode_raw(samples.to(self.device, self.vae_dtype), tile=tile,
                                    progress=host.progress_callback(), cancel=host.cancel_callback())
            return self.process_output(video.to(self.output_device).float()).movedim(1, -1)

        def decode(self, samples_in, vae_options={}):  # noqa: B006 - the parent's signature
            return self._decode(samples_in, None)

        def decode_tiled(self, samples, tile_x=None, tile_y=None, overlap=None, tile_t=None, overlap_t=None):
            # ComfyUI gives tiles in latent pixels; time is always chunked here, so tile_t is not needed.
            size = 8 * int(tile_x or tile_y or 32)
            lap = min(8 * int(overlap if overlap is not None else size // 32), size // 2 - 8) // 8 * 8
            from dreamactor_core.model.vae import Tiling

            return self._decode(samples, Tiling(size=size, overlap=max(0, lap)))

        def _encode(self, pixel_samples: torch.Tensor, tile) -> torch.Tensor:
            pixels = self.vae_encode_crop_pixels(pixel_samples)[..., :3]
            video = pixels.movedim(-1, 0).unsqueeze(0) if pixels.ndim == 4 else pixels.movedim(-1, 1)
            video = video[:, :, : (video.shape[2] - 1) // 4 * 4 + 1]  # as ComfyUI's Wan VAE: 1 + 4k frames used
            core = self.load(video.shape, encode=True)
            latent = core.encode_raw(self.process_input(video).to(self.device, self.vae_dtype), tile=tile,
                                     progress=host.progress_callback(), cancel=host.cancel_callback())
            return latent.to(self.output_device).float()

        def encode(self, pixel_samples):
            return self._encode(pixel_samples, None)

        def encode_tiled(self, pixel_samples, tile_x=None, tile_y=None, overlap=None, tile_t=None, overlap_t=None):
            size = int(tile_x or tile_y or 512) // 8 * 8
            lap = min(int(overlap if overlap is not None else size // 8), size // 2 - 8) // 8 * 8
            from dreamactor_core.model.vae import Tiling

            return self._encode(pixel_samples, Tiling(size=size, overlap=max(0, lap)))

    return DreamActorVAE


def wrap_vae(core: WanVAE):
    """The core VAE as the pack's VAE Loader outputs it: a stock ``VAE`` inside ComfyUI, itself outside."""
    if host.comfy_module("comfy.sd") is None:
        return core
    return _vae_class()(core)


def core_vae(vae, node: str, input_name: str = "vae") -> WanVAE:
    """The core WanVAE behind ``vae``, loaded on ComfyUI's device; errors name ``node`` and ``input_name``.

    Accepts the pack's VAE, a stock Wan2.1 VAE (Load VAE) and, outside ComfyUI, a bare core VAE.
    Anything with the core VAE's interface (test stand-ins) passes through unchanged.
    """
    first = getattr(vae, "first_stage_model", None)
    if first is None:
        if isinstance(vae, WanVAE) or callable(getattr(vae, "decode", None)):
            return vae
        raise DreamActorError(f"{node}, input '{input_name}': expected a VAE from Load VAE or DreamActor VAE "
                              f"Loader, got {type(vae).__name__}")
    if isinstance(first, WanVAE):  # the pack's own VAE
        vae.load((1, 16, 1, 8, 8), encode=False)
        return first
    return _adopt_stock_vae(vae, node, input_name)


def _adopt_stock_vae(vae, node: str, input_name: str) -> WanVAE:
    """A stock Wan2.1 VAE's loaded weights as a core WanVAE (tensors shared, not copied)."""
    from dreamactor_core.model.checkpoint import Checkpoint
    from dreamactor_core.model.loader import load_vae
    from dreamactor_core.model.state_dict_file import StateDictFile

    channels, dims = getattr(vae, "latent_channels", None), getattr(vae, "latent_dim", None)
    if channels != 16 or dims != 3:
        raise DreamActorError(f"{node}, input '{input_name}': this VAE has {channels} latent channels in "
                              f"{dims} dimensions; the pack needs the Wan2.1 video VAE (16 channels, e.g. "
                              "wan_2.1_vae.safetensors) -- the Wan2.2 48-channel VAE is for the 5B model only")
    import comfy.model_management as mm

    # Loaded first so the tensors taken over are the ones on ComfyUI's compute device.
    mm.load_models_gpu([vae.patcher], memory_required=0, force_full_load=True)
    weights = vae.first_stage_model.state_dict()
    with host.node_errors(node, input_name):
        checkpoint = Checkpoint("Load VAE output", file=StateDictFile(weights, what=f"{input_name} (stock VAE)"))
        return load_vae(checkpoint, dtype=vae.vae_dtype, device=vae.device)
