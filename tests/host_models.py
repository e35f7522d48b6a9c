"""Tiny model files for the real-host test, in the layouts the real files use.

Each is a few MB and random, with the true interfaces: the DiTs load through our
loader (config read from shapes, official key layout), the VAE is a Wan2.1 VAE at
base width 8, the text encoder is a umT5 with d_model 4096 (what the DiT reads) and
24 blocks at width 8 plus a small SentencePiece tokenizer stored in the file as
ComfyUI's umT5 files store theirs, and the CLIP vision model is a 2-layer ViT with
ViT-H/14's patch grid and width (257 tokens of 1280). See ``host_standins`` for why
the last two need test loaders.
"""
from __future__ import annotations

import io
from pathlib import Path

import torch
from safetensors.torch import save_file

PROMPTS = ["a person dancing in the street", "a woman waving her right arm", "best quality, clear face, smooth motion",
           "blurry, static, low quality, deformed hands, extra fingers", "a portrait of an astronaut turning her head"]


def _save(sd: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    save_file({k: v.contiguous() for k, v in sd.items()}, str(path))
    return path


def tiny_dit(path: Path, *, variant: str = "wan", seed: int = 0) -> Path:
    """A random DiT: ``"wan"`` (Wan2.2-Animate layout) or ``"dreamactor"`` (the M1 variant), faces at 64 px."""
    from dreamactor_core.model.config import ModelConfig
    from dreamactor_core.model.dit import AnimateDiT

    sizes = dict(dim=32, ffn_dim=64, num_heads=2, face_size=64, motion_channels_max=32, motion_dim=32,
                 face_hidden=32)
    if variant == "wan":
        config = ModelConfig(num_layers=5, **sizes)
    else:
        config = ModelConfig.dreamactor_m1(num_layers=2, **sizes)
    torch.manual_seed(seed)
    model = AnimateDiT(config)
    with torch.no_grad():  # the official init zeroes output layers; give every path a signal
        for p in model.parameters():
            if p.dim() >= 2 and p.abs().sum() == 0:
                p.normal_(0, 0.02)
    return _save(model.state_dict(), path)


def tiny_vae(path: Path, *, seed: int = 0) -> Path:
    from dreamactor_core.model.vae import VAEConfig, WanVAE

    torch.manual_seed(seed)
    return _save(WanVAE(VAEConfig(dim=8)).state_dict(), path)


def stock_vae(path: Path) -> Path:
    """A Wan2.1 VAE at the real width (96, which stock Load VAE assumes), set up as a working autoencoder.

    Random weights would decode everything to one saturated colour; the identity init the VAE
    trainer starts from reconstructs images roughly, so decodes can be compared pixel by pixel.
    """
    from dreamactor_core.model.vae import VAEConfig, WanVAE
    from dreamactor_core.training.vae_training import init_as_identity, init_time_layers_per_frame

    torch.manual_seed(0)
    vae = WanVAE(VAEConfig())
    with torch.no_grad():
        init_as_identity(vae)
        init_time_layers_per_frame(vae)
    return _save({k: v.to(torch.bfloat16) for k, v in vae.state_dict().items()}, path)


def stock_dit(path: Path, *, seed: int = 0, dtype: torch.dtype = torch.bfloat16) -> Path:
    """A Wan2.2-Animate DiT that stock Load Diffusion Model also loads: head size 128 (ComfyUI derives the
    head count from it) and the face path at full size (ComfyUI builds it with fixed sizes), 2 x 5 blocks
    narrowed to width 128. About 39 M parameters, stored in ``dtype`` (bf16 as the real file)."""
    from dreamactor_core.model.config import ModelConfig
    from dreamactor_core.model.dit import AnimateDiT

    torch.manual_seed(seed)
    model = AnimateDiT(ModelConfig(dim=128, ffn_dim=256, num_heads=1, num_layers=5))
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() >= 2 and p.abs().sum() == 0:
                p.normal_(0, 0.02)
    return _save({k: v.to(dtype) for k, v in model.state_dict().items()}, path)


def relight_lora(path: Path, *, dim: int = 128, layers: int = 5, rank: int = 4, seed: int = 0) -> Path:
    """A random LoRA for ``stock_dit``'s attention and FFN linears, in the PEFT layout (``lora_A`` / ``lora_B``,
    ``diffusion_model.`` prefix) that stock LoraLoaderModelOnly maps onto a Wan model, as the relighting LoRA."""
    g = torch.Generator().manual_seed(seed)
    shapes = {f"{a}.{n}": (dim, dim) for a in ("self_attn", "cross_attn") for n in "qkvo"}
    shapes.update({"ffn.0": (2 * dim, dim), "ffn.2": (dim, 2 * dim)})
    sd = {}
    for i in range(layers):
        for name, (out_dim, in_dim) in shapes.items():
            key = f"diffusion_model.blocks.{i}.{name}"
            sd[f"{key}.lora_A.weight"] = torch.randn(rank, in_dim, generator=g) * 0.1
            sd[f"{key}.lora_B.weight"] = torch.randn(out_dim, rank, generator=g) * 0.1
    return _save({k: v.to(torch.bfloat16) for k, v in sd.items()}, path)


def _tokenizer_proto() -> bytes:
    """A small SentencePiece model with umT5's special ids (pad 0, eos 1, unk 2)."""
    import sentencepiece as spm

    out = io.BytesIO()
    spm.SentencePieceTrainer.train(sentence_iterator=iter(PROMPTS * 20), model_writer=out, vocab_size=48,
                                   model_type="unigram", pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
                                   hard_vocab_limit=False, minloglevel=2)
    return out.getvalue()


def tiny_umt5(path: Path, *, width: int = 8, heads: int = 2, layers: int = 24, seed: int = 0) -> Path:
    """umT5 encoder keys as in ComfyUI's umt5_xxl files (fp16), with its tokenizer under ``spiece_model``."""
    import sentencepiece as spm

    proto = _tokenizer_proto()
    vocab = spm.SentencePieceProcessor(model_proto=proto).get_piece_size()
    g = torch.Generator().manual_seed(seed)
    d = 4096

    def rand(*shape, scale):
        return torch.randn(*shape, generator=g) * scale

    sd = {"shared.weight": rand(vocab, d, scale=1.0), "encoder.final_layer_norm.weight": torch.ones(d)}
    for i in range(layers):
        a, f = f"encoder.block.{i}.layer.0.", f"encoder.block.{i}.layer.1."
        for n in "qkv":
            sd[f"{a}SelfAttention.{n}.weight"] = rand(heads * width, d, scale=d ** -0.5)
        sd[f"{a}SelfAttention.o.weight"] = rand(d, heads * width, scale=0.02)
        sd[f"{a}SelfAttention.relative_attention_bias.weight"] = rand(32, heads, scale=0.1)
        sd[f"{a}layer_norm.weight"] = sd[f"{f}layer_norm.weight"] = torch.ones(d)
        sd[f"{f}DenseReluDense.wi_0.weight"] = rand(width, d, scale=d ** -0.5)
        sd[f"{f}DenseReluDense.wi_1.weight"] = rand(width, d, scale=d ** -0.5)
        sd[f"{f}DenseReluDense.wo.weight"] = rand(d, width, scale=0.02)
    sd = {k: v.half() for k, v in sd.items()}
    sd["spiece_model"] = torch.frombuffer(bytearray(proto), dtype=torch.uint8)
    return _save(sd, path)


def tiny_clip_vision(path: Path, *, layers: int = 2, ffn: int = 16, projection: int = 16, seed: int = 0) -> Path:
    """CLIP vision keys in the transformers layout ComfyUI reads, 224 px input, 14 px patches, width 1280."""
    g = torch.Generator().manual_seed(seed)
    h, pre = 1280, "vision_model."

    def rand(*shape, scale=0.02):
        return torch.randn(*shape, generator=g) * scale

    sd = {pre + "embeddings.class_embedding": rand(h), pre + "embeddings.patch_embedding.weight": rand(h, 3, 14, 14),
          pre + "embeddings.position_embedding.weight": rand(257, h), "visual_projection.weight": rand(projection, h)}
    for norm in ("pre_layrnorm", "post_layernorm"):
        sd[f"{pre}{norm}.weight"], sd[f"{pre}{norm}.bias"] = torch.ones(h), torch.zeros(h)
    for i in range(layers):
        p = f"{pre}encoder.layers.{i}."
        for n in ("q_proj", "k_proj", "v_proj", "out_proj"):
            sd[f"{p}self_attn.{n}.weight"], sd[f"{p}self_attn.{n}.bias"] = rand(h, h, scale=h ** -0.5), torch.zeros(h)
        for n in ("layer_norm1", "layer_norm2"):
            sd[f"{p}{n}.weight"], sd[f"{p}{n}.bias"] = torch.ones(h), torch.zeros(h)
        sd[f"{p}mlp.fc1.weight"], sd[f"{p}mlp.fc1.bias"] = rand(ffn, h, scale=h ** -0.5), torch.zeros(ffn)
        sd[f"{p}mlp.fc2.weight"], sd[f"{p}mlp.fc2.bias"] = rand(h, ffn, scale=0.02), torch.zeros(h)
    return _save({k: v.half() for k, v in sd.items()}, path)
