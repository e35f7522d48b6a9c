"""The face and hands of each frame, from that frame's body, in worker threads beside Pose (:mod:`.extract`)."""
from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor

import numpy as np

from .face_landmarks import FaceFollower
from .hand_landmarks import HandTracker


class DetailStage:
    """Face and hands of frame t from frame t's body, each in its own worker thread.

    One thread per kind keeps the face's tracking graph fed in frame order (the hands' graph
    holds no state, but shares its two graphs between both hands); MediaPipe releases the GIL
    while it runs, so the workers overlap with Pose on the next frame.
    """

    def __init__(self, hands: bool, face: bool):
        self.face = FaceFollower() if face else None
        self.hands = HandTracker() if hands else None
        # Their graphs are made now and open in MediaPipe's threads beside Pose's opening: made at the
        # first frame's face and hands, their ~100 ms of opening waited for Pose's first result.
        for stage in (self.face, self.hands):
            if stage is not None:
                stage.open()
        self._pools: dict[str, ThreadPoolExecutor] = {}

    def pool(self, kind: str) -> ThreadPoolExecutor:
        if kind not in self._pools:
            self._pools[kind] = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"dreamactor-{kind}")
        return self._pools[kind]

    def submit(self, img: np.ndarray, row: tuple) -> tuple[Future, ...]:
        px, vis = row[0], row[1]
        futures = []
        if self.face is not None:
            futures.append(self.pool("face").submit(self.face.step, img, px))
        if self.hands is not None:
            futures.append(self.pool("hands").submit(self.hands.process, img, px, vis))
        return tuple(futures)

    def collect(self, row: tuple | None, futures: tuple[Future, ...]) -> tuple | None:
        """The full row ``(body, vis, world, left, right, face, box)`` once the workers are done."""
        if row is None:
            return None
        results = [f.result() for f in futures]
        face = results.pop(0)[0] if self.face is not None else None
        left, right = results.pop(0) if self.hands is not None else (None, None)
        px, vis, world, box = row
        return px, vis, world, left, right, face, box

    def close(self) -> None:
        # Wait for the workers before their graphs are closed.
        for pool in self._pools.values():
            pool.shutdown(wait=True, cancel_futures=True)
        if self.face is not None:
            self.face.close()
        if self.hands is not None:
            self.hands.close()
