"""Character mask node: the tracked person's mask as a stock MASK batch, with a preview.

A stock MASK lets artists use it wherever ComfyUI takes masks, or swap it for masks
from other packs (e.g. SAM-based ones) before the Sampler's replacement inputs.
"""
from __future__ import annotations

import numpy as np
import torch
from comfy_api.latest import io

from . import host
from .types import Motion, image_to_uint8, to_image

CATEGORY = "DreamActor/signals"
PREVIEW_TINT = np.array([255, 40, 40], np.float32)  # masked pixels are tinted red in the preview


def preview(frames: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Frames with the mask blended in red (uint8 ``[T, H, W, 3]``)."""
    alpha = 0.5 * masks[..., None]
    return (frames.astype(np.float32) * (1 - alpha) + PREVIEW_TINT * alpha).round().astype(np.uint8)


class CharacterMask(io.ComfyNode):
    @classmethod
    def define_schema(cls):
        from dreamactor_core.signals.character_mask import SHAPES

        return io.Schema(
            node_id="DreamActorCharacterMask",
            display_name="DreamActor Character Mask",
            category=CATEGORY,
            description="Masks the person the motion tracks in the driving video, with MediaPipe's bundled "
                        "selfie segmentation refined by the pose (no downloads). 1 = character, 0 = background. "
                        "For replacement mode: the character's region is generated, the rest is kept; the "
                        "background output is the sampler's background_video.",
            inputs=[
                io.Image.Input("images", tooltip="The driving video frames the motion was extracted from."),
                Motion.Input("motion", tooltip="Motion from DreamActor Extract Motion; with several people it "
                                               "decides whom to mask."),
                io.Combo.Input("shape", options=list(SHAPES), default="segmentation",
                               tooltip="segmentation: the person's outline; pose_hull: its convex hull; "
                                       "box: its bounding box (the loosest, leaves the model most freedom)."),
                io.Int.Input("grow", default=0, min=0, max=256,
                             tooltip="Pixels to grow the mask by (covers motion blur and a new body wider "
                                     "than the driver)."),
                io.Int.Input("feather", default=0, min=0, max=128,
                             tooltip="Width in pixels of a soft outward edge; the person stays fully covered."),
                io.Int.Input("hold", default=12, min=0, max=250,
                             tooltip="For frames where the person is lost, keep the nearest good mask for up "
                                     "to this many frames."),
                Motion.Input("new_body", optional=True,
                             tooltip="Replacement: the motion retargeted to the reference (DreamActor Retarget "
                                     "Motion). The mask then also covers the new body where the driver stood, so "
                                     "no trace of the driver is left and a larger person has room."),
            ],
            outputs=[io.Mask.Output(display_name="mask", tooltip="One mask per frame, 1 on the character: the "
                                                                 "sampler's character_mask."),
                     io.Image.Output(display_name="preview", tooltip="The frames with the mask tinted over them, "
                                                                     "to check it."),
                     io.Image.Output(display_name="background", tooltip="The frames blacked out under the mask: "
                                                                        "the sampler's background_video.")],
        )

    @classmethod
    def execute(cls, images, motion, shape, grow, feather, hold, new_body=None) -> io.NodeOutput:
        from dreamactor_core.sampling.replace import blackout, cover_new_body
        from dreamactor_core.signals.character_mask import MaskSettings, character_masks

        node = "DreamActor Character Mask"
        frames = image_to_uint8(images, "images")
        settings = MaskSettings(shape=shape, grow=int(grow), feather=int(feather), hold=int(hold))
        with host.node_errors(node, "images", also=("shape", "grow", "feather", "hold")):
            masks = character_masks(frames, motion, settings, progress=host.progress_callback(),
                                    cancel=host.cancel_callback(), name="images")
        if new_body is not None:
            with host.node_errors(node, "new_body"):
                masks = cover_new_body(masks, new_body, settings)
        return io.NodeOutput(torch.from_numpy(masks), to_image(preview(frames, masks)),
                             to_image(blackout(frames, masks)))


NODES = [CharacterMask]
