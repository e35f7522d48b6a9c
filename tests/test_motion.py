import numpy as np
import pytest

from dreamactor_core.signals.motion import Motion


def test_roundtrip_json_keeps_values_and_nans():
    m = Motion.empty(3, fps=25, width=64, height=48, source="test")
    m.body_px[1] = np.arange(99, dtype=np.float32).reshape(33, 3)
    m.interpolated[2] = 1.0
    back = Motion.from_json(m.to_json())
    assert back.num_frames == 3 and back.width == 64 and back.meta["source"] == "test"
    np.testing.assert_allclose(back.body_px[1], m.body_px[1])
    assert np.isnan(back.body_px[0]).all()
    assert back.interpolated[2] == 1.0


def test_shape_errors_name_the_field():
    m = Motion.empty(2, fps=25, width=64, height=48)
    m.face_px = np.zeros((2, 10, 3), np.float32)
    with pytest.raises(ValueError, match="face_px"):
        m.validate()


def test_bad_file_is_rejected():
    with pytest.raises(ValueError, match="not a DreamActor motion"):
        Motion.from_dict({"format": "x"})
