"""dermsynth.sd.dreambooth: a class's DreamBooth model learns from that class's training images
only, resumes a killed run bit-identically, saves a diffusers UNet (or only a LoRA adapter), and
gives the inpainting UNet its 9-channel input.

The models are the tiny demo pipelines, trained a few steps at 32 px on a split table of two
classes whose images (64 px, flat random colours) lie in `resized_path`'s layout.
"""

from __future__ import annotations

import json
import os
import re

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before huggingface_hub reads it

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
from prerequisites import require_import  # noqa: E402
from safetensors.torch import load_file  # noqa: E402
from sd_fixtures import write_resized_images  # noqa: E402

import dermsynth.sd.dreambooth as dreambooth_module  # noqa: E402
from dermsynth.design.draws import pool_sources  # noqa: E402
from dermsynth.errors import DataError  # noqa: E402
from dermsynth.sd.dreambooth import (  # noqa: E402
    DreamBoothSettings,
    checkpoint_interval,
    dreambooth_weights,
    settings_from,
    train_dreambooth,
)
from dermsynth.sd.load import load_pipeline  # noqa: E402

LABEL = "psoriasis"  # conftest.SD_CLASS: the class whose words tiny_sd knows
SETTINGS = DreamBoothSettings(
    resolution=32, source_size=64, batch_size=2, epochs=2, checkpoint_every=2, max_steps=4
)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def split() -> pd.DataFrame:
    """Psoriasis: 6 training images (file rows shuffled), 2 validation, 2 test; lichen planus:
    3/1/1."""
    rows = []
    for label, pool, ranks in ((LABEL, 6, [3, 0, 5, 1, 4, 2]), ("lichen planus", 3, [0, 1, 2])):
        short = label[:3]
        for i, rank in enumerate(ranks[:pool]):
            rows.append((f"{short}-train{i}", label, "train", str(rank), str(1 + i % 6)))
        for part, count in (
            ("val", 2 if label == LABEL else 1),
            ("test", 2 if label == LABEL else 1),
        ):
            rows += [(f"{short}-{part}{i}", label, part, "", "3") for i in range(count)]
    return pd.DataFrame(rows, columns=["image_id", "label", "split", "released_row", "skin_type"])


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory, split):
    return write_resized_images(tmp_path_factory.mktemp("images"), split["image_id"], flat=True)


def train(tiny_sd, split, images_dir, out, kind="text2img", n=None, **changes):
    settings = settings_from({**SETTINGS.__dict__, **changes})
    return train_dreambooth(
        tiny_sd[kind],
        kind,
        LABEL,
        pool_sources(split, LABEL, n),
        images_dir,
        out,
        settings,
        state_path=out.with_suffix(".state.pt"),
    )


def test_pool_sources_are_the_class_training_images_in_file_order(split):
    sources = pool_sources(split, LABEL, None)
    assert list(sources["pool_rank"]) == [0, 1, 2, 3, 4, 5]
    assert list(sources["image_id"]) == [
        "pso-train1",
        "pso-train3",
        "pso-train5",
        "pso-train0",
        "pso-train4",
        "pso-train2",
    ]
    assert set(sources["split"]) == {"train"} and set(sources["label"]) == {LABEL}
    first = pool_sources(split, LABEL, 2)  # strict's draw (no validation rows, split seed 0)
    assert list(first["pool_rank"]) == [0, 1] and set(first["image_id"]) < set(sources["image_id"])
    with pytest.raises(DataError, match="fewer than 7"):
        pool_sources(split, LABEL, 7)


def test_dreambooth_reads_and_lists_only_the_class_training_images(
    tiny_sd, split, images_dir, tmp_path, monkeypatch
):
    read = []
    original = dreambooth_module.source_image

    def spy(images, image_id, *args):
        read.append(image_id)
        return original(images, image_id, *args)

    monkeypatch.setattr(dreambooth_module, "source_image", spy)
    train(tiny_sd, split, images_dir, tmp_path / "out")
    pool = set(split[(split["label"] == LABEL) & (split["split"] == "train")]["image_id"])
    assert set(read) == pool
    listed = pd.read_csv(tmp_path / "out" / "train_images.csv", dtype=str)
    assert set(listed["image_id"]) == pool
    held_out = set(split[split["split"] != "train"]["image_id"])
    assert not held_out & set(listed["image_id"])
    assert set(listed["split"]) == {"train"}
    assert set(listed["prompt"]) == {"An image of psoriasis, a skin disease"}


