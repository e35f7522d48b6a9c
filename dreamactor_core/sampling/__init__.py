"""Flow-matching sampling and the end-to-end pipeline.

- ``schedule``: shifted flow sigmas; ``solvers``: Euler and DPM++ 2M;
- ``guidance``: CFG with Wan2.2-Animate's negative branch, pose/face strength windows;
- ``conditioning``: per-window model inputs (reference slots, mask ``y``, pose latents, face crops, text, CLIP);
- ``windows``: long videos as windows carrying frames forward, colour matching;
- ``pseudo_refs``: turn-around pseudo-references; ``alignment``: place the motion on the reference person;
- ``pipeline``: ``animate`` (driving video in) and ``animate_guidance`` (guidance frames in);
- ``video_sink``: streaming mp4 writer that keeps the driving audio.
"""
