"""benchmarks/sd_full_size.py: the full-size Stable Diffusion benchmark's code path, at toy size.

The benchmark itself needs ~20 GB and ~10 minutes on a CPU, so CI runs it with `--tiny` (the same
builder, stages and report on two-layer models at 64 px, in this process) and checks that its
real configurations have the published models' parameter counts (built on the meta device: no
memory). `--estimate` is computed at real size either way.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest  # noqa: E402

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "sd_full_size.py"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("sd_full_size", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def meta_counts(bench, kind: str) -> dict[str, int]:
    import diffusers
    import torch
    from transformers import CLIPTextConfig, CLIPTextModel

    config = bench.model_config(kind, tiny=False)
    text = {k: v for k, v in config["text_encoder"].items() if k != "architectures"}
    with torch.device("meta"):
        models = {
            "unet": diffusers.UNet2DConditionModel.from_config(config["unet"]),
            "text_encoder": CLIPTextModel(CLIPTextConfig(**text)),
            "vae": diffusers.AutoencoderKL.from_config(config["vae"]),
        }
    return {name: bench.count(model) for name, model in models.items()}


def test_the_real_configurations_have_the_published_models_parameter_counts(bench):
    assert meta_counts(bench, "text2img") == {
        "unet": 865_910_724,
        "text_encoder": 340_387_840,
        "vae": 83_653_863,
    }
    assert meta_counts(bench, "inpaint") == {
        "unet": 859_535_364,
        "text_encoder": 123_060_480,
        "vae": 83_653_863,
    }


def test_the_tiny_benchmark_runs_every_stage_through_the_projects_code(bench, tmp_path, capsys):
    assert bench.main(["--tiny", "--in-process", "--estimate", "--work", str(tmp_path)]) == 0
    printed = capsys.readouterr().out.strip().splitlines()
    report = json.loads(printed[-1])
    assert report["tiny"] and report["resolution"] == 64
    assert any(line.startswith("ESTIMATE (computed, not measured)") for line in printed)
    stages = report["stages"]
    assert list(stages) == ["build", "text2img", "inpaint", "inoutpaint", "dreambooth"]
    # 2 steps asked: text-to-image runs both, the passes at 0.97 and 0.95 int(2 * s) = 1
    assert [stages[m]["steps_taken"] for m in ("text2img", "inpaint", "inoutpaint")] == [2, 1, 1]
    assert {stages[m]["precision"] for m in ("text2img", "inpaint", "inoutpaint")} == {"fp32"}
    assert math.isfinite(stages["dreambooth"]["loss"]) and stages["dreambooth"]["batch"] == 1
    assert stages["dreambooth"]["compute_seconds"] > 0  # read from the training log line
    assert all(row["peak_host_bytes"] > 0 and row["seconds"] > 0 for row in stages.values())
    for kind, channels in (("text2img", 4), ("inpaint", 9)):
        folder = tmp_path / "models" / kind  # a diffusers folder the project's loader accepts
        assert json.loads((folder / "unet" / "config.json").read_text())["in_channels"] == channels
        assert (folder / "tokenizer" / "vocab.json").is_file()
    assert (tmp_path / "inoutpaint" / "manifest.csv").is_file()


def test_the_estimate_adds_weights_gradients_moments_and_activations_per_image(bench):
    estimate = bench.estimate()
    model = estimate["models"]["text2img"]
    params = model["unet_params"]
    rows = model["configurations"]
    plain, both = rows["adamw"], rows["8bit_adam_checkpointing"]
    assert params == 865_910_724 and estimate["batch"] == 4
    assert plain["weights"] == plain["grads"] == 4 * params and plain["moments"] == 8 * params
    assert plain["activations"] == 4 * model["activations_per_image"]
    held = sum(plain[k] for k in ("weights", "grads", "moments", "frozen_vae"))
    assert plain["peak"] == held + max(plain["activations"], plain["step_temporary"])
    assert plain["step_temporary"] == 4 * params and both["step_temporary"] == 0
    # 8-bit moments: about 2 bytes a parameter (small tensors stay fp32)
    assert 2 * params < both["moments"] < 2.01 * params
    assert both["activations"] == 4 * model["activations_per_image_checkpointing"]
    assert model["activations_per_image_checkpointing"] < model["activations_per_image"] / 3
    assert both["peak"] < rows["adamw_checkpointing"]["peak"] < plain["peak"]
