"""Held-out hard cases: seeded variants of the hard-case set, and which targets each one misses.

    python benchmarks/heldout.py OUT_DIR [--variants 1 2 3] [--size 384] [--frames 40] [--no-limb-morphs]
                                 [--cache DIR]
    python benchmarks/heldout.py --sets DIR [DIR ...] [--cache DIR]

Variant N (other bodies of each case's class and limb lengths, views, motion speeds and
phases, looks; see ``dreamactor_core.training.synth_variants``) is rendered into
``OUT_DIR/vN`` (``OUT_DIR/vN_plain`` with ``--no-limb-morphs``: bodies that are their phenotype
alone) unless that folder already holds its clips, then every clip is scored with
the scorecard the tests use (raw MediaPipe -> ours, one card line per clip). Variant 0 is
the hard-case set itself. The last table lists, per target, the clips that miss it in
each variant: a target met on variant 0 and missed on the others was met by a fit to
those eight clips, not by the method.

With ``--cache DIR`` each clip's raw MediaPipe extraction is saved under ``DIR/<variant folder>`` the
first time and replayed after (:mod:`dreamactor_core.signals.raw_cache`: keyed by the video's hash,
MediaPipe's version and the extraction's version, so a stale entry is made again, never read). Every
step after MediaPipe runs with the code in hand, so a change downstream of MediaPipe re-scores a set in
seconds. Each variant says how many extractions it reused and made. ``--sets`` scores folders already
rendered (the eight cases each, as ``synth_hardcases`` writes them) as they are, named by their folder.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from dreamactor_core.signals.raw_cache import raw_extraction  # noqa: E402
from dreamactor_core.signals.scorecard import TARGETS, card_line, misses, score_clip  # noqa: E402
from dreamactor_core.training.synth_hardcases import CASES, write_hard_cases  # noqa: E402


def variant_dir(out: Path, variant: int, size: int, frames: int, limb_morphs: bool = True) -> Path:
    """``out/vN`` (``out/vN_plain`` without limb morphs) with the variant's clips, rendered there first
    when it holds none."""
    folder = out / (f"v{variant}" if limb_morphs or variant == 0 else f"v{variant}_plain")
    if not all((folder / f"{name}.mp4").exists() for name in CASES):
        write_hard_cases(folder, size=size, frames=frames, variant=variant, limb_morphs=limb_morphs,
                         progress=lambda d, n: print(f"variant {variant}: {d}/{n} cases written", flush=True))
    return folder


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out_dir", type=Path, nargs="?", help="where the variants are rendered (not with --sets)")
    parser.add_argument("--sets", type=Path, nargs="+", default=None,
                        help="score these folders of the eight cases as they are, instead of rendering variants")
    # Rendering options default to None so that one given with --sets (which renders nothing) is refused.
    parser.add_argument("--variants", type=int, nargs="+", default=None, help="default: 1 2 3")
    parser.add_argument("--size", type=int, default=None, help="default: 384")
    parser.add_argument("--frames", type=int, default=None, help="default: 40")
    parser.add_argument("--no-limb-morphs", dest="limb_morphs", action="store_false", default=None,
                        help="bodies without arm/leg length morphs (every other draw of the variant kept)")
    parser.add_argument("--cache", type=Path, default=None,
                        help="folder of saved raw MediaPipe extractions: made once per clip, replayed after")
    args = parser.parse_args()
    if args.out_dir is None and args.sets is None:
        sys.exit("give OUT_DIR (variants rendered there) or --sets DIR ... (folders already rendered)")
    if args.out_dir is not None and args.sets is not None:
        sys.exit(f"give OUT_DIR ({args.out_dir}) or --sets, not both: --sets scores folders already rendered")
    rendering = {"--variants": args.variants, "--size": args.size, "--frames": args.frames,
                 "--no-limb-morphs": args.limb_morphs}
    if args.sets is not None and any(v is not None for v in rendering.values()):
        given = " ".join(k for k, v in rendering.items() if v is not None)
        sys.exit(f"{given}: only for variants rendered into OUT_DIR; --sets scores its folders as they are")
    args.variants = [1, 2, 3] if args.variants is None else args.variants
    args.size = 384 if args.size is None else args.size
    args.frames = 40 if args.frames is None else args.frames
    args.limb_morphs = args.limb_morphs is None
    if any(v < 0 for v in args.variants):
        sys.exit("--variants: each must be 0 (the hard-case set) or more")
    if args.sets is not None:
        lacking = [f"{folder}: {name}.mp4" for folder in args.sets for name in CASES
                   if not (folder / f"{name}.mp4").exists()]
        if lacking:
            sys.exit(f"--sets: each folder must hold the eight cases; missing {', '.join(lacking[:4])}")
        if len({folder.name for folder in args.sets}) < len(args.sets):
            sys.exit("--sets: the folders are named by their last part; give folders whose names differ")
        sets = {folder.name: (lambda folder=folder: folder) for folder in args.sets}
    else:  # each variant rendered when its turn comes, so the first ones' cards come early
        sets = {f"v{v}": (lambda v=v: variant_dir(args.out_dir, v, args.size, args.frames, args.limb_morphs))
                for v in args.variants}
    missed: dict[str, dict[str, list[str]]] = {}
    for variant, make in sets.items():
        folder = make()
        print(f"{variant} ({folder}): raw MediaPipe -> ours, as benchmarks/signals.py --accuracy prints")
        # A folder rendered before the renderer wrote the rest lengths is scored on the posed median
        # (accuracy.gt_limb_lengths falls back to it): say so, since its limbs column means another truth.
        posed = [n for n in CASES if "coco_segment_lengths_rest_m" not in
                 json.loads((folder / f"{n}.json").read_text())["body"]]
        if posed:
            print(f"  note: no coco_segment_lengths_rest_m in {', '.join(n[:4] for n in posed)}: their limbs are "
                  "scored on the posed frames' median; render the folder again for the rest-length truth")
        missed[variant], done = {}, {}
        for name in CASES:
            raw = None
            if args.cache is not None:
                raw, how = raw_extraction(folder / f"{name}.mp4", args.cache / folder.name)
                done.setdefault(how, []).append(name[:4])
            card = score_clip(folder / f"{name}.mp4", raw=raw)
            print(f"  {name:22s} {card_line(card)}", flush=True)
            for target in misses(card):
                missed[variant].setdefault(target, []).append(name[:4])
        if args.cache is not None:
            print(f"  raw extractions in {args.cache / folder.name}: "
                  + "; ".join(f"{how} {len(names)} ({' '.join(names)})" for how, names in done.items()))
    print("targets -> clips missing them, per variant:")
    print(f"  {'target':12s} " + " ".join(f"{v:28s}" for v in sets))
    for target in TARGETS:
        print(f"  {target:12s} " + " ".join(f"{' '.join(missed[v].get(target, [])) or '-':28s}" for v in sets))
    total = "  ".join(f"{v} {sum(len(c) for c in missed[v].values())}" for v in sets)
    print(f"  (clip, target) pairs missed of {len(CASES) * len(TARGETS)}: {total}")


if __name__ == "__main__":
    main()
