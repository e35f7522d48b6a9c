"""The pack's DiT as a stock ComfyUI ``MODEL``.

:func:`wrap_dit` puts the core's :class:`~dreamactor_core.model.dit.AnimateDiT` inside a
small comfy-side model object (``diffusion_model`` holds the DiT, so the state dict keys
are ``diffusion_model.<official key>``, the ones ComfyUI's LoRA key map builds) held by a
``ModelPatcher`` subclass. So:

- stock LoraLoaderModelOnly patches it (the patches are merged by the patcher when
  ComfyUI loads the model, and taken out again when it unloads it);
- ComfyUI's memory manager loads it on its device when the Sampler runs and offloads it
  when another model needs the memory (POST /free with ``unload_models`` included);
- the pack's own strengths stay: block swap (swapped blocks never leave host memory, the
  patcher moves only the rest), attention backends, fp8 storage with scales (LoRA deltas
  go through the scale), and the DreamActor-M1 variant, which ComfyUI does not know.

Outside ComfyUI there is no ``comfy`` package and :func:`wrap_dit` returns the DiT itself.
"""
from __future__ import annotations

import functools

import torch

from dreamactor_core.model.block_swap import move_unswapped
from dreamactor_core.model.dit import AnimateDiT
from dreamactor_core.utils import DreamActorError

from . import host

# Activation bytes per latent token and model width unit for one forward (fp32, attention
# and FFN intermediates of one block at a time); the memory manager frees this much.
_BYTES_PER_TOKEN_PER_DIM = 48


def _swapped(dit: AnimateDiT) -> list[torch.nn.Module]:
    swap = dit.block_swap
    return list(swap.blocks) if swap is not None else []


def _scaled_fp8_hooks(module: torch.nn.Module):
    """ComfyUI's convert/set hooks for a linear layer whose weight is fp8 times ``scale_weight``.

    The patcher calls ``convert_weight`` on a float32 copy before adding a LoRA delta and
    ``set_weight`` with the result, so the delta is added to the real weight (scale applied)
    and stored back in fp8 over the same scale.
    """
    def convert_weight(weight, inplace=False, **_):
        return weight.mul_(module.scale_weight.to(weight)) if inplace else weight * module.scale_weight.to(weight)

    def set_weight(weight, inplace_update=False, seed=None, return_weight=False, **_):
        import comfy.float

        stored = comfy.float.stochastic_rounding(weight / module.scale_weight.to(weight), module.weight.dtype,
                                                 seed=seed)
        if return_weight:
            return stored
        module.weight.data.copy_(stored)

    return convert_weight, set_weight


@functools.lru_cache(maxsize=None)
def _classes():
    """The comfy-side model and patcher classes, built on first use so this module imports without ComfyUI."""
    import comfy.latent_formats
    import comfy.model_base
    import comfy.model_management as mm
    import comfy.model_patcher
    import comfy.model_sampling
    import comfy.patcher_extension

    class FlowSampling(comfy.model_sampling.ModelSamplingDiscreteFlow, comfy.model_sampling.CONST):
        """Rectified flow with timestep = 1000 * sigma, as the pack's solvers sample."""

    class PackConfig:
        """What ComfyUI's nodes read off ``model.model_config`` (LoRA key map, ModelSamplingSD3)."""

        unet_config: dict = {}
        sampling_settings = {"shift": 5.0, "multiplier": 1000}
        memory_usage_factor = 1.0

    class DreamActorComfyModel(torch.nn.Module):
        """The comfy-side model: holds the pack's DiT as ``diffusion_model`` and nothing else.

        It has no ``apply_model``-style sampling of its own; the DreamActor Sampler runs it.
        """

        def __init__(self, dit: AnimateDiT):
            super().__init__()
            self.diffusion_model = dit
            self.model_config = PackConfig()
            self.model_type = comfy.model_base.ModelType.FLOW
            self.latent_format = comfy.latent_formats.Wan21()
            self.model_sampling = FlowSampling(self.model_config)
            self.device = torch.device("cpu")

        def get_dtype(self) -> torch.dtype:
            return self.diffusion_model.compute_dtype

        def memory_required(self, input_shape) -> int:
            tokens = int(torch.Size(input_shape)[2:].numel()) // 4 * int(input_shape[0])
            return tokens * self.diffusion_model.config.dim * _BYTES_PER_TOKEN_PER_DIM

        def apply_model(self, *args, **kwargs):
            raise DreamActorError("This MODEL is the DreamActor Model Loader's; sample it with DreamActor Sampler "
                                  "(KSampler and other samplers cannot run it). For KSampler, load the file with "
                                  "Load Diffusion Model instead.")

    class DreamActorModelPatcher(comfy.model_patcher.ModelPatcher):
        """A ModelPatcher that keeps block swap: swapped blocks stay in host memory, patched in place.

        Weights are always patched in place (``weight_inplace_update``), so block swap's host
        copies and the layers keep pointing at the same tensors; the original weights are kept
        as the patcher's backup and put back on unload.
        """

        def model_size(self) -> int:
            if self.size > 0:
                return self.size
            dit = self.model.diffusion_model
            swapped = sum(mm.module_size(b) for b in _swapped(dit))
            self.size = mm.module_size(self.model) - swapped  # what the device holds
            return self.size

        def load(self, device_to=None, lowvram_model_memory=0, force_patch_weights=False, full_load=False):
            with self.use_ejected():
                self.unpatch_hooks()
                for key in [k for k in self.patches if k not in self.backup]:  # backed up: patched already
                    # the delta is computed on the device, the result copied into the host weight
                    self.patch_weight_to_device(key, device_to=device_to, inplace_update=True)
                dit = self.model.diffusion_model
                if device_to is not None:
                    move_unswapped(dit, _swapped(dit), device_to)
                    self.model.device = device_to
                self.model.model_lowvram = False
                self.model.model_loaded_weight_memory = self.model_size()
                self.model.current_weight_patches_uuid = self.patches_uuid
                for callback in self.get_all_callbacks(comfy.patcher_extension.CallbacksMP.ON_LOAD):
                    callback(self, device_to, lowvram_model_memory, force_patch_weights, full_load)
                self.apply_hooks(self.forced_hooks, force_apply=True)

        def partially_unload(self, device_to, memory_to_free=0) -> int:
            return 0  # all or nothing: the memory manager then unloads the whole model

    return DreamActorComfyModel, DreamActorModelPatcher


def wrap_dit(dit: AnimateDiT):
    """The DiT as the pack's Model Loader outputs it: a stock ``MODEL`` inside ComfyUI, itself outside.

    Load the DiT on the CPU (block swap set up with :class:`~dreamactor_core.model.block_swap.BlockSwap`
    and the compute device, nothing moved yet); ComfyUI's memory manager moves it when it runs.
    """
    if host.comfy_module("comfy.model_patcher") is None:
        return dit
    import comfy.model_management as mm

    for module in dit.modules():  # scaled fp8 linears: LoRA deltas go through the scale
        if getattr(module, "scale_weight", None) is not None:
            module.convert_weight, module.set_weight = _scaled_fp8_hooks(module)
    model_class, patcher_class = _classes()
    return patcher_class(model_class(dit), load_device=mm.get_torch_device(),
                         offload_device=mm.unet_offload_device(), weight_inplace_update=True)


def is_pack_model(model) -> bool:
    """Whether ``model`` is a MODEL made by :func:`wrap_dit`."""
    return isinstance(getattr(getattr(model, "model", None), "diffusion_model", None), AnimateDiT)
