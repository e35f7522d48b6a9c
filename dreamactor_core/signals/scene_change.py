"""Has anything changed in a frame outside the followed person? A cheap check before counting people again.

Counting people runs MediaPipe's pose detector (~16 ms of CPU on a 512 px frame) every
half second while one person is followed alone (:meth:`tracking.PersonFollower.recount`).
Someone who walks in changes the picture outside the followed person's box; with a
still camera and nobody new, nothing there changes and the count would only find
nobody again. :class:`SceneView` keeps a small grey thumbnail of the frame at the last
count; a later frame is counted again only where some block of it, outside the
followed person's box then and now, differs by more than :data:`CHANGE_LEVEL` grey
levels on average. A moving camera or a light change counts again, as before.
"""
from __future__ import annotations

import cv2
import numpy as np

VIEW_SIDE = 64  # thumbnail side: 8x8 px of a 512 px frame per thumbnail pixel
BLOCK = 4  # thumbnail pixels per block side: 32 px blocks of a 512 px frame
# Mean grey-level change of one block that counts as something new. Video noise (H.264) is
# well under 2 levels once averaged over a block; a person entering a block changes it by tens.
CHANGE_LEVEL = 8.0
BOX_GROW = 0.15  # the followed person's box is grown by this much of its size on each side


class SceneView:
    """A grey thumbnail of one frame and the followed person's box in it."""

    def __init__(self, frame: np.ndarray, box: np.ndarray):
        self.height, self.width = frame.shape[:2]
        small = cv2.resize(frame, (VIEW_SIDE, VIEW_SIDE), interpolation=cv2.INTER_AREA)
        self.grey = cv2.cvtColor(small, cv2.COLOR_RGB2GRAY).astype(np.float32)
        self.box = np.asarray(box, np.float32)

    def _mask_box(self, diff: np.ndarray, box: np.ndarray) -> None:
        gx, gy = (box[2] - box[0]) * BOX_GROW, (box[3] - box[1]) * BOX_GROW
        sx, sy = VIEW_SIDE / self.width, VIEW_SIDE / self.height
        x0, x1 = int(np.floor((box[0] - gx) * sx)), int(np.ceil((box[2] + gx) * sx))
        y0, y1 = int(np.floor((box[1] - gy) * sy)), int(np.ceil((box[3] + gy) * sy))
        diff[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 0.0

    def changed_since(self, earlier: "SceneView") -> bool:
        """True when a block outside both views' person boxes changed by more than :data:`CHANGE_LEVEL`."""
        if (earlier.height, earlier.width) != (self.height, self.width):
            return True
        diff = np.abs(self.grey - earlier.grey)
        self._mask_box(diff, earlier.box)
        self._mask_box(diff, self.box)
        n = VIEW_SIDE // BLOCK
        return float(diff.reshape(n, BLOCK, n, BLOCK).mean(axis=(1, 3)).max()) > CHANGE_LEVEL
