"""``animate --mode replace`` end to end on CPU with tiny checkpoints.

The DiT is a tiny random one (it draws nothing sensible); the VAE is the embedded
demo model's trained Wan2.1-architecture VAE, whose round trip is close enough to
the input for the comparison to mean something (a random VAE's is not). The scene
outside the replacement mask must come back to within the VAE's own round-trip error: the output is compared with the driving frames, and so is the
tiny VAE's decode of its encode of those frames, on the same pixels (those at
least two latent cells away from the mask, where the decoder does not mix in
generated cells). Both go through the same H.264 writer, so codec error is on
both sides.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from dreamactor_core.__main__ import main
from dreamactor_core.sampling.frames import fit_frames
from dreamactor_core.signals.video_io import read_video, write_video

SIZE, FRAMES = 128, 5


def test_replace_mode_keeps_the_scene_within_the_vae_round_trip(tmp_path, synth_dir, capsys):
    from dreamactor_core.model.loader import load_vae
    from sampling_fakes import tiny_checkpoints

    from dreamactor_core.__main__ import DEMO_FILES

    dit, _ = tiny_checkpoints(tmp_path)
    vae_path = DEMO_FILES[1]
    out, mask_out = tmp_path / "out.mp4", tmp_path / "mask.mp4"
    code = main(["animate", "--mode", "replace", "--reference", str(synth_dir / "pub01_walk_in_place.png"),
                 "--driving", str(synth_dir / "pub02_arm_wave.mp4"), "--max-frames", str(FRAMES),
                 "--checkpoint", str(dit), "--vae", str(vae_path), "--out", str(out), "--mask-out", str(mask_out),
                 "--width", str(SIZE), "--height", str(SIZE), "--steps", "2", "--window", "5", "--refert", "1",
                 "--mask-grow", "2", "--device", "cpu", "--zero-embeds"])
    assert code == 0, capsys.readouterr().err
    frames, _ = read_video(out)
    mask = read_video(mask_out)[0][..., 0] > 127
    driving = fit_frames(read_video(synth_dir / "pub02_arm_wave.mp4", max_frames=FRAMES)[0], SIZE, SIZE, "letterbox")
    assert frames.shape == driving.shape == (FRAMES, SIZE, SIZE, 3)
    # the mask covers the person: a few percent of the frame, not nothing and not everything
    assert 0.02 < mask.mean() < 0.5
    vae = load_vae(vae_path)
    with torch.no_grad():
        video = torch.from_numpy(driving).float().div(127.5).sub(1).permute(3, 0, 1, 2)[None]
        trip = vae.decode(vae.encode(video))[0].permute(1, 2, 3, 0).add(1).mul(127.5).clamp(0, 255)
    write_video(tmp_path / "trip.mp4", trip.round().byte().numpy(), 25)
    trip = read_video(tmp_path / "trip.mp4")[0]
    far = ~np.stack([cv2.dilate(m.astype(np.uint8), np.ones((33, 33), np.uint8)) > 0 for m in mask])
    out_err = np.abs(frames.astype(int) - driving.astype(int))[far].mean()
    trip_err = np.abs(trip.astype(int) - driving.astype(int))[far].mean()
    print(f"scene error outside the mask: output {out_err:.2f}, VAE round trip {trip_err:.2f} (of 255)")
    assert out_err <= trip_err * 1.05 + 0.5, (out_err, trip_err)
    # and the character region really is generated: it differs from the driver there
    inside = mask & np.stack([cv2.erode(m.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0 for m in mask])
    assert np.abs(frames.astype(int) - driving.astype(int))[inside].mean() > out_err + 5


def test_replace_mode_refuses_masks_that_replace_nothing_or_everything(tmp_path, synth_dir, capsys):
    """No person in the driving video (the mask would be empty: extraction refuses it), and a mask grown over
    every pixel: each is refused before sampling with a message naming what to change."""
    from sampling_fakes import tiny_checkpoints

    from dreamactor_core.__main__ import DEMO_FILES

    dit, _ = tiny_checkpoints(tmp_path)
    empty = tmp_path / "empty.mp4"
    write_video(empty, np.full((FRAMES, 128, 128, 3), 120, np.uint8), 25)
    common = ["animate", "--mode", "replace", "--reference", str(synth_dir / "pub01_walk_in_place.png"),
              "--max-frames", str(FRAMES), "--checkpoint", str(dit), "--vae", str(DEMO_FILES[1]),
              "--out", str(tmp_path / "out.mp4"), "--width", str(SIZE), "--height", str(SIZE), "--steps", "1",
              "--window", "5", "--refert", "1", "--device", "cpu", "--zero-embeds"]
    cases = {"no person found in any of the 5 frames": ["--driving", str(empty)],
             "mask grow: the mask covers every pixel of every frame": [
                 "--driving", str(synth_dir / "pub02_arm_wave.mp4"), "--mask-shape", "box", "--mask-grow", "300"]}
    for message, extra in cases.items():
        assert main(common + extra) == 1
        captured = capsys.readouterr()
        assert message in captured.err, captured.err
        assert "sampling window" not in captured.out  # refused before any sampling
    assert not (tmp_path / "out.mp4").exists() or (tmp_path / "out.mp4").stat().st_size < 100
