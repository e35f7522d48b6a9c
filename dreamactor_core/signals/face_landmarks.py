"""Face landmarks (MediaPipe FaceMesh, 478 points with iris) on whole frames or head crops.

FaceMesh's face detector only finds faces that fill a good part of the image: on a
512 px full-body frame the face is about 50 px wide and nothing is found. So when the
caller knows roughly where the head is (from the body landmarks, or from the face of
the previous frame) :class:`FaceTracker` cuts a square around it, upscales it to
``crop_px`` pixels, runs FaceMesh there and maps the landmarks back to full-frame
pixels. Without a head box it runs on the whole frame (portraits).

Helpers :func:`head_box_from_body` and :func:`face_box_from_landmarks` give the head
boxes that feed the tracker.
"""
from __future__ import annotations

import math

import cv2
import numpy as np

from ..utils import DreamActorError
from . import mp_call
from .mp_landmarks import landmarks_from_bytes

NUM_FACE_LANDMARKS = 478

# MediaPipe Pose indices of the head and shoulder points.
_POSE_NOSE, _POSE_L_EYE, _POSE_R_EYE, _POSE_L_EAR, _POSE_R_EAR = 0, 2, 5, 7, 8
_POSE_MOUTH_L, _POSE_MOUTH_R, _POSE_L_SHOULDER, _POSE_R_SHOULDER = 9, 10, 11, 12


def _check_frame(frame: np.ndarray) -> np.ndarray:
    if not isinstance(frame, np.ndarray) or frame.ndim != 3 or frame.shape[2] != 3:
        shape = getattr(frame, "shape", type(frame).__name__)
        raise DreamActorError(f"FaceTracker.process: frame must be an RGB uint8 array [H, W, 3], got {shape}")
    if frame.dtype != np.uint8:
        raise DreamActorError(f"FaceTracker.process: frame must be uint8 (0-255), got {frame.dtype}")
    if min(frame.shape[:2]) < 16:
        raise DreamActorError(f"FaceTracker.process: frame {frame.shape[1]}x{frame.shape[0]} is too small for faces")
    return np.ascontiguousarray(frame)


def square_around(box_xyxy, scale: float) -> tuple[float, float, float]:
    """Centre (cx, cy) and side of a square ``scale`` times the longer side of ``box_xyxy``."""
    x0, y0, x1, y1 = (float(v) for v in box_xyxy)
    side = max(x1 - x0, y1 - y0) * float(scale)
    return 0.5 * (x0 + x1), 0.5 * (y0 + y1), side


