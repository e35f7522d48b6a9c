"""Test-only nodes for comparing replacement conditioning with ComfyUI core's WanAnimateToVideo.

``TestReplacementInputs`` makes a small deterministic case inside the host (reference,
background video, a still and a moving character mask, an empty prompt), so the
test process can rebuild the very same inputs with :func:`replacement_case` and run the
pack's conditioning on them. ``TestSaveConcatY`` writes what the Wan model would see
from a WanAnimateToVideo conditioning: ``y = cat(1 - concat_mask, process_in(concat_latent_image))``,
which is ``WAN21.concat_cond`` at the latent's own size (its resize is then the identity).
"""
from __future__ import annotations

import numpy as np
import torch

SIZE, FRAMES, CELL = 64, 9, 8


def replacement_case(seed: int = 0) -> dict[str, np.ndarray]:
    """uint8 reference ``[H,W,3]`` and background ``[T,H,W,3]``; float32 masks ``[T,H,W]`` (1 = character).

    Masks are constant on each 8x8 latent cell, so sampling a cell at its top-left pixel
    (Wan2.2-Animate) or at its centre (ComfyUI core) reads the same value. ``still`` is one
    block of cells in every frame; ``moving`` shifts it one cell right every two frames.
    """
    rng = np.random.default_rng(seed)
    reference = rng.integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    driving = rng.integers(0, 256, (FRAMES, SIZE, SIZE, 3), dtype=np.uint8)
    still = np.zeros((FRAMES, SIZE, SIZE), np.float32)
    still[:, 2 * CELL:6 * CELL, 2 * CELL:4 * CELL] = 1.0
    moving = np.zeros_like(still)
    for t in range(FRAMES):
        x = (1 + t // 2) * CELL
        moving[t, CELL:5 * CELL, x:x + 2 * CELL] = 1.0
    background = (driving * (1.0 - still[..., None])).astype(np.uint8)
    return {"reference": reference, "background": background, "still": still, "moving": moving}


class TestReplacementInputs:
    """The case of :func:`replacement_case` as IMAGE / MASK / CONDITIONING outputs."""

    CATEGORY = "testing"
    FUNCTION = "make"
    RETURN_TYPES = ("IMAGE", "IMAGE", "MASK", "MASK", "CONDITIONING")
    RETURN_NAMES = ("reference", "background", "still_mask", "moving_mask", "conditioning")

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"seed": ("INT", {"default": 0, "min": 0, "max": 1000})}}

    def make(self, seed):
        case = replacement_case(seed)
        image = lambda a: torch.from_numpy(a).float() / 255.0  # noqa: E731
        empty = [[torch.zeros(1, 1, 4096), {}]]
        return (image(case["reference"][None]), image(case["background"]), torch.from_numpy(case["still"]),
                torch.from_numpy(case["moving"]), empty)


class TestSaveConcatY:
    """Writes the Wan model's ``y`` from a conditioning's concat_latent_image and concat_mask."""

    CATEGORY = "testing"
    FUNCTION = "save"
    RETURN_TYPES = ()
    OUTPUT_NODE = True

    @classmethod
    def INPUT_TYPES(cls):
        return {"required": {"conditioning": ("CONDITIONING",), "filename": ("STRING", {"default": "y"})}}

    def save(self, conditioning, filename):
        import os

        import comfy.latent_formats
        import folder_paths
        from safetensors.torch import save_file

        extra = conditioning[0][1]
        latent = comfy.latent_formats.Wan21().process_in(extra["concat_latent_image"].float())
        y = torch.cat([1.0 - extra["concat_mask"].float(), latent], dim=1)
        path = os.path.join(folder_paths.get_output_directory(), f"{filename}.safetensors")
        save_file({"y": y.contiguous()}, path)
        return {"ui": {"text": [path]}}
