"""benchmarks/classifier_input.py: the loader benchmark (files against the image cache) runs its
whole code path at toy size (`--tiny`), both regimes with and without transforms, and ends with
one JSON line of its figures."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
from prerequisites import require_import

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "classifier_input.py"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_the_tiny_benchmark_times_both_inputs_in_every_setting(monkeypatch, capsys):
    require_import("fastai.vision.augment")  # the authors' transforms (a test dependency)
    spec = importlib.util.spec_from_file_location("classifier_input", SCRIPT)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    monkeypatch.setattr(sys, "argv", [str(SCRIPT), "--tiny", "--workers", "1", "--device", "cpu"])
    bench.main()
    lines = capsys.readouterr().out.strip().splitlines()
    figures = json.loads(lines[-1])
    assert figures["benchmark"] == "classifier_input" and figures["images"] == 18
    settings = [(r["regime"], r["transforms"]) for r in figures["results"]]
    assert settings == [("authors", False), ("authors", True), ("ours", False), ("ours", True)]
    for result in figures["results"]:
        speeds = result["images_per_s"]
        assert speeds["files"] > 0 and speeds["cache"] > 0
        assert result["ratio"] == pytest.approx(speeds["cache"] / speeds["files"])
    assert any(line.startswith("regime") and "ratio" in line for line in lines)