def crop_square(frame: np.ndarray, cx: float, cy: float, side: float, out_px: int,
                border: int = cv2.BORDER_REPLICATE) -> tuple[np.ndarray, float, float, float]:
    """Resample the square of ``side`` pixels centred on (cx, cy) to ``out_px`` x ``out_px``.

    Pixels outside the frame are filled by ``border``. Returns the crop and the
    mapping ``(x0, y0, scale)``: ``frame_xy = crop_xy / scale + (x0, y0)``.
    """
    scale = out_px / side
    x0 = cx - 0.5 * side
    y0 = cy - 0.5 * side
    # Pixel centres: crop pixel i samples frame coordinate x0 + (i + 0.5) / scale - 0.5.
    off = 0.5 / scale - 0.5
    m = np.array([[scale, 0.0, -scale * (x0 + off)], [0.0, scale, -scale * (y0 + off)]], dtype=np.float64)
    shrink = int(1.0 / scale) if scale < 1.0 else 1
    if shrink > 1:
        # warpAffine has no area filter: shrink the frame first, then warp at scale >= ~1. (At a shrink
        # of 1 that resize was a plain copy of the frame and the matrix stayed as it was: skipped.)
        small = cv2.resize(frame, (max(1, frame.shape[1] // shrink), max(1, frame.shape[0] // shrink)),
                           interpolation=cv2.INTER_AREA)
        fx = small.shape[1] / frame.shape[1]
        fy = small.shape[0] / frame.shape[0]
        to_small = np.array([[fx, 0, 0.5 * fx - 0.5], [0, fy, 0.5 * fy - 0.5], [0, 0, 1]], dtype=np.float64)
        m = m @ np.linalg.inv(to_small)
        frame = small
    crop = cv2.warpAffine(frame, m, (out_px, out_px), flags=cv2.INTER_LINEAR, borderMode=border)
    return crop, x0 + off, y0 + off, scale


def head_box_from_body(body_px: np.ndarray) -> np.ndarray | None:
    """A head box ``[x0, y0, x1, y1]`` from MediaPipe Pose landmarks ``[33, 2+]`` of one frame.

    The head's size comes from the largest of the ear-to-ear, eye-to-eye and
    nose-to-mouth distances (robust to profile views where the ears overlap) and
    from the shoulder width. Returns ``None`` when the face points are missing.
    """
    pts = np.asarray(body_px, dtype=np.float64)[:, :2]
    face_idx = [_POSE_NOSE, _POSE_L_EYE, _POSE_R_EYE, _POSE_L_EAR, _POSE_R_EAR, _POSE_MOUTH_L, _POSE_MOUTH_R]
    face = pts[face_idx]
    ok = np.isfinite(face).all(axis=1)
    if ok.sum() < 3:
        return None

    def dist(a, b):
        d = float(np.linalg.norm(pts[a] - pts[b]))
        return d if math.isfinite(d) else 0.0

    # Ear-to-ear is about 0.75 head widths; eye centres are about 0.32 of the head height apart;
    # the nose-to-eye-line spacing is about 0.2 of it. Take the largest estimate of the head height.
    eye_mid = 0.5 * (pts[_POSE_L_EYE] + pts[_POSE_R_EYE])
    mouth_mid = 0.5 * (pts[_POSE_MOUTH_L] + pts[_POSE_MOUTH_R])
    eye_mouth = float(np.linalg.norm(eye_mid - mouth_mid)) if np.isfinite(eye_mid).all() and np.isfinite(mouth_mid).all() else 0.0
    shoulders = dist(_POSE_L_SHOULDER, _POSE_R_SHOULDER)
    size = max(dist(_POSE_L_EAR, _POSE_R_EAR) * 1.7, dist(_POSE_L_EYE, _POSE_R_EYE) * 3.2,
               eye_mouth * 3.8, shoulders * 0.55)
    if not size > 2.0:
        return None
    # The head centre is a little above the nose-ear centroid (the skull sits above the face points).
    cx, cy = np.mean(face[ok], axis=0)
    cy -= 0.1 * size
    half = 0.5 * size
    return np.array([cx - half, cy - half, cx + half, cy + half], dtype=np.float32)


def face_box_from_landmarks(landmarks_px: np.ndarray) -> np.ndarray | None:
    """Tight box ``[x0, y0, x1, y1]`` of a face's landmarks (``[478, 2+]``), or None if missing."""
    # Min and max in the points' own dtype: widening to float64 first gives the same values, slower.
    pts = np.asarray(landmarks_px)[:, :2]
    if not np.isfinite(pts).all():
        pts = pts[np.isfinite(pts).all(axis=1)]
    if len(pts) < 3:
        return None
    (x0, y0), (x1, y1) = pts.min(axis=0), pts.max(axis=0)
    return np.array([x0, y0, x1, y1], dtype=np.float32)


class FaceTracker:
    """MediaPipe FaceMesh (``refine_landmarks=True``: 478 points with iris) for one face.

    ``process(frame, head_box)`` runs the tracking (video-mode) FaceMesh and, when that
    loses the face, a static-image FaceMesh on the same input. With a head box the
    input is a square crop of ``crop_scale`` times the box's longer side, resampled to
    ``crop_px`` pixels; without one it is the whole frame. Use it as a context manager
    or call :meth:`close`.
    """

    def __init__(self, *, crop_scale: float = 2.2, crop_px: int = 256,
                 min_detection_confidence: float = 0.5, min_tracking_confidence: float = 0.5):
        if not crop_scale > 1.0 or crop_px < 64:
            raise DreamActorError("FaceTracker: crop_scale must be > 1 and crop_px at least 64")
        import mediapipe as mp  # imported lazily so that importing the core stays light

        self._mp_face_mesh = mp.solutions.face_mesh
        self.crop_scale = float(crop_scale)
        self.crop_px = int(crop_px)
        self._det = float(min_detection_confidence)
        self._trk = float(min_tracking_confidence)
        # One tracking graph per input kind: a tracking graph remembers the previous ROI in
        # normalised coordinates of its own input, so crops and whole frames must not share one.
        self._graphs: dict[str, object] = {}

    def _graph(self, kind: str):
        g = self._graphs.get(kind)
        if g is None:
            g = self._mp_face_mesh.FaceMesh(
                static_image_mode=(kind == "static"), max_num_faces=1, refine_landmarks=True,
                min_detection_confidence=self._det, min_tracking_confidence=self._trk)
            self._graphs[kind] = g
        return g

    def open(self, kind: str = "crop") -> None:
        """Make the graph for ``kind`` ("crop", "full" or "static") now, before its first image.

        MediaPipe opens a graph's calculators (loads its models) in its own threads as soon as the
        graph is made, and the first call waits for that (~60 ms of CPU for FaceMesh): made early,
        the opening runs beside other work instead of holding up the first frame's face.
        """
        self._graph(kind)

    @staticmethod
    def _run(graph, image: np.ndarray) -> np.ndarray | None:
        faces = mp_call.run(graph, image, ("multi_face_landmarks",))["multi_face_landmarks"]
        if not faces:
            return None
        points = landmarks_from_bytes(faces[0])
        if len(points) != NUM_FACE_LANDMARKS:
            return None
        return points.astype(np.float64)

    def process(self, frame_rgb: np.ndarray, head_box_xyxy=None) -> tuple[np.ndarray | None, float]:
        """Face landmarks of one RGB uint8 frame ``[H, W, 3]``.

        Returns ``(landmarks [478, 3] float32, confidence)``: x, y in full-frame pixels,
        z = MediaPipe's relative depth times the input width in frame pixels (larger
        is farther). ``(None, 0.0)`` when no face is found.
        """
        frame = _check_frame(frame_rgb)
        h, w = frame.shape[:2]
        if head_box_xyxy is not None:
            box = np.asarray(head_box_xyxy, dtype=np.float64).reshape(-1)
            if box.shape != (4,) or not np.isfinite(box).all() or box[2] <= box[0] or box[3] <= box[1]:
                head_box_xyxy = None  # an unusable box: behave as if none was given
        if head_box_xyxy is None:
            image, kind = frame, "full"
            x0 = y0 = 0.0
            sx, sy = float(w), float(h)
            zscale = float(w)
        else:
            cx, cy, side = square_around(box, self.crop_scale)
            side = max(side, 16.0)
            image, x0, y0, scale = crop_square(frame, cx, cy, side, self.crop_px)
            kind = "crop"
            sx = sy = zscale = self.crop_px / scale
        norm = self._run(self._graph(kind), image)
        if norm is None:
            norm = self._run(self._graph("static"), image)
        if norm is None:
            return None, 0.0
        out = np.empty((NUM_FACE_LANDMARKS, 3), dtype=np.float32)
        out[:, 0] = norm[:, 0] * sx + x0
        out[:, 1] = norm[:, 1] * sy + y0
        out[:, 2] = norm[:, 2] * zscale
        # Confidence: how much of the face lies inside the real frame (a face cut off by the
        # border is less trustworthy; FaceMesh itself exposes no per-face score here).
        inside = (out[:, 0] >= -0.5) & (out[:, 0] <= w - 0.5) & (out[:, 1] >= -0.5) & (out[:, 1] <= h - 0.5)
        return out, float(inside.mean())

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        for g in self._graphs.values():
            g.close()
        self._graphs.clear()

    def __enter__(self) -> "FaceTracker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# A FaceMesh landmark box spans forehead to chin; the head box the tracker expects is ~1.5x that.
_HEAD_BOX_PER_FACE_BOX = 1.5


class FaceFollower:
    """Per-frame face tracking that chooses each frame's head box (used by :func:`track_faces`
    and the extractor).

    The head box comes from the previous frame's face when it was found, else from the
    body landmarks of this frame (MediaPipe Pose order) when given, else the whole frame
    is searched; when the face is lost from last frame's box it is looked for once more
    where the body says the head is.
    """

    def __init__(self, *, crop_scale: float = 2.2, crop_px: int = 256):
        self.tracker = FaceTracker(crop_scale=crop_scale, crop_px=crop_px)
        self.previous: np.ndarray | None = None

    def open(self) -> None:
        """Make the graph the first frames need (a crop around the head) now: see :meth:`FaceTracker.open`."""
        self.tracker.open("crop")

    def step(self, frame: np.ndarray, body_px: np.ndarray | None = None) -> tuple[np.ndarray | None, float]:
        """``(landmarks [478, 3], confidence)`` of one RGB uint8 frame, ``(None, 0.0)`` if not found."""
        box = None
        if self.previous is not None:
            cx, cy, side = square_around(self.previous, _HEAD_BOX_PER_FACE_BOX)
            box = (cx - 0.5 * side, cy - 0.5 * side, cx + 0.5 * side, cy + 0.5 * side)
        elif body_px is not None:
            box = head_box_from_body(body_px)
        lm, conf = self.tracker.process(frame, box)
        if lm is None and self.previous is not None and body_px is not None:
            # The face moved away from last frame's box: try again where the body says the head is.
            lm, conf = self.tracker.process(frame, head_box_from_body(body_px))
        self.previous = face_box_from_landmarks(lm) if lm is not None else None
        return lm, conf

    def close(self) -> None:
        """Release the MediaPipe graphs."""
        self.tracker.close()


def track_faces(frames, body_px: np.ndarray | None = None, *, crop_scale: float = 2.2, crop_px: int = 256,
                progress=None, cancel=None) -> tuple[np.ndarray, np.ndarray]:
    """Face landmarks for a batch of RGB uint8 frames ``[T, H, W, 3]``.

    Head boxes as in :class:`FaceFollower`; ``body_px`` is ``[T, 33, 2+]`` (MediaPipe
    Pose order) or None. Returns ``face_px [T, 478, 3]`` float32 (NaN where no face)
    and ``face_conf [T]``.
    """
    from ..utils import check_cancel, report

    arr = np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] != 3 or arr.dtype != np.uint8:
        raise DreamActorError(f"track_faces: frames must be uint8 RGB [T, H, W, 3], got {arr.shape} {arr.dtype}")
    t = arr.shape[0]
    if body_px is not None and len(body_px) != t:
        raise DreamActorError(f"track_faces: body_px has {len(body_px)} frames but there are {t} images")
    face_px = np.full((t, NUM_FACE_LANDMARKS, 3), np.nan, dtype=np.float32)
    face_conf = np.zeros(t, dtype=np.float32)
    follower = FaceFollower(crop_scale=crop_scale, crop_px=crop_px)
    try:
        for i in range(t):
            check_cancel(cancel)
            lm, conf = follower.step(arr[i], None if body_px is None else body_px[i])
            if lm is not None:
                face_px[i], face_conf[i] = lm, conf
            report(progress, i + 1, t)
    finally:
        follower.close()
    return face_px, face_conf
