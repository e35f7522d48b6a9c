"""Reference detail as a node on decoded frames: the sampler keeps latents only, so this runs after decoding."""
from __future__ import annotations

import torch
from comfy_api.latest import io

from . import host
from .comfy_vae import core_vae
from .model import VAE_TOOLTIP
from .sampling import ASPECTS
from .types import image_to_uint8

CATEGORY = "DreamActor/sampling"


def _fit4(n: int) -> int:
    """Smallest 4k + 1 >= n: the VAE encodes clips of that length."""
    return 4 * ((n + 2) // 4) + 1


class ReferenceDetail(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        from dreamactor_core.sampling.pipeline import AnimateSettings

        return io.Schema(
            node_id="DreamActorReferenceDetail",
            display_name="DreamActor Reference Detail",
            category=CATEGORY,
            description="Puts back the reference's own pixels wherever the decoded video left the reference "
                        "unchanged, which the VAE would blur. For a still camera, as when animating a photo. "
                        "Works clip by clip; the still reference is decoded once per clip length.",
            inputs=[
                io.Image.Input("images", tooltip="Decoded frames (DreamActor Decode to Frames or VAE Decode)."),
                io.Image.Input("reference", tooltip="The reference image the sampler animated (first image)."),
                io.Vae.Input("vae", tooltip=VAE_TOOLTIP + " The same VAE that decoded the frames."),
                io.Float.Input("strength", default=1.0, min=0.0, max=1.0, step=0.05,
                               tooltip="0 = the frames unchanged, 1 = full reference detail."),
                io.Combo.Input("aspect", options=ASPECTS, default="letterbox",
                               tooltip="How the reference was fitted to the output size; as on the sampler."),
                io.Int.Input("clip_frames", default=AnimateSettings().window, min=5, max=257, step=4,
                             tooltip="Frames compared per clip (4n+1); the sampler's window length matches "
                                     "what the VAE did to each window best."),
            ],
            outputs=[io.Image.Output(display_name="images", tooltip="The frames with the reference's detail.")],
        )

    @classmethod
    def execute(cls, images, reference, vae, strength, aspect, clip_frames) -> io.NodeOutput:
        from dreamactor_core.sampling.conditioning import Encoder
        from dreamactor_core.sampling.frames import fit_frames
        from dreamactor_core.sampling.reference_detail import ReferenceDetail as Detail

        node = "DreamActor Reference Detail"
        frames = image_to_uint8(images[:1], "images")  # shape and content checks only
        h, w = frames.shape[1:3]
        ref = fit_frames(image_to_uint8(reference[:1], "reference"), int(w), int(h), aspect)[0]
        with host.node_errors(node, "strength"):
            detail = Detail(Encoder(core_vae(vae, node)), ref, float(strength))
        if float(strength) == 0.0:
            return io.NodeOutput(images)
        out = torch.empty(images.shape[0], h, w, 3)
        step = int(clip_frames)
        with host.node_errors(node, "images"), torch.inference_mode():
            for start in range(0, images.shape[0], step):
                clip = images[start:start + step, ..., :3].float().cpu() * 2.0 - 1.0
                n = clip.shape[0]
                padded = torch.cat([clip, clip[-1:].expand(_fit4(n) - n, -1, -1, -1)])
                out[start:start + n] = detail(padded)[:n].add_(1.0).mul_(0.5)
        return io.NodeOutput(out)


NODES = [ReferenceDetail]
