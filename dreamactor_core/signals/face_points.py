"""Where FaceMesh puts each of its landmarks on a head, measured against exact ground truth.

    python -m dreamactor_core.signals.face_points SYNTH_DIR [--out PATH]

On the shared synthetic clips every frame's head rotation, centre and size are known, so each
landmark FaceMesh detects is a ray that the landmark's point on the head must lie on; one
least-squares point per landmark meets all the rays of a clip (frames with |yaw| <= 45 degrees,
where FaceMesh holds). Each clip is measured on its own and the clips' median kept, with the
spread between clips: a landmark whose position moves from head to head (the face's outline,
which FaceMesh draws where the silhouette happens to be) is not a point of the head and is left
out (:data:`MAX_SPREAD_MM`). Left and right mirror pairs are then averaged. Positions are in the
head frame of :mod:`face_geometry` (mm on its 125 mm head; x left, y down, z back).

The head pose uses these points for its pitch (:func:`head_pose.refit_at_depth`): twelve points
on a head 25-35 px across leave the pitch nearly free (5 degrees of pitch change their fit by
0.03 px RMS, so sub-pixel landmark quirks decide it); some three hundred pin it.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from . import face_geometry as geo

MAX_YAW_DEG = 45.0  # frames measured (FaceMesh's landmarks drift on turned heads)
MAX_SPREAD_MM = 8.0  # a landmark kept only if the clips place it within this (RMS over x, y, z)
MIN_FRAMES = 10  # rays needed for a clip's point
MIRROR_MM = 3.0  # two landmarks are a left/right pair when each is the other's mirror within this
FACE_MESH_POINTS = 468  # the iris points (468-477) are eyes, which turn: see face_geometry's pupils


def triangulate(face_px: np.ndarray, gt: dict, max_yaw_deg: float = MAX_YAW_DEG) -> np.ndarray:
    """``[468, 3]`` head-frame points (mm at the model's head size) of one clip, NaN where too few rays.

    ``face_px`` ``[T, 478, 2+]`` are the detected landmarks of the clip's frames; ``gt`` its
    ground-truth JSON (camera ``K``; per frame the head's ``R_head_to_cam``, ``center_cam`` and ``radius_m``).
    """
    k = np.asarray(gt["camera"]["K"], np.float64)
    a = np.zeros((FACE_MESH_POINTS, 3, 3))
    b = np.zeros((FACE_MESH_POINTS, 3))
    count = np.zeros(FACE_MESH_POINTS)
    for i, frame in enumerate(gt["frames"]):
        head = frame["head"]
        uv = np.asarray(face_px[i, :FACE_MESH_POINTS, :2], np.float64)
        ok = np.isfinite(uv).all(1)
        if abs(head["yaw_deg"]) > max_yaw_deg or not ok.any():
            continue
        r = np.asarray(head["R_head_to_cam"], np.float64)
        c = np.asarray(head["center_cam"], np.float64) * 1000.0
        scale = head["radius_m"] * 1000.0 / geo.HEAD_RADIUS_MM
        du, dv = uv[:, 0] - k[0, 2], uv[:, 1] - k[1, 2]
        # The camera point s R X + c projects onto (du, dv): two equations linear in X per ray,
        # divided by the depth so each residual is in pixels.
        rows = np.stack([k[0, 0] * r[0] - du[:, None] * r[2], k[1, 1] * r[1] - dv[:, None] * r[2]], 1) * scale
        rhs = np.stack([du * c[2] - k[0, 0] * c[0], dv * c[2] - k[1, 1] * c[1]], 1)
        rows, rhs = rows / c[2], rhs / c[2]
        a[ok] += np.einsum("nki,nkj->nij", rows[ok], rows[ok])
        b[ok] += np.einsum("nki,nk->ni", rows[ok], rhs[ok])
        count[ok] += 1
    out = np.full((FACE_MESH_POINTS, 3), np.nan)
    enough = count >= MIN_FRAMES
    out[enough] = np.linalg.solve(a[enough] + 1e-9 * np.eye(3), b[enough][..., None])[..., 0]
    return out


def combine(per_clip: list[np.ndarray], max_spread_mm: float = MAX_SPREAD_MM) -> dict[int, tuple]:
    """``{landmark: (x, y, z)}`` of the landmarks the clips agree on, mirror pairs averaged."""
    stack = np.stack(per_clip)
    have = np.isfinite(stack).all(2).all(0)
    med = np.median(np.where(have[None, :, None], stack, 0.0), 0)
    spread = np.linalg.norm(np.std(np.where(have[None, :, None], stack, 0.0), 0), axis=1)
    keep = np.flatnonzero(have & (spread <= max_spread_mm))
    pts = med[keep]
    mirrored = pts * [-1.0, 1.0, 1.0]
    gap = np.linalg.norm(pts[:, None] - mirrored[None], axis=2)  # [i, j]: i against j's mirror
    nearest = gap.argmin(1)
    out = {}
    for i, j in enumerate(nearest):
        if nearest[j] == i and gap[i, j] <= MIRROR_MM:
            p = 0.5 * (pts[i] + mirrored[j])
            if i == j:
                p[0] = 0.0  # on the midline
        else:
            p = pts[i]
        out[int(keep[i])] = tuple(round(float(v), 1) for v in p)
    return out


def measure(synth_dir: Path) -> dict[int, tuple]:
    """Extract every clip of ``synth_dir`` (MediaPipe, unsmoothed) and :func:`combine` their points."""
    from .extract import extract_motion
    from .video_io import read_video

    per_clip = []
    for gt_path in sorted(Path(synth_dir).glob("*.json")):
        gt = json.loads(gt_path.read_text())
        video = gt_path.with_suffix(".mp4")
        if "frames" not in gt or not video.exists():
            continue
        frames, fps = read_video(video)
        per_clip.append(triangulate(extract_motion(frames, fps, smoothing=0.0).face_px, gt))
        print(f"{gt_path.stem}: {int(np.isfinite(per_clip[-1]).all(1).sum())} landmarks measured", flush=True)
    if len(per_clip) < 2:
        raise SystemExit(f"face points: need at least two clips with ground truth in {synth_dir}")
    return combine(per_clip)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("synth_dir", type=Path)
    parser.add_argument("--out", type=Path, default=geo.FACE_MESH_POINTS_PATH)
    args = parser.parse_args(argv)
    points = measure(args.synth_dir)
    args.out.write_text(json.dumps({"source": "triangulated on the shared synthetic clips, |yaw| <= 45 deg",
                                    "max_spread_mm": MAX_SPREAD_MM, "unit": "mm, head frame (x left, y down, z back)",
                                    "points": {str(k): v for k, v in sorted(points.items())}}, indent=0) + "\n")
    print(f"{len(points)} landmarks written to {args.out}")


if __name__ == "__main__":
    main()
