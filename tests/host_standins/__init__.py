"""Test-only ComfyUI nodes that stand in for two stock loaders in the real-host test.

ComfyUI's CLIPLoader recognises umT5-XXL by its key names and then builds the model
from its bundled full-size config (24 layers, d_model 4096, d_ff 10240, 64 heads,
256k vocabulary: about 5.7B parameters, 11 GB in bf16) whatever the file's shapes.
CLIPVisionLoader picks a bundled config (ViT-H/14: 32 layers, 632M parameters) from
the number of layers in the file. Neither fits a CPU test, so the real-host test
swaps only these two loaders for the subclasses below. They keep the stock inputs
and outputs and read the same files from the same folders, but size the model from
the file's own shapes; everything after them (ComfyUI's umT5 model and tokenizer
classes, CLIPTextEncode, ComfyUI's CLIP vision model, CLIPVisionEncode) is stock code.
``replacement_probe`` adds two nodes that let the test compare the pack's replacement
conditioning with what core's WanAnimateToVideo builds (see its docstring).
This pack is linked into the test host only; it never ships.
"""
from __future__ import annotations

import json
import os
import re
import tempfile

import comfy.clip_vision
import comfy.sd
import comfy.utils
import folder_paths
import nodes


def umt5_config(sd: dict) -> dict:
    """ComfyUI's umT5 config keys, read from a state dict's shapes."""
    vocab, d_model = sd["shared.weight"].shape
    blocks = {int(m.group(1)) for k in sd if (m := re.match(r"encoder\.block\.(\d+)\.", k))}
    heads = sd["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"].shape[1]
    inner = sd["encoder.block.0.layer.0.SelfAttention.q.weight"].shape[0]
    return {"vocab_size": int(vocab), "d_model": int(d_model), "num_layers": max(blocks) + 1, "num_heads": int(heads),
            "d_kv": int(inner // heads), "d_ff": int(sd["encoder.block.0.layer.1.DenseReluDense.wi_0.weight"].shape[0])}


def clip_vision_config(sd: dict, heads: int = 16) -> dict:
    """ComfyUI's CLIP vision config keys, read from a state dict's shapes (heads as in ViT-H/14)."""
    pre = "vision_model."
    layers = {int(m.group(1)) for k in sd if (m := re.match(r"vision_model\.encoder\.layers\.(\d+)\.", k))}
    hidden, channels, patch, _ = sd[pre + "embeddings.patch_embedding.weight"].shape
    positions = sd[pre + "embeddings.position_embedding.weight"].shape[0]
    side = int(round((positions - 1) ** 0.5))
    return {"hidden_size": int(hidden), "num_channels": int(channels), "patch_size": int(patch),
            "image_size": side * int(patch), "num_hidden_layers": max(layers) + 1, "num_attention_heads": heads,
            "intermediate_size": int(sd[pre + "encoder.layers.0.mlp.fc1.weight"].shape[0]),
            "projection_dim": int(sd["visual_projection.weight"].shape[0]), "hidden_act": "gelu",
            "layer_norm_eps": 1e-5, "model_type": "clip_vision_model"}


class TestTinyCLIPLoader(nodes.CLIPLoader):
    """CLIPLoader's inputs and CLIP output; the umT5 size comes from the file."""

    FUNCTION = "load_tiny"

    def load_tiny(self, clip_name, type="wan", device="default"):
        path = folder_paths.get_full_path_or_raise("text_encoders", clip_name)
        sd = comfy.utils.load_torch_file(path, safe_load=True)
        options = {"umt5xxl_model_config": umt5_config(sd)}  # ComfyUI's own per-encoder config override
        clip = comfy.sd.load_text_encoder_state_dicts(
            [sd], embedding_directory=folder_paths.get_folder_paths("embeddings"),
            clip_type=getattr(comfy.sd.CLIPType, type.upper()), model_options=options)
        return (clip,)


class TestTinyCLIPVisionLoader(nodes.CLIPVisionLoader):
    """CLIPVisionLoader's input and CLIP_VISION output; the ViT size comes from the file."""

    FUNCTION = "load_tiny"

    def load_tiny(self, clip_name):
        path = folder_paths.get_full_path_or_raise("clip_vision", clip_name)
        sd = comfy.utils.load_torch_file(path, safe_load=True)
        fd, config_path = tempfile.mkstemp(suffix=".json")
        with os.fdopen(fd, "w") as f:
            json.dump(clip_vision_config(sd), f)
        try:
            model = comfy.clip_vision.ClipVisionModel(config_path)
        finally:
            os.remove(config_path)
        missing, _ = model.load_sd(sd)
        if missing:
            raise RuntimeError(f"tiny CLIP vision file lacks {missing[:5]}")
        return (model,)


from .replacement_probe import TestReplacementInputs, TestSaveConcatY  # noqa: E402

NODE_CLASS_MAPPINGS = {"TestTinyCLIPLoader": TestTinyCLIPLoader, "TestTinyCLIPVisionLoader": TestTinyCLIPVisionLoader,
                       "TestReplacementInputs": TestReplacementInputs, "TestSaveConcatY": TestSaveConcatY}
