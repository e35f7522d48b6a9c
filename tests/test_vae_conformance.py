"""Wan2.1 VAE conformance: the official fixture reproduced through the public loader (float32)."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from dreamactor_core.model.loader import load_vae, meta_shapes
from dreamactor_core.model.vae import VAEConfig, WanVAE
from fixture_weights import write_full_checkpoint

NAME = "wan21_vae_small"
MAX_ABS, REL_L2 = 1e-4, 1e-5


@pytest.fixture(scope="module")
def fixture_dir(conformance_dir):
    return conformance_dir / NAME


@pytest.fixture(scope="module")
def data(fixture_dir):
    return (load_file(str(fixture_dir / f"{NAME}.inputs.safetensors")),
            load_file(str(fixture_dir / f"{NAME}.expected.safetensors")))


@pytest.fixture(scope="module")
def vae(fixture_dir, tmp_path_factory):
    path = write_full_checkpoint(fixture_dir, tmp_path_factory.mktemp("vae") / "wan21_vae_small.safetensors")
    return load_vae(path, dtype=torch.float32)


def assert_close(got: torch.Tensor, want: torch.Tensor, what: str) -> None:
    assert got.shape == want.shape, what
    diff = (got.double() - want.double())
    max_abs = diff.abs().max().item()
    rel = (diff.norm() / want.double().norm()).item()
    assert max_abs <= MAX_ABS and rel <= REL_L2, f"{what}: max abs {max_abs:.3g}, rel L2 {rel:.3g}"


def test_encode_matches_official(vae, data):
    inputs, expected = data
    assert_close(vae.encode_raw(inputs["video"]), expected["mu_raw"], "mu_raw")
    assert_close(vae.encode(inputs["video"]), expected["latent"], "latent")


def test_decode_matches_official(vae, data):
    _, expected = data
    raw = vae.decode_raw(vae.denormalize(expected["latent"]))
    assert_close(raw, expected["decoded_raw"], "decoded_raw")
    out = vae.decode(expected["latent"])
    assert_close(out, expected["decoded"], "decoded")
    assert out.min() >= -1 and out.max() <= 1
    assert raw.abs().max() > 1  # the fixture really exercises the clamp


def test_normalisation_constants_are_the_checkpoint_family(vae, data, fixture_dir):
    _, expected = data
    manifest = json.loads((fixture_dir / f"{NAME}.manifest.json").read_text())
    assert torch.equal(torch.tensor(vae.config.latent_mean), expected["latent_mean"])
    assert torch.equal(torch.tensor(vae.config.latent_std), expected["latent_std"])
    assert list(vae.config.latent_mean) == manifest["latent_mean"]
    z = expected["mu_raw"]
    assert_close(vae.denormalize(vae.normalize(z)), z, "normalize round trip")


def test_config_and_keys_from_fixture_shapes(fixture_dir):
    manifest = json.loads((fixture_dir / f"{NAME}.manifest.json").read_text())
    shapes = {k: tuple(v["shape"]) for k, v in manifest["weights"].items()}
    config = VAEConfig.from_shapes(shapes)
    assert config.dim == manifest["config"]["dim"] and config.z_dim == manifest["config"]["z_dim"]
    with torch.device("meta"):
        ours = meta_shapes(WanVAE(config))
    assert ours == shapes