def test_rows_of_a_validation_or_test_split_are_refused_naming_one(
    tiny_sd, split, images_dir, tmp_path
):
    rows = split[split["label"] == LABEL]
    with pytest.raises(DataError, match=r"split\(s\) \['train'\] only; pso-val0 is 'val'"):
        train_dreambooth(
            tiny_sd["text2img"],
            "text2img",
            LABEL,
            rows,
            images_dir,
            tmp_path / "o",
            SETTINGS,
            state_path=tmp_path / "s.pt",
        )


def test_pool_sources_of_every_class_may_add_validation_rows_but_never_test_rows(split):
    both = pool_sources(split, None, None, splits=["train", "val"])
    outside_test = split[split["split"] != "test"]
    assert sorted(both["image_id"]) == sorted(outside_test["image_id"])
    assert list(both["pool_rank"]) == list(range(len(both)))
    with pytest.raises(ValueError, match="never made from test images"):
        pool_sources(split, None, None, splits=["train", "test"])


def test_one_model_for_every_class_learns_train_and_val_images_each_under_its_disease(
    tiny_sd, split, images_dir, tmp_path
):
    # DDI-like rows: the authors' DDI model learned from both classes of their training file
    rows = pool_sources(split, None, None, splits=["train", "val"])
    rows["disease"] = np.where(rows["label"] == LABEL, "melanoma-in-situ", "seborrheic-keratosis")
    settings = settings_from({**SETTINGS.__dict__, "max_steps": 1})
    train_dreambooth(
        tiny_sd["inpaint"],
        "inpaint",
        None,
        rows,
        images_dir,
        tmp_path / "out",
        settings,
        state_path=tmp_path / "s.pt",
        splits=["train", "val"],
    )
    listed = pd.read_csv(tmp_path / "out" / "train_images.csv", dtype=str)
    assert sorted(listed["image_id"]) == sorted(rows["image_id"])
    assert set(listed["split"]) == {"train", "val"}
    assert set(listed["label"]) == {LABEL, "lichen planus"}
    expected = {
        "melanoma-in-situ": "An image of melanoma in situ, a skin disease",
        "seborrheic-keratosis": "An image of seborrheic keratosis, a skin disease",
    }
    assert listed["prompt"].tolist() == listed["disease"].map(expected).tolist()
    with pytest.raises(ValueError, match="never learns from test images"):
        train_dreambooth(
            tiny_sd["inpaint"],
            "inpaint",
            None,
            rows,
            images_dir,
            tmp_path / "o2",
            settings,
            tmp_path / "s2.pt",
            splits=["train", "test"],
        )


def test_the_per_n_mode_trains_on_the_first_n_pool_images(tiny_sd, split, images_dir, tmp_path):
    train(tiny_sd, split, images_dir, tmp_path / "out", n=2, max_steps=1)
    listed = pd.read_csv(tmp_path / "out" / "train_images.csv", dtype=str)
    assert sorted(listed["pool_rank"].astype(int)) == [0, 1]


def test_a_full_run_writes_a_diffusers_unet_losses_and_its_record(
    tiny_sd, split, images_dir, tmp_path
):
    losses = train(tiny_sd, split, images_dir, tmp_path / "out")
    out = tmp_path / "out"
    assert list(losses["step"]) == [1, 2, 3, 4] and np.isfinite(losses["loss"]).all()
    assert dreambooth_weights(out) == {"unet": out / "unet", "lora": None}
    pipeline = load_pipeline(tiny_sd["text2img"], "text2img", unet=out / "unet")
    base = load_pipeline(tiny_sd["text2img"], "text2img")
    assert not torch.equal(pipeline.unet.conv_in.weight, base.unet.conv_in.weight)  # it learned
    embeddings = pipeline.text_encoder.get_input_embeddings().weight
    assert torch.equal(embeddings, base.text_encoder.get_input_embeddings().weight)
    assert not (out / "text_encoder").exists() and not (out / "vae").exists()
    record = json.loads((out / "dreambooth.json").read_text())
    assert record["settings"]["lr"] == 5e-6 and record["images"] == 6 and record["steps"] == 4
    assert not (tmp_path / "out.state.pt").exists()  # dropped once the weights are written


