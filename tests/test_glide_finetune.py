"""dermsynth.glide.finetune: a run writes loadable weights and its loss history, resumes
bit-identically from its checkpoint, and trains on what its settings say: glide-finetune's
noise MSE, random crops and timesteps by default, our hybrid loss, centre copies and every
timestep as options.

Models are the demo's options shrunk further (32 px base, 128 px upsampler, one residual block,
dropout 0.1 so that the per-step dropout seeding matters), trained a few steps on six images
of one flat colour each (or of random pixels, where a crop must show), written in
`resized_path`'s layout.
"""

from __future__ import annotations

import math
import re
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as TF
from glide_fixtures import TINY_OPTIONS as TINY
from PIL import Image

import dermsynth.glide.finetune as finetune_module
from dermsynth.data.png import write_png
from dermsynth.data.preprocess import resized_path
from dermsynth.errors import DataError
from dermsynth.glide import (
    create_model_and_diffusion,
    model_and_diffusion_defaults,
    model_and_diffusion_defaults_upsampler,
)
from dermsynth.glide.diffusion import diffusion_for
from dermsynth.glide.finetune import (
    FinetuneSettings,
    caption_tokens,
    finetune,
    to_model_range,
    training_loss,
    training_pairs,
)
from dermsynth.glide.tokenizer import get_tokenizer

