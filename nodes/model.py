"""Model nodes: load the animation DiT and the Wan VAE, encode/decode video, encode face motion."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from dreamactor_core.utils import DreamActorError

from . import host
from .comfy_vae import core_vae, wrap_vae
from .comfy_model import wrap_dit
from .model_input import sampler_model
from .types import FaceTokens, image_to_uint8, image_to_video

CATEGORY = "DreamActor/model"
DIT_FOLDERS = [host.DREAMACTOR_FOLDER, "diffusion_models"]
VAE_FOLDERS = ["vae"]

WEIGHT_DTYPES = {"default": None, "bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32,
                 "fp8_e4m3fn": getattr(torch, "float8_e4m3fn", None)}
COMPUTE_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
# the names the node shows (the packages an artist installs) -> the core's backend names
ATTENTION = {"sdpa": "sdpa", "sageattention": "sage", "flash_attn": "flash"}

host.register_model_folder()


def pick_compute_dtype(name: str, device: torch.device) -> torch.dtype:
    """``auto`` picks bf16 on a GPU that supports it and fp32 elsewhere (CPU half math is slow)."""
    if name != "auto":
        return COMPUTE_DTYPES[name]
    if device.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.bfloat16
    return torch.float32


def _folders_tip(folders: list[str]) -> str:
    dirs = [d for f in folders for d in host.folder_dirs(f)]
    return "Looks in: " + (", ".join(dirs) if dirs else ", ".join(folders))


def _dit_names() -> list[str]:
    names = []
    for folder in DIT_FOLDERS:
        names += [n for n in host.list_models(folder) if n not in names]
    return names


class ModelLoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="DreamActorModelLoader",
            display_name="DreamActor Model Loader",
            category=CATEGORY,
            description="Loads an animation DiT (Wan2.2-Animate-14B, or a DreamActor-M1 variant trained with this "
                        "pack) from a safetensors file. The architecture is read from the file itself.",
            inputs=[
                io.Combo.Input("model_name", options=_dit_names(), tooltip=_folders_tip(DIT_FOLDERS)),
                io.Combo.Input("weight_dtype", options=list(WEIGHT_DTYPES), default="default",
                               tooltip="Storage type of the weights in memory. default keeps the file's own type; "
                                       "fp8_e4m3fn halves memory again, upcast per layer as it runs."),
                io.Combo.Input("compute_dtype", options=["auto", *COMPUTE_DTYPES], default="auto",
                               tooltip="Type the math runs in. auto: bf16 on a GPU that has it, else fp32."),
                io.Int.Input("block_swap", default=0, min=0, max=40,
                             tooltip="Transformer blocks kept in CPU memory and streamed to the GPU as they run. "
                                     "Raise it until the model fits (about 20 for a 24 GB GPU with the 14B model)."),
                io.Combo.Input("attention", options=list(ATTENTION), default="sdpa",
                               tooltip="Attention kernel: torch sdpa always works; sageattention and flash_attn "
                                       "are used only when installed."),
                io.Int.Input("reference_slots", default=0, min=0, max=8,
                             tooltip="Reference frames the checkpoint was trained with. 0 reads it from the file "
                                     "(our trainer records it; other files count as 1, right for Wan2.2-Animate); "
                                     "set 3 for a DreamActor-M1 variant file that does not record it. Extra "
                                     "reference images beyond the first fill the other slots."),
                io.Int.Input("num_heads", default=0, min=0, max=256,
                             tooltip="Attention heads. 0 reads them from the file (Wan2.2-Animate and files our "
                                     "trainer writes tell them); set it only for a DiT trained elsewhere with a "
                                     "head size other than 128 that does not record it."),
            ],
            outputs=[io.Model.Output(display_name="model", tooltip="The animation DiT as a stock MODEL: stock "
                                                                   "LoraLoaderModelOnly patches it and ComfyUI loads "
                                                                   "and offloads it. For the DreamActor Sampler, "
                                                                   "Pseudo References and Face Motion Encode.")],
        )

    @classmethod
    def execute(cls, model_name, weight_dtype, compute_dtype, block_swap, attention,
                reference_slots=0, num_heads=0) -> io.NodeOutput:
        import dataclasses

        from dreamactor_core.model.attention import get_attention
        from dreamactor_core.model.block_swap import BlockSwap
        from dreamactor_core.model.loader import check_compute_dtype, load_dit

        node = "DreamActor Model Loader"
        with host.node_errors(node, "attention"):  # before the long load, and on the input to change
            if attention not in ATTENTION:
                raise DreamActorError(f"'{attention}' is not one of {', '.join(ATTENTION)}")
            get_attention(ATTENTION[attention])
        with host.node_errors(node, "model_name"):
            path = host.model_path(DIT_FOLDERS, model_name, "model_name")
        device = host.torch_device()
        dtype = pick_compute_dtype(compute_dtype, device)
        in_comfy = host.comfy_module("comfy.model_patcher") is not None
        with host.node_errors(node, "compute_dtype"):
            check_compute_dtype(dtype, device)
        with host.node_errors(node, "model_name", also=("num_heads",)):
            # Inside ComfyUI the file is read into host memory; the memory manager moves it when it runs.
            model = load_dit(path, weight_dtype=WEIGHT_DTYPES[weight_dtype], compute_dtype=dtype,
                             device="cpu" if in_comfy else device, block_swap=0 if in_comfy else int(block_swap),
                             attention=ATTENTION[attention], num_heads=int(num_heads) or None)
        if in_comfy and int(block_swap):  # swapped blocks stay in (pinned) host memory from now on
            model.block_swap = BlockSwap(model.blocks, min(int(block_swap), len(model.blocks)), device)
        if int(reference_slots) and int(reference_slots) != model.config.num_refs:  # not a weight: may be overridden
            model.config = dataclasses.replace(model.config, num_refs=int(reference_slots))
        return io.NodeOutput(wrap_dit(model))


class VAELoader(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="DreamActorVAELoader",
            display_name="DreamActor VAE Loader",
            category=CATEGORY,
            description="Loads the Wan2.1 3D causal VAE (16 latent channels, 4x time, 8x space) from a safetensors file "
                        "as a stock VAE: stock VAE Encode/Decode take it too, and its decode works chunk by chunk "
                        "in time, so memory stays flat however long the video is.",
            inputs=[
                io.Combo.Input("vae_name", options=host.list_models("vae"), tooltip=_folders_tip(VAE_FOLDERS)),
                io.Combo.Input("dtype", options=["auto", *COMPUTE_DTYPES], default="auto",
                               tooltip="Type the VAE runs in. auto: bf16 on a GPU that has it, else fp32."),
            ],
            outputs=[io.Vae.Output(display_name="vae", tooltip="The Wan2.1 video VAE, as a stock VAE: it works "
                                                               "with the pack's nodes and ComfyUI's VAE nodes.")],
        )

    @classmethod
    def execute(cls, vae_name, dtype) -> io.NodeOutput:
        from dreamactor_core.model.loader import load_vae

        with host.node_errors("DreamActor VAE Loader", "vae_name"):
            path = host.model_path(VAE_FOLDERS, vae_name, "vae_name")
            device = host.torch_device()
            vae = load_vae(path, dtype=pick_compute_dtype(dtype, device), device=device)
        return io.NodeOutput(wrap_vae(vae))


def pad_frames(images: torch.Tensor) -> torch.Tensor:
    """Repeat the last frame up to 4n+1 frames (the VAE's and face encoder's time packing).

    VAE Encode and Face Motion Encode pad alike, so the latents and tokens of one clip
    keep the same length and a sampler fed by both gives one frame per input frame
    (plus the padding).
    """
    extra = -(images.shape[0] - 1) % 4
    return torch.cat([images, images[-1:].expand(extra, *images.shape[1:])]) if extra else images


VAE_TOOLTIP = "A Wan2.1 VAE: from DreamActor VAE Loader or stock Load VAE (wan_2.1_vae)."
CHUNK_TOOLTIP = ("Latent frames per VAE call (1 = the official 4-frame chunks). Larger is faster and uses more "
                 "memory; the result is the same.")
TILE_TOOLTIP = ("Spatial tile size in pixels (0 = whole frame). Tiles overlap and are blended; use them when "
                "a large frame does not fit in memory.")


class VAEEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="DreamActorVAEEncode",
            display_name="DreamActor VAE Encode",
            category=CATEGORY,
            description="Encodes an IMAGE batch (a video) to a Wan video LATENT [1,16,T,H/8,W/8] of raw VAE means, "
                        "as ComfyUI's own Wan VAE does. Time is encoded first frame alone, then 4 frames per chunk.",
            inputs=[
                io.Vae.Input("vae", tooltip=VAE_TOOLTIP),
                io.Image.Input("images", tooltip="Video frames; height and width must be multiples of 8. Any count: "
                                                 "the last frame is repeated up to 4n+1 frames."),
                io.Int.Input("chunk", default=1, min=1, max=64, tooltip=CHUNK_TOOLTIP),
                io.Int.Input("tile", default=0, min=0, max=4096, step=32, tooltip=TILE_TOOLTIP),
            ],
            outputs=[io.Latent.Output(display_name="latent", tooltip="Wan video LATENT (raw VAE means), e.g. the "
                                                                     "sampler's pose_latents.")],
        )

    @classmethod
    def execute(cls, vae, images, chunk, tile) -> io.NodeOutput:
        node = "DreamActor VAE Encode"
        if images.ndim != 4 or images.shape[0] == 0:
            raise DreamActorError(f"{node}, input 'images': expected a non-empty IMAGE batch")
        video = image_to_video(pad_frames(images.float()))
        vae = core_vae(vae, node)
        with host.node_errors(node, "images"):
            latent = vae.encode_raw(video, tile=int(tile) or None, chunk=int(chunk),
                                    progress=host.progress_callback(), cancel=host.cancel_callback())
        return io.NodeOutput({"samples": latent.float().cpu()})


class VAEDecode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="DreamActorVAEDecode",
            display_name="DreamActor VAE Decode",
            category=CATEGORY,
            description="Decodes a Wan video LATENT (raw VAE means) to an IMAGE batch, chunk by chunk in time so "
                        "memory stays flat however long the video is. Shows progress and can be cancelled.",
            inputs=[
                io.Vae.Input("vae", tooltip=VAE_TOOLTIP),
                io.Latent.Input("latent", tooltip="A video latent [B,16,T,H,W], e.g. from DreamActor Sampler."),
                io.Int.Input("chunk", default=1, min=1, max=64, tooltip=CHUNK_TOOLTIP),
                io.Int.Input("tile", default=0, min=0, max=4096, step=32, tooltip=TILE_TOOLTIP),
            ],
            outputs=[io.Image.Output(display_name="images", tooltip="Decoded frames (IMAGE batch).")],
        )

    @classmethod
    def execute(cls, vae, latent, chunk, tile) -> io.NodeOutput:
        return io.NodeOutput(decode_latent(vae, latent, tile, "DreamActor VAE Decode", chunk=chunk))


def decode_latent(vae, latent: dict, tile: int, node: str, chunk: int = 1) -> torch.Tensor:
    """Decode a LATENT dict with progress and cancel; returns IMAGE [B*T, H, W, 3]."""
    samples = latent.get("samples") if isinstance(latent, dict) else None
    if not isinstance(samples, torch.Tensor) or samples.ndim != 5 or samples.shape[1] != 16:
        shape = tuple(getattr(samples, "shape", ()))
        raise DreamActorError(f"{node}, input 'latent': expected a Wan video latent [B,16,T,H,W], got {shape}")
    vae = core_vae(vae, node)
    with host.node_errors(node, "latent"):  # frames are written in place: the video exists once
        return vae.decode_frames(samples, tile=int(tile) or None, chunk=int(chunk),
                                 progress=host.progress_callback(), cancel=host.cancel_callback())


class FaceMotionEncode(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        return io.Schema(
            node_id="DreamActorFaceMotionEncode",
            display_name="DreamActor Face Motion Encode",
            category=CATEGORY,
            description="Runs the model's face motion encoder on face crops (resized to the model's face size) and "
                        "returns the face motion tokens, one token frame per 4 video frames, so they can be edited "
                        "or swapped and given to DreamActor Sampler's face_tokens input.",
            inputs=[
                io.Model.Input("model", tooltip="From DreamActor Model Loader (its face encoder is used)."),
                io.Image.Input("face_crops", tooltip="Face crops from DreamActor Face Crops, one per video frame "
                                                     "(padded to 4n+1 like DreamActor VAE Encode pads frames)."),
            ],
            outputs=[FaceTokens.Output(display_name="face_tokens", tooltip="Face motion tokens per latent frame, "
                                                                           "for the sampler's face_tokens input.")],
        )

    @classmethod
    def execute(cls, model, face_crops) -> io.NodeOutput:
        node = "DreamActor Face Motion Encode"
        if face_crops.ndim != 4 or face_crops.shape[0] == 0:
            raise DreamActorError(f"{node}, input 'face_crops': expected a non-empty IMAGE batch")
        from dreamactor_core.sampling.conditioning import face_pixels

        model = sampler_model(model, node).dit
        if model.contract.face_path != "tokens":
            raise DreamActorError(f"{node}, input 'model': a stock Wan2.2-Animate MODEL encodes face crops itself "
                                  "at every step; connect the face crops to the Sampler's face_crops instead, or "
                                  "load the file with DreamActor Model Loader to get face tokens")
        size = int(model.contract.face_size)
        crops = image_to_uint8(pad_frames(face_crops), "face_crops")
        with host.node_errors(node, "face_crops"), torch.inference_mode():
            tokens = model.encode_face(face_pixels(crops, size).to(host.torch_device()))
        return io.NodeOutput(tokens)


NODES = [ModelLoader, VAELoader, VAEEncode, VAEDecode, FaceMotionEncode]
