"""dermsynth.sd.load: one code path loads the tiny demo pipelines as it would the real ones, from
local folders with no network, the safety checker off, DPM-Solver++ by default; an incomplete or
swapped folder fails naming the file; DreamBooth weights replace the UNet or fuse a LoRA.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before huggingface_hub reads it

import pytest  # noqa: E402
import torch  # noqa: E402

from dermsynth.errors import DataError  # noqa: E402
from dermsynth.io import file_sha256  # noqa: E402
from dermsynth.sd.load import load_pipeline, model_sha256  # noqa: E402

PROMPT = "An image of psoriasis, a skin disease"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture
def no_network(monkeypatch):
    """Any attempt to open a connection fails the test."""

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def generate(pipeline, **kwargs):
    return pipeline(
        prompt=[PROMPT],
        num_inference_steps=2,
        guidance_scale=3.0,
        output_type="np",
        generator=[torch.Generator().manual_seed(0)],
        **kwargs,
    ).images


@pytest.mark.parametrize(
    ("kind", "name", "channels"),
    [("text2img", "StableDiffusionPipeline", 4), ("inpaint", "StableDiffusionInpaintPipeline", 9)],
)
def test_tiny_folders_load_offline_as_the_real_pipeline_classes(
    tiny_sd, no_network, kind, name, channels
):
    pipeline = load_pipeline(tiny_sd[kind], kind)
    assert type(pipeline).__name__ == name
    assert pipeline.unet.config.in_channels == channels
    assert pipeline.safety_checker is None
    assert type(pipeline.scheduler).__name__ == "DPMSolverMultistepScheduler"
    kwargs = {}
    if kind == "inpaint":
        kwargs = {"image": torch.rand(1, 3, 64, 64), "mask_image": torch.ones(1, 1, 64, 64)}
    assert generate(pipeline, **kwargs).shape == (1, 64, 64, 3)


def test_a_real_folders_scheduler_is_replaced_by_dpm_solver_on_the_same_noise_schedule(
    tiny_sd, tmp_path
):
    from diffusers import DDIMScheduler

    folder = copy_model(tiny_sd["text2img"], tmp_path / "model")
    # the real folders ship another scheduler (PNDM, DDIM): make this one so
    pipeline = load_pipeline(folder, "text2img")
    DDIMScheduler.from_config(pipeline.scheduler.config).save_pretrained(folder / "scheduler")
    index = json.loads((folder / "model_index.json").read_text())
    index["scheduler"] = ["diffusers", "DDIMScheduler"]
    (folder / "model_index.json").write_text(json.dumps(index))
    kept = load_pipeline(folder, "text2img", scheduler="folder").scheduler
    replaced = load_pipeline(folder, "text2img").scheduler
    assert type(kept).__name__ == "DDIMScheduler"
    assert type(replaced).__name__ == "DPMSolverMultistepScheduler"
    assert torch.equal(kept.betas, replaced.betas)
    with pytest.raises(ValueError, match="scheduler"):
        load_pipeline(folder, "text2img", scheduler="euler")


def test_a_folder_without_model_index_names_it_and_the_model_to_put_there(tmp_path):
    folder = tmp_path / "stable-diffusion-2-1-base"
    folder.mkdir()
    expected = (
        f"{folder / 'model_index.json'}: not found: put the diffusers folder of "
        f"stabilityai/stable-diffusion-2-1-base in {folder}"
    )
    with pytest.raises(DataError, match=re.escape(expected)):
        load_pipeline(folder, "text2img")
    with pytest.raises(DataError, match="runwayml/stable-diffusion-inpainting"):
        load_pipeline(folder, "inpaint")


@pytest.mark.parametrize(
    "missing",
    [
        "unet/diffusion_pytorch_model.safetensors",
        "vae/config.json",
        "text_encoder/model.safetensors",
        "tokenizer/merges.txt",
        "scheduler/scheduler_config.json",
    ],
)
def test_a_missing_file_is_named_in_the_error(tiny_sd, tmp_path, missing):
    folder = copy_model(tiny_sd["text2img"], tmp_path / "model")
    (folder / missing).unlink()
    with pytest.raises(DataError, match=re.escape(str(folder / missing))):
        load_pipeline(folder, "text2img")


def test_an_fp16_only_folder_loads_its_variant(tiny_sd, tmp_path):
    folder = copy_model(tiny_sd["text2img"], tmp_path / "model")
    for component, stem in [
        ("unet", "diffusion_pytorch_model"),
        ("vae", "diffusion_pytorch_model"),
        ("text_encoder", "model"),
    ]:
        path = folder / component / f"{stem}.safetensors"
        path.rename(path.with_name(f"{stem}.fp16.safetensors"))
    assert load_pipeline(folder, "text2img").unet.config.in_channels == 4


def test_a_swapped_folder_is_refused_by_its_unet_input_channels(tiny_sd):
    with pytest.raises(DataError, match="UNet has 4 input channels; a inpaint model has 9"):
        load_pipeline(tiny_sd["text2img"], "inpaint")
    with pytest.raises(DataError, match="UNet has 9 input channels"):
        load_pipeline(tiny_sd["inpaint"], "text2img")


def test_a_dreambooth_unet_replaces_the_pretrained_one(tiny_sd, tmp_path):
    from diffusers import UNet2DConditionModel

    unet = UNet2DConditionModel.from_pretrained(tiny_sd["text2img"] / "unet")
    with torch.no_grad():
        unet.conv_out.bias.add_(0.5)
    unet.save_pretrained(tmp_path / "unet")
    pipeline = load_pipeline(tiny_sd["text2img"], "text2img", unet=tmp_path / "unet")
    assert torch.equal(pipeline.unet.conv_out.bias, unet.conv_out.bias)
    weights = tmp_path / "unet" / "diffusion_pytorch_model.safetensors"
    assert model_sha256(tiny_sd["text2img"], unet=tmp_path / "unet") == file_sha256(weights)
    pretrained = tiny_sd["text2img"] / "unet" / "diffusion_pytorch_model.safetensors"
    assert model_sha256(tiny_sd["text2img"]) == file_sha256(pretrained)


def test_a_lora_adapter_is_fused_into_the_unet_and_its_layers_dropped(tiny_sd, tmp_path):
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = UNet2DConditionModel.from_pretrained(tiny_sd["text2img"] / "unet")
    base = {k: v.clone() for k, v in unet.state_dict().items()}
    torch.manual_seed(0)
    unet.add_adapter(
        LoraConfig(
            r=2,
            lora_alpha=2,
            init_lora_weights="gaussian",
            target_modules=["to_q", "to_k", "to_v", "to_out.0"],
        )
    )
    with torch.no_grad():
        for name, parameter in unet.named_parameters():
            if "lora_B" in name:
                parameter.normal_(0, 0.1)  # B starts at zero: give the adapter an effect
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionPipeline.save_lora_weights(tmp_path / "lora", unet_lora_layers=layers)
    pipeline = load_pipeline(tiny_sd["text2img"], "text2img", lora=tmp_path / "lora")
    assert not [n for n, _ in pipeline.unet.named_modules() if "lora" in n]
    fused = pipeline.unet.state_dict()
    changed = [k for k in base if not torch.equal(base[k], fused[k])]
    assert changed and all(re.search(r"\.(to_q|to_k|to_v|to_out\.0)\.weight$", k) for k in changed)
    adapter = tmp_path / "lora" / "pytorch_lora_weights.safetensors"
    assert model_sha256(tiny_sd["text2img"], lora=tmp_path / "lora") == file_sha256(adapter)


def copy_model(source, target):
    """A copy of a module-wide model folder, for a test to change."""
    return shutil.copytree(source, target)
