"""What the terminal shows: every option documented with its default, progress per stage with an ETA,
the demo called a toy, and native library noise hidden."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from dreamactor_core.cli_console import StageProgress

REPO = Path(__file__).resolve().parents[1]


def _subparsers():
    from dreamactor_core.__main__ import _parser

    parser = _parser()
    return next(a for a in parser._actions if a.dest == "command").choices


def test_every_option_has_help_with_its_default():
    for command, sub in _subparsers().items():
        for action in sub._actions:
            if action.dest == "help":
                continue
            text = sub._get_formatter()._expand_help(action)
            assert "default" in text, f"{command} {action.option_strings}: no default in {text!r}"
            assert len(text.split("(default")[0].strip()) > 5, f"{command} {action.option_strings}: no description"
    steps = next(a for a in _subparsers()["animate"]._actions if a.dest == "steps")
    assert "(default: 20)" in _subparsers()["animate"]._get_formatter()._expand_help(steps)


def test_help_names_what_the_demo_card_overrides(capsys):
    from dreamactor_core.__main__ import DEMO_FILES, DEMO_LINE, _demo_card, _use_demo_model

    if not all(p.is_file() for p in DEMO_FILES):
        pytest.skip("demo model files are not installed")
    epilog = _subparsers()["animate"].epilog
    for key, value in _demo_card()["sampling"].items():
        assert f"--{key.replace('_', '-')} {value}" in epilog
    assert "card overrides" in epilog
    args = _subparsers()["animate"].parse_args([])
    assert _use_demo_model(args, set())
    line = capsys.readouterr().out.strip()
    assert line == DEMO_LINE and "TOY" in line and "wan2.2_animate_14B" in line and "\n" not in line


class _Tty(io.StringIO):
    def isatty(self):
        return True


def test_stage_progress_prints_each_stage_with_an_eta():
    log = io.StringIO()
    stages = StageProgress(log)
    sampling = stages("sampling window 1/2")
    for i in range(5):
        sampling(i, 4)
    lines = log.getvalue().splitlines()
    assert lines[0].startswith("sampling window 1/2 0/4") and lines[-1].startswith("sampling window 1/2 4/4")
    assert len(lines) == 2  # a log file gets each stage's start and end, not every step
    tty = _Tty()
    stage = StageProgress(tty, min_interval=0.0)("decode window 1/1")
    stage(0, 3)
    stage(1, 3)
    stage(3, 3)
    shown = tty.getvalue().split("\r")
    assert "1/3" in shown[2] and "ETA" in shown[2] and shown[-1].rstrip().endswith("s") and tty.getvalue().endswith("\n")


def test_native_log_noise_is_hidden_but_our_messages_are_not():
    code = ("import os, sys\n"
            "from dreamactor_core.cli_console import native_logs_hidden\n"
            "with native_logs_hidden():\n"
            "    os.write(2, b'W0000 native noise\\n')\n"
            "    print('error: ours', file=sys.stderr)\n"
            "os.write(2, b'after\\n')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "native noise" not in done.stderr and "error: ours" in done.stderr and "after" in done.stderr
