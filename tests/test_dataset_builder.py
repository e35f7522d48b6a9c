"""The training cache builder on a small folder: usable clips are cached, the rest skipped with reasons."""
import json
import shutil

import numpy as np
import pytest
import torch
from safetensors import safe_open
from safetensors.torch import save_file

pytest.importorskip("anny")
from dreamactor_core.model.vae import VAEConfig, WanVAE  # noqa: E402
from dreamactor_core.signals.video_io import load_image, read_video, write_video  # noqa: E402
from dreamactor_core.training.dataset import CachedClips  # noqa: E402
from dreamactor_core.training.dataset_builder import BuildSettings, build_dataset  # noqa: E402
from dreamactor_core.training.synth_dataset import write_reference_photos, write_training_clips  # noqa: E402
from dreamactor_core.training.synth_humans import SynthHumanEngine  # noqa: E402
from dreamactor_core.utils import DreamActorError  # noqa: E402


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    videos = tmp_path_factory.mktemp("videos")
    write_training_clips(videos, 1, frames=17, size=64, seed=5, engine=SynthHumanEngine(64, 64, fps=10.0))
    (videos / "broken.mp4").write_bytes(b"not a video at all" * 50)
    write_video(videos / "short.mp4", np.zeros((5, 64, 64, 3), np.uint8), 10.0)
    write_video(videos / "empty_room.mp4", np.full((12, 64, 64, 3), 128, np.uint8), 10.0)
    (videos / "notes.txt").write_text("not a video: ignored")
    torch.manual_seed(0)
    vae = WanVAE(VAEConfig(dim=8)).eval()
    out = tmp_path_factory.mktemp("cache")
    done = []
    summary = build_dataset(videos, out, vae, BuildSettings(base=64, window=9, stride=8),
                            progress=lambda d, n: done.append((d, n)))
    return summary, out, done, videos


def test_usable_clip_is_cached_in_windows_with_its_references(built):
    summary, out, done, _ = built
    assert summary["videos"] == 4 and summary["windows"] == 2 and done[-1] == (4, 4)
    assert json.loads((out / "index.json").read_text()) == json.loads(json.dumps(summary))
    (bucket, names), = summary["buckets"].items()
    assert bucket.startswith("square_") and bucket.endswith("_64x64") and len(names) == 2
    for k, name in enumerate(sorted(names)):
        with safe_open(str(out / name), framework="pt") as f:
            meta = f.metadata()
            shapes = {key: tuple(f.get_slice(key).get_shape()) for key in f.keys()}
        assert shapes == {"ref_latents": (16, 3, 8, 8), "latents": (16, 3, 8, 8), "pose_latents": (16, 3, 8, 8),
                          "grey_latents": (16, 3, 8, 8), "photo_latents": (16, 1, 8, 8)}
        refs = json.loads(meta["refs"])
        assert len(refs) == 3 and all(0 <= r < 17 for r in refs) and int(meta["start"]) == 8 * k
    batch = CachedClips(out, text_len=4, single_ref=1.0).batch(0, 0, 1, 2)
    assert batch["x0"].shape == (2, 16, 6, 8, 8) and batch["y"].shape == (2, 20, 6, 8, 8)


def test_unusable_videos_are_skipped_with_a_reason(built):
    summary, _, _, _ = built
    reasons = {s["video"]: s["reason"] for s in summary["skipped"]}
    assert set(reasons) == {"broken.mp4", "short.mp4", "empty_room.mp4"}
    assert "only 5 frames; a window needs 9" in reasons["short.mp4"]
    assert "no person found" in reasons["empty_room.mp4"]
    # the decoder's last words, not its banner and build flags
    assert "cannot be read" in reasons["broken.mp4"] and "--enable" not in reasons["broken.mp4"]
    assert len(reasons["broken.mp4"]) < 500


def test_a_folder_without_videos_is_a_clear_error(tmp_path):
    (tmp_path / "readme.txt").write_text("x")
    with pytest.raises(DreamActorError, match="no videos"):
        build_dataset(tmp_path, tmp_path / "out", None)
    with pytest.raises(DreamActorError, match="does not exist"):
        build_dataset(tmp_path / "missing", tmp_path / "out", None)


def test_synthetic_clips_come_with_a_rest_pose_reference_photo(built):
    *_, videos = built
    (video,) = sorted(videos.glob("synth_*.mp4"))
    photo_path = video.with_suffix(".ref.png")
    photo, frames = load_image(photo_path), read_video(str(video))[0]
    assert photo.shape == frames.shape[1:]
    # same camera and background (the top corner is backdrop in both), but another pose than the clip's
    assert np.abs(photo[:4, :4].astype(int) - frames[0, :4, :4].astype(int)).max() <= 6
    assert np.abs(photo.astype(int) - frames.astype(int)).mean(axis=(1, 2, 3)).min() > 1.0
    # the clip's ground-truth JSON alone gives the same photo back
    photo_path.rename(photo_path.with_name("kept.png"))
    try:
        assert write_reference_photos(videos, SynthHumanEngine(64, 64, fps=10.0)) == 1
        assert np.array_equal(load_image(photo_path), photo)
        assert write_reference_photos(videos, SynthHumanEngine(64, 64, fps=10.0)) == 0  # nothing missing now
    finally:
        photo_path.with_name("kept.png").replace(photo_path)


def test_reference_photo_fills_every_slot_for_the_photo_ref_share(built, tmp_path):
    summary, out, _, _ = built
    assert summary["reference_photos"] == 1
    names = sorted(next(iter(summary["buckets"].values())))
    data = CachedClips(out, text_len=4, photo_ref=1.0)
    plain = CachedClips(out, text_len=4)
    batch, base = data.batch(3, 0, 1, 2), plain.batch(3, 0, 1, 2)
    photo = data.load(names[0])["photo_latents"]
    assert torch.equal(batch["x0"][:, :, :3], photo[None].expand(2, -1, 3, -1, -1))
    assert torch.equal(batch["x0"][:, :, 3:], base["x0"][:, :, 3:])  # the window itself is untouched
    assert not torch.equal(base["x0"][:, :, :3], batch["x0"][:, :, :3])  # frames by yaw otherwise
    # windows without a photo (a cache of videos that had none) keep their reference frames
    shutil.copy(out / "index.json", tmp_path / "index.json")
    for name in names:
        with safe_open(str(out / name), framework="pt") as f:
            save_file({k: f.get_tensor(k) for k in f.keys() if k != "photo_latents"}, str(tmp_path / name),
                      metadata=f.metadata())
    no_photo = CachedClips(tmp_path, text_len=4, photo_ref=1.0).batch(3, 0, 1, 2)
    assert torch.equal(no_photo["x0"], base["x0"])


def test_an_unreadable_photo_is_skipped_not_its_video(built, tmp_path):
    *_, videos = built
    (video,) = sorted(videos.glob("synth_*.mp4"))
    folder = tmp_path / "videos"
    folder.mkdir()
    write_video(folder / "take.mp4", read_video(str(video))[0][:9], 10.0)
    (folder / "take.ref.png").write_bytes(b"not an image")
    torch.manual_seed(0)
    summary = build_dataset(folder, tmp_path / "cache", WanVAE(VAEConfig(dim=8)).eval(),
                            BuildSettings(base=64, window=9, stride=8))
    assert summary["windows"] == 1 and summary["reference_photos"] == 0
    (problem,) = summary["skipped"]
    assert problem["video"] == "take.ref.png" and "cached without it" in problem["reason"]
