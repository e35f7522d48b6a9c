"""``python -m dreamactor_core extract`` end to end on the bundled sample: every output is readable and consistent."""
from __future__ import annotations

import numpy as np

from dreamactor_core.__main__ import SAMPLE_DRIVING, SAMPLE_REFERENCE, main
from dreamactor_core.signals.motion import Motion
from dreamactor_core.signals.video_io import read_video

FRAMES = 4


def test_openpose_style_and_motion_json(tmp_path):
    out = tmp_path / "op"
    code = main(["extract", "--driving", str(SAMPLE_DRIVING), "--out-dir", str(out), "--max-frames", str(FRAMES),
                 "--style", "openpose", "--width", "192", "--height", "128", "--face-size", "96"])
    assert code == 0
    guide, fps = read_video(out / "guidance.mp4")
    faces, _ = read_video(out / "faces.mp4")
    assert guide.shape == (FRAMES, 128, 192, 3) and faces.shape == (FRAMES, 96, 96, 3) and fps == 25
    # OpenPose style draws coloured limbs on black: most pixels stay black, some are lit.
    lit = guide.max(axis=-1) > 40
    assert 0.002 < lit.mean() < 0.5
    motion = Motion.from_json((out / "motion.json").read_text())
    assert motion.num_frames == FRAMES and motion.fps == 25 and (motion.width, motion.height) == (256, 256)
    assert np.isfinite(motion.body_px[..., :2]).all()
    assert np.isfinite(motion.head_angles).all(axis=1).mean() >= 0.75


def test_reference_retargets_to_its_proportions(tmp_path):
    out = tmp_path / "ref"
    code = main(["extract", "--driving", str(SAMPLE_DRIVING), "--reference", str(SAMPLE_REFERENCE),
                 "--out-dir", str(out), "--max-frames", str(FRAMES), "--face-size", "64"])
    assert code == 0
    motion = Motion.from_json((out / "motion.json").read_text())
    assert motion.num_frames == FRAMES
    assert "retarget" in motion.meta  # the saved motion is the retargeted one
    guide, _ = read_video(out / "guidance.mp4")
    assert guide.shape[0] == FRAMES and guide.shape[1:3] == (motion.height, motion.width)


def test_missing_driving_video_is_a_clear_error(tmp_path, capsys):
    code = main(["extract", "--driving", str(tmp_path / "nope.mp4"), "--out-dir", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1 and "nope.mp4" in err
    assert not (tmp_path / "o" / "guidance.mp4").exists()
