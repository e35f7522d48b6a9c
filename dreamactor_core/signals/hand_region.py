"""MediaPipe's hand landmark model alone, on a hand region the caller already knows.

The stock ``mediapipe.solutions.hands.Hands`` graph finds hands itself: a palm
detector when it has lost them, then a region rebuilt from the last frame's
landmarks, and per hand the landmark model plus handedness and world landmarks.
Our body landmarks already say where each hand is, so :class:`HandRegionGraph`
is a graph of one node, MediaPipe's registered ``HandLandmarkCpu`` subgraph (the
very one inside ``Hands``), fed an image and a rotated square (MediaPipe's
``NormalizedRect``): it crops, rotates and runs the landmark model there, and
nothing else. No state is carried between calls, so a hand is never "lost".

:meth:`HandRegionGraph.landmarks` feeds the graph its packets without the
per-call Python of ``SolutionBase.process`` (as :mod:`mp_call` does for the stock
solutions) on the MediaPipe versions of :data:`.mp_call.LEAN_VERSIONS`; any other
version goes through ``process``.
"""
from __future__ import annotations

import mediapipe as mp
import numpy as np
from google.protobuf import text_format
from mediapipe.framework import calculator_pb2
from mediapipe.framework.formats import rect_pb2
from mediapipe.python import packet_creator
from mediapipe.python._framework_bindings import _packet_getter
from mediapipe.python.solution_base import SolutionBase

from .mp_call import LEAN_VERSIONS
from .mp_landmarks import landmarks_from_bytes

# The landmark model's files are bundled with the mediapipe wheel: 0 = lite, 1 = full.
MODEL_COMPLEXITIES = (0, 1)
# Packets need increasing timestamps; the graph has no notion of time, so any step does.
_TIMESTAMP_STEP = 33333

_GRAPH = """
input_stream: "IMAGE:image"
input_stream: "ROI:roi"
input_side_packet: "MODEL_COMPLEXITY:model_complexity"
output_stream: "LANDMARKS:landmarks"
node {
  calculator: "HandLandmarkCpu"
  input_stream: "IMAGE:image"
  input_stream: "ROI:roi"
  input_side_packet: "MODEL_COMPLEXITY:model_complexity"
  output_stream: "LANDMARKS:landmarks"
}
"""


def region_rect(shape: tuple, cx: float, cy: float, side: float, rotation: float):
    """MediaPipe's ``NormalizedRect`` of the square of ``side`` pixels centred on (cx, cy), turned by
    ``rotation`` radians, in an image of ``shape`` ``(H, W, ...)``."""
    h, w = shape[:2]
    return rect_pb2.NormalizedRect(x_center=cx / w, y_center=cy / h, width=side / w, height=side / h,
                                   rotation=rotation)


class HandRegionGraph(SolutionBase):
    """One ``HandLandmarkCpu`` graph: landmarks of the hand in a given rotated square."""

    def __init__(self, model_complexity: int = 0):
        if model_complexity not in MODEL_COMPLEXITIES:
            raise ValueError(f"model_complexity must be one of {MODEL_COMPLEXITIES}, got {model_complexity}")
        self.model_complexity = int(model_complexity)
        config = text_format.Parse(_GRAPH, calculator_pb2.CalculatorGraphConfig())
        super().__init__(graph_config=config, side_inputs={"model_complexity": self.model_complexity},
                         outputs=["landmarks"])

    def landmarks(self, image: np.ndarray, cx: float, cy: float, side: float, rotation: float):
        """Landmarks ``[21, 3]`` (image pixels; z in pixels too) of the hand in the square of ``side``
        pixels centred on (cx, cy) and turned by ``rotation``, or None when the model sees no hand."""
        h, w = image.shape[:2]
        roi = region_rect(image.shape, cx, cy, side, rotation)
        if mp.__version__ in LEAN_VERSIONS:
            buf = self._lean(image, roi)
        else:
            found = self.process({"image": image, "roi": roi}).landmarks
            buf = None if found is None else found.SerializeToString()
        if buf is None:
            return None
        out = landmarks_from_bytes(buf)
        # Normalised to the image: x by its width, y by its height; z is in units of the width.
        out[:, 0] *= w
        out[:, 1] *= h
        out[:, 2] *= w
        return out

    def _lean(self, image: np.ndarray, roi) -> bytes | None:
        self._graph_outputs.clear()
        self._simulated_timestamp += _TIMESTAMP_STEP
        ts = self._simulated_timestamp
        kind = self._input_stream_type_info["image"]
        self._graph.add_packet_to_input_stream(stream="image", packet=self._make_packet(kind, image).at(ts))
        self._graph.add_packet_to_input_stream(stream="roi", packet=packet_creator.create_proto(roi).at(ts))
        self._graph.wait_until_idle()
        packet = self._graph_outputs.get("landmarks")
        if packet is None or packet.is_empty():
            return None
        return _packet_getter._get_serialized_proto(packet)
