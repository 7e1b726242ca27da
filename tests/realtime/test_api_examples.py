"""The Python API's documented examples run as written (doctest), from the project's root."""
import doctest
import importlib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("module", ["realtime.run.pipeline", "realtime.sources.video", "realtime.run.buffers"])
def test_examples_run(module, monkeypatch):
    monkeypatch.chdir(ROOT)  # the examples name the bundled clip by its path in the project
    result = doctest.testmod(importlib.import_module(module), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0 and result.failed == 0
