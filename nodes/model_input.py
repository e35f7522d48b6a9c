"""Any Wan2.2-Animate ``MODEL`` as a DiT the core's sampler runs.

:func:`sampler_model` takes what reached a node's ``model`` socket:

- the pack's MODEL (:mod:`.comfy_model`): the core runs the pack's DiT itself, after
  ComfyUI's memory manager has loaded it (with LoRA patches merged);
- a stock MODEL (Load Diffusion Model, GGUF and fp8-scaled loaders: ComfyUI's
  ``WAN22_Animate`` model): :class:`StockAnimateModel` calls it through ComfyUI's own
  ``apply_model``, so LoRAs, object patches, wrappers and transformer patches
  (``patches_replace`` attention/block replacements) act as they do under KSampler;
- outside ComfyUI, the core DiT unchanged.

What other nodes put on a MODEL either takes effect or is refused with its name: a
ModelSamplingSD3-style flow ``model_sampling`` gives the shift (it overrides the
Sampler's), sampler-level options (``sampler_cfg_function`` and such) are refused since
the pack's solvers run the steps, and the pack's DiT refuses transformer patches, which
only ComfyUI's own Wan model knows how to apply.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from dreamactor_core.model.config import ModelConfig
from dreamactor_core.model.contract import ConditionedModel, ModelContract
from dreamactor_core.model.dit import AnimateDiT
from dreamactor_core.model.embeddings import pad_text
from dreamactor_core.utils import DreamActorError

from .comfy_model import is_pack_model

MODEL_TOOLTIP = ("A Wan2.2-Animate MODEL: from DreamActor Model Loader (also the DreamActor-M1 variant) or stock "
                 "Load Diffusion Model, with LoRAs from LoraLoaderModelOnly and patches from other model nodes.")
# model_options keys the stock Wan model's apply path honours; any other one acts in KSampler's loop.
_APPLY_PATH_OPTIONS = {"transformer_options", "model_function_wrapper"}


@dataclass
class SamplerModel:
    """The DiT the core runs, plus what the MODEL's patches change in sampling."""

    dit: object
    shift: float | None = None  # from a patched model_sampling (ModelSamplingSD3), else None
    notes: list[str] = field(default_factory=list)


def _nonempty(d: dict) -> list[str]:
    return sorted(k for k, v in d.items() if v not in (None, {}, [], ()))


def _refuse_sampler_options(patcher, node: str, input_name: str, allowed: set[str]) -> None:
    """Refuse model_options that only ComfyUI's KSampler loop (or ComfyUI's own Wan model) applies."""
    options = dict(patcher.model_options)
    extra = _nonempty({k: v for k, v in options.items() if k not in allowed})
    if extra:
        raise DreamActorError(f"{node}, input '{input_name}': the MODEL carries {', '.join(extra)} from another node; "
                              "those act inside KSampler's sampling loop, which DreamActor Sampler does not run. "
                              "Remove that node, or sample with KSampler")
    if getattr(patcher, "hook_patches", None):
        raise DreamActorError(f"{node}, input '{input_name}': the MODEL carries hook patches (Create Hook ... "
                              "nodes); DreamActor Sampler does not apply hooks. Use LoraLoaderModelOnly instead")


def _shift(patcher, node: str, input_name: str, notes: list[str]) -> float | None:
    """The shift of a model_sampling another node patched in (ModelSamplingSD3), checked to be a flow."""
    sampling = patcher.object_patches.get("model_sampling")
    if sampling is None:
        return None
    import comfy.model_sampling as ms

    if not (isinstance(sampling, ms.CONST) and hasattr(sampling, "shift")):
        raise DreamActorError(f"{node}, input '{input_name}': the MODEL's model_sampling was replaced by "
                              f"{type(sampling).__name__}, which is not a rectified-flow sampling; Wan2.2-Animate "
                              "is a flow model: use ModelSamplingSD3 (or remove the node)")
    if float(getattr(sampling, "multiplier", 1000)) != 1000.0:
        raise DreamActorError(f"{node}, input '{input_name}': model_sampling's multiplier is "
                              f"{sampling.multiplier}; Wan models take timestep = 1000 * sigma: use ModelSamplingSD3")
    shift = float(sampling.shift)
    notes.append(f"shift {shift:g} from the MODEL's model_sampling (ModelSamplingSD3) replaces the shift widget")
    return shift


def ensure_loaded(patcher, memory_required: int = 0) -> None:
    """Have ComfyUI's memory manager load ``patcher`` (LoRA patches merged) unless it already is."""
    inner = patcher.model
    if inner.model_loaded_weight_memory > 0 and inner.current_weight_patches_uuid == patcher.patches_uuid \
            and inner.device == patcher.load_device:
        return
    import comfy.model_management as mm

    mm.load_models_gpu([patcher], memory_required=memory_required)


class LoadedPackDiT(ConditionedModel):
    """The pack's DiT behind a MODEL, made sure to be loaded before each window and each call.

    Per-window VAE decodes may make ComfyUI offload the DiT; every entry point loads it back.
    Its contract, config and everything else are the DiT's own.
    """

    def __init__(self, patcher):
        self._patcher = patcher
        self._dit = patcher.model.diffusion_model

    def __getattr__(self, name):
        value = getattr(self._dit, name)
        if isinstance(value, torch.nn.Module):  # e.g. the face encoders, run directly
            self._load()
        return value

    @property
    def contract(self) -> ModelContract:
        return self._dit.contract

    def _load(self, x=None):
        need = self._patcher.model.memory_required(x.shape) if isinstance(x, torch.Tensor) else 0
        ensure_loaded(self._patcher, need)

    def prepare_conditioning(self, cond, cache: dict):
        self._load()
        return self._dit.prepare_conditioning(cond, cache)

    def encode_face(self, *args, **kwargs):
        self._load()
        return self._dit.encode_face(*args, **kwargs)

    def __call__(self, x, *args, **kwargs):
        self._load(x)
        return self._dit(x, *args, **kwargs)


