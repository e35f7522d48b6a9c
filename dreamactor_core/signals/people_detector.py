"""Is anyone in this image? MediaPipe's pose detector alone, to spare the people count a static ``Pose``.

The people count (:func:`.tracking.detect_people`) runs a static ``Pose`` on the frame with the
people found so far blanked out, until it finds nobody. A static ``Pose`` runs its person
detector on every image and its landmark model only where that detector found someone,
so on an image where the detector finds nobody it returns nothing. :class:`PeopleDetector`
is a graph of one node, MediaPipe's registered ``PoseDetectionCpu`` subgraph (the one inside
``Pose``) with the score threshold ``Pose`` gives it: where it finds nobody, the static
``Pose`` would have found nobody either, and is not run (nor made: most clips never need it).

The detector alone cannot replace the static ``Pose``'s answer where it does find someone:
it reports remnants of a blanked person (feet below the blanked box, measured at scores
0.5-0.78 on the hard-case clips) that the landmark model rejects, and beside a confident
person it can miss another one it finds at 0.92 on its own.

Measured on mediapipe 0.10.21, CPU: it opens in ~150 ms and a call costs ~20 ms; a static
``Pose`` opens in 270-320 ms and a call that finds someone costs ~45 ms.
"""
from __future__ import annotations

import numpy as np
from google.protobuf import text_format
from mediapipe.framework import calculator_pb2
from mediapipe.python.solution_base import SolutionBase

from . import mp_call

# The detection score ``Pose`` keeps (its min_detection_confidence default), set on the same
# calculator ``Pose`` sets it on, so that this graph finds exactly the detections ``Pose``'s does.
MIN_SCORE = 0.5

_GRAPH = """
input_stream: "IMAGE:image"
output_stream: "DETECTIONS:detections"
node {
  calculator: "PoseDetectionCpu"
  input_stream: "IMAGE:image"
  output_stream: "DETECTIONS:detections"
}
"""


class PeopleDetector(SolutionBase):
    """MediaPipe's pose detector on its own (see the module's docstring)."""

    def __init__(self, min_score: float = MIN_SCORE):
        config = text_format.Parse(_GRAPH, calculator_pb2.CalculatorGraphConfig())
        super().__init__(graph_config=config, outputs=["detections"], calculator_params={
            "posedetectioncpu__TensorsToDetectionsCalculator.min_score_thresh": float(min_score)})

    def sees_anyone(self, image: np.ndarray) -> bool:
        """Whether the detector finds a person in ``image`` (RGB uint8)."""
        return bool(mp_call.run(self, image, ("detections",))["detections"])