def test_a_killed_run_resumes_to_bit_identical_weights_and_losses(
    tiny_sd, split, images_dir, tmp_path, monkeypatch
):
    train(tiny_sd, split, images_dir, tmp_path / "whole")
    save_state = dreambooth_module._save_state

    def save_then_die(*args):
        save_state(*args)
        raise KeyboardInterrupt  # killed right after the step-2 checkpoint

    monkeypatch.setattr(dreambooth_module, "_save_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_sd, split, images_dir, tmp_path / "killed")
    assert not (tmp_path / "killed").exists() and (tmp_path / "killed.state.pt").exists()
    monkeypatch.setattr(dreambooth_module, "_save_state", save_state)
    train(tiny_sd, split, images_dir, tmp_path / "killed")
    weights = "unet/diffusion_pytorch_model.safetensors"
    whole, resumed = (
        load_file(tmp_path / "whole" / weights),
        load_file(tmp_path / "killed" / weights),
    )
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert (tmp_path / "whole" / "loss.csv").read_text() == (
        tmp_path / "killed" / "loss.csv"
    ).read_text()


def saved_steps(monkeypatch) -> list[int]:
    """The steps at which a run writes its checkpoint (the file is still written)."""
    steps, save_state = [], dreambooth_module._save_state

    def spy(path, unet, optimizer, lr_schedule, step, *args):
        steps.append(step)
        save_state(path, unet, optimizer, lr_schedule, step, *args)

    monkeypatch.setattr(dreambooth_module, "_save_state", spy)
    return steps


def test_a_run_shorter_than_checkpoint_every_is_cut_into_checkpoints_per_run_stretches():
    paper = DreamBoothSettings(checkpoint_every=250, checkpoints_per_run=2)
    assert checkpoint_interval(228, paper) == 114  # 4 epochs x 228 images / batch 4
    assert checkpoint_interval(584, paper) == 250  # psoriasis's whole pool: the interval holds
    assert checkpoint_interval(1, paper) == 1
    assert checkpoint_interval(228, DreamBoothSettings(checkpoint_every=50)) == 50
    with pytest.raises(ValueError, match="checkpoints_per_run"):
        checkpoint_interval(228, DreamBoothSettings(checkpoints_per_run=0))


def test_no_checkpoint_is_written_at_the_last_step(
    tiny_sd, split, images_dir, tmp_path, monkeypatch
):
    steps = saved_steps(monkeypatch)
    train(tiny_sd, split, images_dir, tmp_path / "out", max_steps=6)  # every 2 steps
    assert steps == [2, 4]


def test_a_short_run_killed_after_its_first_checkpoint_resumes_bit_identically(
    tiny_sd, split, images_dir, tmp_path, monkeypatch
):
    # the paper's ratio: 228 steps against checkpoint_every 250; here 4 against 5, so the only
    # checkpoint the configured interval would give is the last step's
    short = {"checkpoint_every": 5, "checkpoints_per_run": 2, "max_steps": 4}
    steps = saved_steps(monkeypatch)
    train(tiny_sd, split, images_dir, tmp_path / "whole", **short)
    assert steps == [2]
    save_state = dreambooth_module._save_state

    def save_then_die(*args):
        save_state(*args)
        raise KeyboardInterrupt

    monkeypatch.setattr(dreambooth_module, "_save_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_sd, split, images_dir, tmp_path / "killed", **short)
    state = torch.load(tmp_path / "killed.state.pt", weights_only=False)
    assert state["step"] == 2 and not (tmp_path / "killed").exists()
    monkeypatch.setattr(dreambooth_module, "_save_state", save_state)
    train(tiny_sd, split, images_dir, tmp_path / "killed", **short)
    assert steps == [2, 2]  # the resumed run saved nothing more
    weights = "unet/diffusion_pytorch_model.safetensors"
    whole = load_file(tmp_path / "whole" / weights)
    resumed = load_file(tmp_path / "killed" / weights)
    assert whole.keys() == resumed.keys()
    assert all(torch.equal(whole[k], resumed[k]) for k in whole)
    assert (tmp_path / "whole" / "loss.csv").read_text() == (
        tmp_path / "killed" / "loss.csv"
    ).read_text()
    assert not (tmp_path / "killed.state.pt").exists()


def test_no_gradient_lives_through_a_forward_pass(
    tiny_sd, split, images_dir, tmp_path, monkeypatch
):
    from diffusers import UNet2DConditionModel

    held = []
    forward = UNet2DConditionModel.forward

    def spy(self, *args, **kwargs):
        held.append(sum(p.grad is not None for p in self.parameters()))
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(UNet2DConditionModel, "forward", spy)
    train(tiny_sd, split, images_dir, tmp_path / "out", max_steps=3)
    assert held == [0, 0, 0]


def test_gradient_checkpointing_recomputes_blocks_and_gives_the_same_weights(
    tiny_sd, split, images_dir, tmp_path, monkeypatch
):
    calls = []
    checkpoint = torch.utils.checkpoint.checkpoint

    def spy(*args, **kwargs):
        calls.append(1)
        return checkpoint(*args, **kwargs)

    train(tiny_sd, split, images_dir, tmp_path / "plain", max_steps=2)
    monkeypatch.setattr(torch.utils.checkpoint, "checkpoint", spy)
    train(
        tiny_sd,
        split,
        images_dir,
        tmp_path / "recomputed",
        max_steps=2,
        gradient_checkpointing=True,
    )
    assert calls  # the UNet's blocks went through torch.utils.checkpoint
    weights = "unet/diffusion_pytorch_model.safetensors"
    plain = load_file(tmp_path / "plain" / weights)
    recomputed = load_file(tmp_path / "recomputed" / weights)
    assert all(torch.equal(plain[k], recomputed[k]) for k in plain)


def test_8bit_adam_on_a_cpu_is_refused_naming_the_key(tiny_sd, split, images_dir, tmp_path):
    with pytest.raises(ValueError, match=r"use_8bit_adam: .* needs a CUDA GPU.* on cpu"):
        train(tiny_sd, split, images_dir, tmp_path / "out", use_8bit_adam=True)
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="AdamW8bit runs on CUDA only")
def test_8bit_adam_on_a_gpu_trains_with_bitsandbytes(
    tiny_sd, split, images_dir, tmp_path, monkeypatch
):
    bitsandbytes = require_import("bitsandbytes")  # with a GPU, CI must have it
    optimizers = []
    original = dreambooth_module._optimizer

    def spy(*args):
        optimizers.append(original(*args))
        return optimizers[-1]

    monkeypatch.setattr(dreambooth_module, "_optimizer", spy)
    losses = train(tiny_sd, split, images_dir, tmp_path / "out", use_8bit_adam=True, max_steps=2)
    assert isinstance(optimizers[0], bitsandbytes.optim.AdamW8bit)
    assert np.isfinite(losses["loss"]).all()


def test_a_checkpoint_made_with_other_settings_is_refused_naming_it(
    tiny_sd, split, images_dir, tmp_path
):
    train(tiny_sd, split, images_dir, tmp_path / "out", keep_checkpoint=True)
    state = tmp_path / "out.state.pt"
    with pytest.raises(DataError, match=re.escape(str(state))):
        train(tiny_sd, split, images_dir, tmp_path / "out", keep_checkpoint=True, lr=1e-4)


def test_the_lora_option_saves_only_the_adapter(tiny_sd, split, images_dir, tmp_path):
    train(tiny_sd, split, images_dir, tmp_path / "out", lora_rank=2, lr=1e-3)
    out = tmp_path / "out"
    assert not (out / "unet").exists()
    adapter = out / "pytorch_lora_weights.safetensors"
    assert dreambooth_weights(out) == {"unet": None, "lora": adapter}
    tensors = load_file(adapter)
    assert tensors and all("lora" in key for key in tensors)
    unet_bytes = (
        (tiny_sd["text2img"] / "unet" / "diffusion_pytorch_model.safetensors").stat().st_size
    )
    assert adapter.stat().st_size < unet_bytes / 10
    fused = load_pipeline(tiny_sd["text2img"], "text2img", lora=adapter).unet.state_dict()
    base = load_pipeline(tiny_sd["text2img"], "text2img").unet.state_dict()
    changed = {k for k in base if not torch.equal(base[k], fused[k])}
    assert changed and all(re.search(r"(to_q|to_k|to_v|to_out\.0)\.weight$", k) for k in changed)


def test_the_inpainting_unet_gets_latents_mask_and_masked_image_latents(
    tiny_sd, split, images_dir, tmp_path, monkeypatch
):
    inputs = []
    original = dreambooth_module._noisy_input

    def spy(*args):
        result = original(*args)
        inputs.append(result[0].detach().clone())
        return result

    monkeypatch.setattr(dreambooth_module, "_noisy_input", spy)
    train(tiny_sd, split, images_dir, tmp_path / "out", kind="inpaint", max_steps=2)
    assert len(inputs) == 2
    for batch in inputs:
        assert batch.shape == (2, 9, 8, 8)  # 32 px images, 8 x 8 latents
        mask = batch[:, 4]
        assert set(mask.unique().tolist()) <= {0.0, 1.0}
        for m in mask:
            assert torch.equal(m, m.flip(0)) and torch.equal(m, m.T) and m.sum() > 0  # centred
    listed = pd.read_csv(tmp_path / "out" / "train_images.csv", dtype=str)
    assert set(listed["split"]) == {"train"}
