"""One MediaPipe solution call without the per-call costs of its Python wrapper.

``SolutionBase.process`` of mediapipe 0.10.21 builds a new namedtuple class on every
call (about 0.5 ms of CPU with the GIL held, as much as some of the models' own work
on a hand crop) and turns every output stream into protobuf messages, read or not.
:func:`run` feeds the graph the same packet at the same simulated timestamp, so the
graph computes exactly what ``process`` would, and hands back only the streams asked
for, as the serialized bytes that :func:`.mp_landmarks.landmarks_from_bytes` reads.

It reaches into the solution object, so it is used only for the MediaPipe versions in
:data:`LEAN_VERSIONS` (where it was checked to give the same landmarks bit for bit);
any other version, or an object that is not a MediaPipe solution (a test double),
goes through ``process``.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

# MediaPipe versions whose SolutionBase layout run() was written against.
LEAN_VERSIONS = ("0.10.21",)
# SolutionBase.process adds this to the graph's timestamp per call (a 30 fps video).
_TIMESTAMP_STEP = 33333


@lru_cache(maxsize=1)
def _lean_ok() -> bool:
    import mediapipe as mp

    return mp.__version__ in LEAN_VERSIONS


def run(solution, image: np.ndarray, streams: tuple[str, ...]) -> dict:
    """Run one image through ``solution`` (a ``mediapipe.solutions`` object) and return
    ``{stream: serialized proto bytes, a list of them for a list stream, or None}``."""
    from mediapipe.python.solution_base import PacketDataType, SolutionBase

    if not (_lean_ok() and isinstance(solution, SolutionBase)):
        return _through_process(solution, image, streams)
    from mediapipe.python._framework_bindings import _packet_getter

    (name, kind), = solution._input_stream_type_info.items()
    solution._graph_outputs.clear()
    solution._simulated_timestamp += _TIMESTAMP_STEP
    packet = solution._make_packet(kind, image).at(solution._simulated_timestamp)
    solution._graph.add_packet_to_input_stream(stream=name, packet=packet)
    solution._graph.wait_until_idle()
    out = {}
    for stream in streams:
        packet = solution._graph_outputs.get(stream)
        if packet is None or packet.is_empty():
            out[stream] = None
        elif solution._output_stream_type_info[stream] is PacketDataType.PROTO_LIST:
            out[stream] = _packet_getter._get_serialized_proto_list(packet)
        else:
            out[stream] = _packet_getter._get_serialized_proto(packet)
    return out


def _through_process(solution, image: np.ndarray, streams: tuple[str, ...]) -> dict:
    """:func:`run` through the solution's own ``process`` (any MediaPipe version, test doubles)."""
    result = solution.process(image)
    out = {}
    for stream in streams:
        value = getattr(result, stream)
        if value is None:
            out[stream] = None
        elif isinstance(value, (list, tuple)):
            out[stream] = [m.SerializeToString() for m in value]
        else:
            out[stream] = value.SerializeToString()
    return out