BASE = {**model_and_diffusion_defaults(), **TINY, "image_size": 32, "channel_mult": "1,2,2"}
UPSAMPLE = {
    **model_and_diffusion_defaults_upsampler(),
    **TINY,
    "image_size": 128,
    "channel_mult": "1,1,1,1,1",
}
# image i is the flat colour COLOURS[i] at every size, so a batch row names its image
COLOURS = [(0, 255, 128), (40, 215, 0), (80, 175, 255), (120, 135, 30), (160, 95, 220), (200, 5, 9)]
IMAGE_IDS = [f"ISIC_{i:07d}" for i in range(len(COLOURS))]
CAPTIONS = ["a photo of melanoma", "a photo of a nevus"] * 3
SETTINGS = FinetuneSettings(lr=1e-4, batch_size=2, max_steps=4, checkpoint_every=2, seed=0)
pytestmark = pytest.mark.usefixtures("one_torch_thread")
LOSS_COLUMNS = ["step", "epoch", "loss", "mse", "vb"]


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory) -> Path:
    """Six flat-colour images at 32, 64 and 128 px; read-only."""
    root = tmp_path_factory.mktemp("images")
    for size in (32, 64, 128):
        for image_id, colour in zip(IMAGE_IDS, COLOURS, strict=True):
            path = resized_path(root, size, image_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_png(path, np.full((size, size, 3), colour, dtype=np.uint8))
    return root


@pytest.fixture(scope="module")
def textured_dir(tmp_path_factory) -> Path:
    """Six images of random pixels at 32, 64 and 128 px (each size drawn apart); read-only."""
    root = tmp_path_factory.mktemp("textured")
    rng = np.random.default_rng(0)
    for size in (32, 64, 128):
        for image_id in IMAGE_IDS:
            path = resized_path(root, size, image_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_png(path, rng.integers(0, 256, (size, size, 3), dtype=np.uint8))
    return root


def read_copy(images_dir: Path, size: int, image_id: str) -> np.ndarray:
    with Image.open(resized_path(images_dir, size, image_id)) as image:
        return np.asarray(image.convert("RGB"))


def to_uint8_hwc(x: torch.Tensor) -> np.ndarray:
    """A [-1, 1] training image back to the uint8 (H, W, 3) it was made from (exactly)."""
    return ((x + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).numpy()


@pytest.fixture
def pairs() -> pd.DataFrame:
    return pd.DataFrame({"image_id": IMAGE_IDS, "caption": CAPTIONS})


def run(tmp_path, pairs, images_dir, name="run", kind="base", options=BASE, **changes):
    """finetune() into tmp_path/<name>.{pt,state,csv}; returns the loss frame."""
    return finetune(
        kind,
        pairs,
        images_dir,
        options,
        tmp_path / f"{name}.pt",
        tmp_path / f"{name}.state",
        tmp_path / f"{name}.csv",
        replace(SETTINGS, **changes),
        device="cpu",
    )


def fresh_model(options: dict) -> torch.nn.Module:
    model, _ = create_model_and_diffusion(**{**options, "use_fp16": False})
    return model


def spy_training_losses(monkeypatch) -> list[dict]:
    """Record (x_start, t, model_kwargs) of every training step."""
    calls = []
    create = finetune_module.diffusion_for

    def create_spied(*args, **kwargs):
        diffusion = create(*args, **kwargs)
        training_losses = diffusion.training_losses

        def spy(model, x_start, t, model_kwargs=None, noise=None):
            calls.append({"x_start": x_start.clone(), "t": t.clone(), **model_kwargs})
            return training_losses(model, x_start, t, model_kwargs=model_kwargs, noise=noise)

        diffusion.training_losses = spy
        return diffusion

    monkeypatch.setattr(finetune_module, "diffusion_for", create_spied)
    return calls


def test_a_run_moves_the_weights_from_init_and_writes_them_loadable_strictly(
    tmp_path, pairs, images_dir
):
    init_model = fresh_model(BASE)
    torch.save(init_model.state_dict(), tmp_path / "init.pt")
    finetune(
        "base",
        pairs,
        images_dir,
        BASE,
        tmp_path / "base.pt",
        tmp_path / "base.state",
        tmp_path / "loss.csv",
        SETTINGS,
        init=tmp_path / "init.pt",
        device="cpu",
    )

    weights = torch.load(tmp_path / "base.pt", map_location="cpu", weights_only=True)
    result = fresh_model(BASE).load_state_dict(weights, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert all(w.dtype == torch.float32 for w in weights.values())
    init = init_model.state_dict()
    assert any(not torch.equal(weights[k], init[k]) for k in init)


@pytest.mark.parametrize("loss", ["mse", "hybrid"])
def test_the_loss_csv_has_one_row_per_step_with_the_loss_trained_and_both_terms(
    tmp_path, pairs, images_dir, loss
):
    returned = run(tmp_path, pairs, images_dir, loss=loss)

    table = pd.read_csv(tmp_path / "run.csv")
    assert list(table.columns) == LOSS_COLUMNS
    assert list(table["step"]) == [1, 2, 3, 4]
    assert list(table["epoch"]) == [0, 0, 0, 1]  # six images in batches of two
    assert np.isfinite(table[["loss", "mse", "vb"]].to_numpy()).all()
    assert (table["vb"] > 0).all()
    trained = table["mse"] if loss == "mse" else table["mse"] + table["vb"]
    np.testing.assert_allclose(table["loss"], trained, rtol=1e-5)
    pd.testing.assert_frame_equal(table, returned, check_dtype=False)


def one_batch(options: dict):
    """A fresh model (its zero-initialised output layer drawn, so that both halves of the
    output vary), its diffusion, and a batch of two images, timesteps, noise and captions."""
    torch.manual_seed(0)
    model = fresh_model(options)
    with torch.no_grad():
        model.out[-1].weight.normal_(std=0.05)
        model.out[-1].bias.normal_(std=0.05)
    x_start = torch.rand(2, 3, 32, 32) * 2 - 1
    t = torch.tensor([10, 700])
    noise = torch.randn_like(x_start)
    tokens, mask, _, _ = caption_tokens(CAPTIONS[:2], options["text_ctx"])
    return model, diffusion_for(options, ""), x_start, t, noise, {"tokens": tokens, "mask": mask}


def test_the_mse_loss_is_the_mean_squared_noise_error_over_every_element_of_the_eps_channels():
    options = {**BASE, "dropout": 0.0}  # one forward pass gives what the next one does
    model, diffusion, x_start, t, noise, kwargs = one_batch(options)

    terms = diffusion.training_losses(model, x_start, t, model_kwargs=kwargs, noise=noise)

    # by hand: x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps; the first 3 of 6 output
    # channels predict eps (the other 3 the variance); the mean over batch, channels and pixels
    abar = torch.tensor(diffusion.alphas_cumprod)[t].view(-1, 1, 1, 1)
    x_t = (abar.sqrt() * x_start + (1 - abar).sqrt() * noise).float()
    output = model(x_t, t, **kwargs)
    assert output.shape == (2, 6, 32, 32)
    expected = ((output[:, :3] - noise) ** 2).sum() / noise.numel()
    torch.testing.assert_close(training_loss(terms, "mse"), expected, rtol=1e-5, atol=0)
    hybrid = training_loss(terms, "hybrid")
    torch.testing.assert_close(hybrid, expected + terms["vb"].mean(), rtol=1e-5, atol=0)


@pytest.mark.parametrize(("loss", "trains_variance"), [("mse", False), ("hybrid", True)])
def test_the_mse_loss_trains_only_the_eps_channels_and_hybrid_also_the_variance(
    loss, trains_variance
):
    model, diffusion, x_start, t, noise, kwargs = one_batch({**BASE, "dropout": 0.0})

    terms = diffusion.training_losses(model, x_start, t, model_kwargs=kwargs, noise=noise)
    training_loss(terms, loss).backward()

    out = model.out[-1]  # the last convolution: output channel c is row c of its weight
    for grad in (out.weight.grad, out.bias.grad):
        assert grad[:3].abs().sum() > 0
        assert bool(grad[3:].abs().sum() > 0) == trains_variance


@pytest.mark.parametrize(("timesteps", "drawn"), [("all_but_last", {0}), ("all", {0, 1})])
def test_all_but_last_never_draws_the_last_timestep_as_glide_finetune(
    tmp_path, pairs, images_dir, monkeypatch, timesteps, drawn
):
    calls = spy_training_losses(monkeypatch)
    options = {**BASE, "diffusion_steps": 2}
    run(tmp_path, pairs, images_dir, options=options, max_steps=3, timesteps=timesteps)

    assert {int(t) for call in calls for t in call["t"]} == drawn


def test_a_random_crop_is_a_fresh_square_of_the_source_copy_at_every_epoch(
    tmp_path, pairs, textured_dir, monkeypatch
):
    calls = spy_training_losses(monkeypatch)
    run(tmp_path, pairs, textured_dir, batch_size=6, max_steps=2)  # two epochs

    # every square box of the 128 px copy with an area fraction in [0.8, 1]
    boxes = [
        (top, left, side, side)
        for side in range(round(128 * 0.8**0.5), 129)
        for top in range(129 - side)
        for left in range(129 - side)
    ]
    seen = {}
    for step, call in enumerate(calls):
        rows = finetune_module._batch_indices(6, 6, SETTINGS.seed, step)
        for row, x in zip(rows.tolist(), call["x_start"], strict=True):
            source = Image.fromarray(read_copy(textured_dir, 128, IMAGE_IDS[row]))
            crop = to_uint8_hwc(x)
            matches = [
                box
                for box in boxes
                if np.array_equal(
                    np.asarray(
                        TF.resized_crop(source, *box, [32, 32], T.InterpolationMode.BILINEAR)
                    ),
                    crop,
                )
            ]
            assert matches, f"image {row} at step {step} is no such crop of its source"
            seen.setdefault(row, []).append(crop)
    assert sorted(seen) == list(range(6))
    assert all(not np.array_equal(*crops) for crops in seen.values())


def test_the_upsamplers_random_crop_input_is_the_bicubic_64_px_copy_of_its_target(
    tmp_path, pairs, textured_dir, monkeypatch
):
    calls = spy_training_losses(monkeypatch)
    run(tmp_path, pairs, textured_dir, kind="upsample", options=UPSAMPLE, max_steps=1)

    (call,) = calls
    assert call["x_start"].shape == (2, 3, 128, 128)
    assert call["low_res"].shape == (2, 3, 64, 64)
    for x, low in zip(call["x_start"], call["low_res"], strict=True):
        expected = Image.fromarray(to_uint8_hwc(x)).resize((64, 64), Image.Resampling.BICUBIC)
        np.testing.assert_array_equal(to_uint8_hwc(low), np.asarray(expected))


@pytest.mark.parametrize(("kind", "options"), [("base", BASE), ("upsample", UPSAMPLE)])
def test_center_crop_trains_on_the_preprocess_copies_as_they_are(
    tmp_path, pairs, textured_dir, monkeypatch, kind, options
):
    calls = spy_training_losses(monkeypatch)
    run(tmp_path, pairs, textured_dir, kind=kind, options=options, crop="center", max_steps=3)

    size = options["image_size"]
    for step, call in enumerate(calls):
        rows = finetune_module._batch_indices(6, 2, SETTINGS.seed, step)
        for k, row in enumerate(rows.tolist()):
            image_id = IMAGE_IDS[row]
            x = to_uint8_hwc(call["x_start"][k])
            np.testing.assert_array_equal(x, read_copy(textured_dir, size, image_id))
            if kind == "upsample":
                low = to_uint8_hwc(call["low_res"][k])
                np.testing.assert_array_equal(low, read_copy(textured_dir, 64, image_id))


@pytest.mark.parametrize(
    "change",
    [{"loss": "l1"}, {"crop": "centre"}, {"timesteps": "last"}, {"resize_ratio": 0.0}],
    ids=["loss", "crop", "timesteps", "resize_ratio"],
)
def test_an_unknown_setting_value_is_refused_naming_it(change):
    ((name, value),) = change.items()
    with pytest.raises(ValueError, match=f"{name} must be"):
        replace(SETTINGS, **change)


def test_a_run_killed_after_a_checkpoint_resumes_to_bit_identical_weights_and_losses(
    tmp_path, pairs, textured_dir, monkeypatch
):
    # random pixels, so that the random crops (drawn per step) show in the losses
    straight = run(tmp_path, pairs, textured_dir, name="straight", max_steps=6)

    save_state = finetune_module._save_state

    def save_then_die(path, model, optimizer, step, *args):
        save_state(path, model, optimizer, step, *args)
        if step == 4:
            raise KeyboardInterrupt

    monkeypatch.setattr(finetune_module, "_save_state", save_then_die)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path, pairs, textured_dir, name="killed", max_steps=6)
    assert not (tmp_path / "killed.pt").exists()
    monkeypatch.setattr(finetune_module, "_save_state", save_state)
    calls = spy_training_losses(monkeypatch)
    resumed = run(tmp_path, pairs, textured_dir, name="killed", max_steps=6)

    assert len(calls) == 2  # steps 5 and 6 only
    pd.testing.assert_frame_equal(resumed, straight, check_exact=True)
    expected = torch.load(tmp_path / "straight.pt", weights_only=True)
    actual = torch.load(tmp_path / "killed.pt", weights_only=True)
    assert actual.keys() == expected.keys()
    assert all(torch.equal(actual[k], expected[k]) for k in expected)


@pytest.mark.parametrize(
    ("setting", "option"),
    [({"lr": 1e-3}, {}), ({}, {"dropout": 0.0})],
    ids=["other settings", "other options"],
)
def test_a_checkpoint_made_otherwise_is_refused_naming_it(
    tmp_path, pairs, images_dir, setting, option
):
    run(tmp_path, pairs, images_dir, max_steps=1)
    state = tmp_path / "run.state"
    before = state.read_bytes()

    with pytest.raises(DataError, match=re.escape(str(state))):
        run(tmp_path, pairs, images_dir, options={**BASE, **option}, max_steps=1, **setting)
    assert state.read_bytes() == before


def test_training_pairs_are_the_train_images_in_their_order_with_captions():
    pairs = pd.DataFrame({"image_id": ["a", "b", "c", "d", "e"], "caption": list("ABCDE")})

    chosen = training_pairs(pairs, pd.DataFrame({"image_id": ["d", "a"]}))

    assert chosen.to_dict("list") == {"image_id": ["d", "a"], "caption": ["D", "A"]}
    with pytest.raises(ValueError, match="not in the pairs table: \\['z'\\]"):
        training_pairs(pairs, pd.DataFrame({"image_id": ["a", "z"]}))


def test_uncond_p_1_trains_only_on_the_empty_caption(tmp_path, pairs, images_dir, monkeypatch):
    calls = spy_training_losses(monkeypatch)
    run(tmp_path, pairs, images_dir, max_steps=2, uncond_p=1.0)

    empty_tokens, _ = get_tokenizer().padded_tokens_and_mask([], BASE["text_ctx"])
    assert len(calls) == 2
    for call in calls:
        assert not call["mask"].any()
        assert (call["tokens"] == torch.tensor(empty_tokens)).all()


def test_uncond_p_0_trains_every_image_on_its_own_caption(tmp_path, pairs, images_dir, monkeypatch):
    calls = spy_training_losses(monkeypatch)
    run(tmp_path, pairs, images_dir, max_steps=3, uncond_p=0.0)

    tokenizer = get_tokenizer()
    caption_of_colour = {
        colour: tokenizer.padded_tokens_and_mask(tokenizer.encode(caption), BASE["text_ctx"])
        for colour, caption in zip(COLOURS, CAPTIONS, strict=True)
    }
    seen = 0
    for call in calls:
        for x, tokens, mask in zip(call["x_start"], call["tokens"], call["mask"], strict=True):
            colour = tuple(round((c.item() + 1) * 127.5) for c in x[:, 0, 0])
            assert (tokens.tolist(), mask.tolist()) == tuple(caption_of_colour[colour])
            assert mask.any()
            seen += 1
    assert seen == 6  # one epoch: every image once


def test_the_upsampler_trains_with_the_64_px_copy_of_each_image_as_low_res(
    tmp_path, pairs, images_dir, monkeypatch
):
    calls = spy_training_losses(monkeypatch)
    frame = run(
        tmp_path, pairs, images_dir, kind="upsample", options=UPSAMPLE, max_steps=1, crop="center"
    )

    (call,) = calls
    assert call["x_start"].shape == (2, 3, 128, 128)
    assert call["low_res"].shape == (2, 3, 64, 64)
    # flat colours: each row's low_res is its own image's colour
    assert torch.equal(call["low_res"], call["x_start"][:, :, :64, :64])
    assert math.isfinite(frame["loss"].item())
    weights = torch.load(tmp_path / "run.pt", weights_only=True)
    fresh_model(UPSAMPLE).load_state_dict(weights, strict=True)


def test_an_unknown_kind_is_refused(tmp_path, pairs, images_dir):
    with pytest.raises(ValueError, match="'inpaint'"):
        run(tmp_path, pairs, images_dir, kind="inpaint")


# random crops read the source_size (128 px) copies; centre crops the model's size (32 px)
READ_SIZES = pytest.mark.parametrize(("crop", "read"), [("random", 128), ("center", 32)])


@READ_SIZES
def test_a_missing_resized_image_is_refused_naming_the_file(
    tmp_path, pairs, images_dir, crop, read
):
    missing = pd.concat([pairs, pd.DataFrame({"image_id": ["ISIC_9999999"], "caption": ["x"]})])
    expected = resized_path(images_dir, read, "ISIC_9999999")

    with pytest.raises(DataError, match=re.escape(str(expected))):
        run(tmp_path, missing, images_dir, crop=crop)


@READ_SIZES
def test_a_resized_image_of_the_wrong_size_is_refused_naming_the_file(tmp_path, pairs, crop, read):
    wrong = resized_path(tmp_path / "images", read, IMAGE_IDS[2])
    wrong.parent.mkdir(parents=True)
    for image_id in IMAGE_IDS:
        size = read - 1 if image_id == IMAGE_IDS[2] else read
        path = resized_path(tmp_path / "images", read, image_id)
        write_png(path, np.zeros((size, size, 3), dtype=np.uint8))

    with pytest.raises(DataError, match=re.escape(str(wrong))):
        run(tmp_path, pairs, tmp_path / "images", crop=crop)


def test_no_pairs_is_refused(tmp_path, images_dir):
    with pytest.raises(DataError, match="no training images"):
        run(tmp_path, pd.DataFrame({"image_id": [], "caption": []}), images_dir)


def test_to_model_range_maps_0_and_255_to_minus_one_and_one():
    images = torch.tensor([0, 255], dtype=torch.uint8)
    assert to_model_range(images).tolist() == [-1.0, 1.0]


@pytest.mark.parametrize("kind,options", [("base", BASE), ("upsample", UPSAMPLE)])
def test_preview_grid_shows_one_sample_per_caption_beside_a_real_image(
    tmp_path, pairs, images_dir, kind, options, monkeypatch
):
    import dermsynth.glide.figures as figures

    drawn = {}
    plot = figures.plot_preview
    monkeypatch.setattr(
        figures,
        "plot_preview",
        lambda c, r, p, t: drawn.update(columns=c, rows=r) or plot(c, r, p, t),
    )
    preview = tmp_path / f"{kind}_preview.png"
    finetune(
        kind,
        pairs,
        images_dir,
        options,
        tmp_path / "m.pt",
        tmp_path / "m.state",
        tmp_path / "m.csv",
        replace(SETTINGS, max_steps=1),
        preview=preview,
        device="cpu",
    )
    assert preview.stat().st_size > 0
    assert drawn["columns"] == list(dict.fromkeys(CAPTIONS))
    expected = (
        ["real", "64 px input", "upsample sample"]
        if kind == "upsample"
        else ["real", "base sample"]
    )
    assert list(drawn["rows"]) == expected
    size = options["image_size"]
    real = drawn["rows"]["real"]
    assert real.shape == (2, size, size, 3)
    # the real row is the training image of each caption: images 0 and 1 (flat colours)
    assert tuple(real[0, 0, 0]) == COLOURS[0] and tuple(real[1, 0, 0]) == COLOURS[1]
    assert drawn["rows"][f"{kind} sample"].shape == (2, size, size, 3)