class StockAnimateModel(ConditionedModel):
    """ComfyUI's Wan2.2-Animate model (``WAN22_Animate``) under the core's model contract.

    The core asks for the velocity at ``t = 1000 * sigma``; ComfyUI's ``apply_model`` gives the
    denoised latent ``x - sigma * v`` of a flow model, so the velocity is read back from it.
    Face motion goes in as face pixels (ComfyUI's model encodes them itself each call). Text is
    padded to the model's text length first, as the official model and the pack's DiT see it.
    """

    CONSUMES = frozenset({"context", "y", "clip_fea", "pose_latents", "face_pixels"})

    def __init__(self, patcher, node: str, input_name: str):
        self._patcher = patcher
        base = patcher.model
        shapes = {k: tuple(v.shape) for k, v in base.diffusion_model.state_dict().items()}
        try:
            self.config = ModelConfig.from_shapes(shapes)
        except DreamActorError as err:
            raise DreamActorError(f"{node}, input '{input_name}': this MODEL is not a Wan2.2-Animate model ({err})") \
                from None
        cfg = self.config
        self._contract = ModelContract(num_refs=1, face_path="pixels" if cfg.has_face else "none",
                                       face_size=cfg.face_size, pose_injection=cfg.pose_mode, text_len=cfg.text_len,
                                       has_clip=cfg.has_clip, consumes=self.CONSUMES)
        self.compute_dtype = base.get_dtype()

    @property
    def contract(self) -> ModelContract:
        return self._contract

    def __call__(self, x, t, context=None, clip_fea=None, y=None, pose_latents=None, face_pixels=None):
        patcher, base = self._patcher, self._patcher.model
        ensure_loaded(patcher, base.memory_required(x.shape))
        sigma = (t.float() / 1000.0).to(x.device)
        import comfy.patcher_extension as pe

        options = pe.copy_nested_dicts(patcher.model_options.get("transformer_options", {}))
        pe.merge_nested_dicts(options.setdefault("wrappers", {}), patcher.wrappers, copy_dict1=False)
        options.update(cond_or_uncond=[0], sigmas=sigma)
        # padded with zeros to the model's text length, as Wan2.2-Animate (and the pack's DiT) does
        conds = {"c_concat": y, "c_crossattn": pad_text(context, self.config.text_len), "transformer_options": options,
                 "clip_fea": clip_fea, "pose_latents": pose_latents, "face_pixel_values": face_pixels}
        wrapper = patcher.model_options.get("model_function_wrapper")
        if wrapper is not None:
            denoised = wrapper(base.apply_model, {"input": x, "timestep": sigma, "c": conds, "cond_or_uncond": [0]})
        else:
            denoised = base.apply_model(x, sigma, **conds)
        s = sigma.view(-1, *([1] * (x.ndim - 1)))
        return ((x.float() - denoised.float().to(x.device)) / s).to(x.dtype)


def sampler_model(model, node: str, input_name: str = "model") -> SamplerModel:
    """What the core's sampler runs for whatever reached ``input_name``; errors name ``node`` and the input."""
    patcher = model
    base = getattr(patcher, "model", None)
    if base is None or not hasattr(patcher, "model_options"):  # not a ModelPatcher
        if isinstance(model, AnimateDiT) or callable(model):  # outside ComfyUI: the DiT (or a test stand-in)
            return SamplerModel(model)
        raise DreamActorError(f"{node}, input '{input_name}': expected a MODEL from DreamActor Model Loader or Load "
                              f"Diffusion Model, got {type(model).__name__}")
    notes: list[str] = []
    if is_pack_model(patcher):
        _refuse_sampler_options(patcher, node, input_name, allowed={"transformer_options"})
        extra = _nonempty(patcher.model_options.get("transformer_options", {}))
        extra += ["weight wrappers"] if patcher.weight_wrapper_patches else []
        extra += ["wrappers"] if _nonempty(patcher.wrappers) else []
        if extra:
            raise DreamActorError(f"{node}, input '{input_name}': the MODEL carries {', '.join(extra)} from another "
                                  "node; the DreamActor Model Loader's DiT cannot apply those (ComfyUI's own Wan "
                                  "model can: load the file with Load Diffusion Model), or remove that node")
        shift = _shift(patcher, node, input_name, notes)
        return SamplerModel(LoadedPackDiT(patcher), shift, notes)
    import comfy.model_base

    if not isinstance(base, comfy.model_base.WAN22_Animate):
        raise DreamActorError(f"{node}, input '{input_name}': this MODEL is {type(base).__name__}; DreamActor "
                              "Sampler runs Wan2.2-Animate models (Load Diffusion Model with "
                              "wan2.2_animate_14B_*.safetensors) or DreamActor Model Loader's")
    _refuse_sampler_options(patcher, node, input_name, allowed=_APPLY_PATH_OPTIONS)
    shift = _shift(patcher, node, input_name, notes)
    return SamplerModel(StockAnimateModel(patcher, node, input_name), shift, notes)
