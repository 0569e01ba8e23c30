"""docs/api.md's examples run as written (the live ones as root)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

DOC = Path(__file__).resolve().parent.parent / "docs" / "api.md"


def _blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)


def test_the_api_page_has_examples():
    assert len(_blocks()) >= 5


def test_the_api_examples_run_in_order(capsys):
    namespace: dict = {}
    ran = 0
    for block in _blocks():
        if block.startswith("# needs root") and os.geteuid() != 0:
            continue
        exec(compile(block, f"{DOC.name} block {ran}", "exec"), namespace)
        ran += 1
    out = capsys.readouterr().out
    assert "<Scenario 'default': 121 steps" in out and "scenario.step_s" in out
    if os.geteuid() == 0:
        assert "<Emulation of 'default', static routing, at step 0" in out
    else:
        pytest.skip(f"ran the {ran} offline blocks; the live ones need root")
