"""dermsynth.glide.sample: every image depends only on (seed, class, index), shards resume by
sampling only what is missing from their work folder, are packed into one WebDataset tar whose
manifest references open, and the manifest records how each image was made.

Nothing is trained: the models are the demo's options shrunk further (32 px base, 64 px
upsampler), randomly initialised, sampled with 4 base and 3 upsampler steps.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from glide_fixtures import TINY_OPTIONS as TINY

import dermsynth.glide.sample as sample_module
from dermsynth.design.released import JSON_FIELDS
from dermsynth.glide import (
    create_model_and_diffusion,
    model_and_diffusion_defaults,
    model_and_diffusion_defaults_upsampler,
)
from dermsynth.glide.diffusion import create_gaussian_diffusion
from dermsynth.glide.sample import (
    MANIFEST_COLUMNS,
    SAMPLERS,
    PerImageNoise,
    SampleSettings,
    guided_model,
    image_name,
    image_seed,
    run_sampler,
    sample_shard,
    to_uint8,
)
from dermsynth.glide.tokenizer import get_tokenizer
from dermsynth.images import image_exists, open_rgb
from dermsynth.webdataset import image_ref, read_member

BASE = {**model_and_diffusion_defaults(), **TINY, "image_size": 32, "channel_mult": "1,2,2"}
UPSAMPLE = {
    **model_and_diffusion_defaults_upsampler(),
    **TINY,
    "image_size": 64,
    "channel_mult": "1,1,1,1",
}
SETTINGS = SampleSettings(base_respacing="4", upsample_respacing="3", batch_size=3)
LABEL, PROMPT = "mel", "a photo of melanoma"
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def random_model(options: dict, seed: int) -> torch.nn.Module:
    """A randomly initialised model whose output depends on its input.

    GLIDE zero-initialises its output layers, so a fresh model predicts eps = 0 whatever it is
    given; those zero tensors get small random values here.
    """
    torch.manual_seed(seed)
    model, _ = create_model_and_diffusion(**{**options, "use_fp16": False})
    with torch.no_grad():
        for parameter in model.parameters():
            if not parameter.any():
                parameter.normal_(0.0, 0.05)
    return model.eval()


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> tuple[Path, Path]:
    """(base.pt, upsample.pt) of two random models; read-only."""
    folder = tmp_path_factory.mktemp("weights")
    torch.save(random_model(BASE, seed=0).state_dict(), folder / "base.pt")
    torch.save(random_model(UPSAMPLE, seed=1).state_dict(), folder / "upsample.pt")
    return folder / "base.pt", folder / "upsample.pt"


def shard(weights, manifest: Path, indices, settings=SETTINGS) -> pd.DataFrame:
    base, upsampler = weights
    return sample_shard(
        LABEL, PROMPT, indices, base, upsampler, BASE, UPSAMPLE, manifest, settings, device="cpu"
    )


def png(folder: Path, index: int) -> bytes:
    """An image's bytes in the shard whose manifest is `folder`/manifest.csv."""
    return read_member(folder / "manifest.tar", image_name(LABEL, index))


def pixels(folder: Path, index: int) -> np.ndarray:
    ref = image_ref(folder / "manifest.tar", image_name(LABEL, index))
    return np.asarray(open_rgb(ref), dtype=np.int16)


def work_pixels(work: Path, index: int) -> np.ndarray:
    """An image of a shard not packed yet (its work folder)."""
    return np.asarray(open_rgb(work / image_name(LABEL, index)), dtype=np.int16)


class Killed(Exception):
    """A shard job killed after sampling its images, before packing them."""


def killed_before_packing(*args, **kwargs):
    raise Killed


def mean_level_difference(a: np.ndarray, b: np.ndarray) -> float:
    """Mean absolute difference of two uint8 images, in levels of 255."""
    return float(np.abs(a - b).mean())


def spy_todo(monkeypatch) -> list[list[int]]:
    """The `todo` list of every call to _sample_images."""
    calls = []
    sample_images = sample_module._sample_images

    def spy(label, prompt, todo, *args):
        calls.append(list(todo))
        return sample_images(label, prompt, todo, *args)

    monkeypatch.setattr(sample_module, "_sample_images", spy)
    return calls


def test_image_seed_is_stable_across_versions():
    # changing it silently changes every synthetic set made with the workflow
    assert image_seed(0, "mel", 0) == 46936777968218827
    assert image_seed(0, "mel", 1) == 6521014605000250964


def test_image_seed_differs_across_class_index_and_seed():
    seeds = {image_seed(s, label, i) for s in (0, 1) for label in ("mel", "nv") for i in (0, 1)}
    assert len(seeds) == 8
    assert all(0 <= s < 2**63 for s in seeds)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_each_image_draws_its_own_noise_whatever_the_images_beside_it(sampler):
    # an elementwise model is batch-invariant to the bit, so only the noise could differ
    diffusion = create_gaussian_diffusion(
        steps=1000, noise_schedule="squaredcos_cap_v2", timestep_respacing="4"
    )

    def model_fn(x, t, **kwargs):
        return torch.cat([0.5 * x, torch.zeros_like(x)], dim=1)

    def sample(seeds):
        noise = PerImageNoise(seeds, (3, 8, 8), torch.device("cpu"))
        return run_sampler(diffusion, model_fn, noise, sampler, {})

    together = sample([11, 12, 13])
    assert torch.equal(sample([13]), together[2:])
    assert torch.equal(sample([13, 11]), together[[2, 0]])
    assert not torch.equal(together[0], together[1])


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_the_temperature_scales_the_initial_noise(sampler):
    diffusion = create_gaussian_diffusion(
        steps=1000, noise_schedule="squaredcos_cap_v2", timestep_respacing="2"
    )
    inputs = []

    def model_fn(x, t, **kwargs):
        inputs.append(x.clone())
        return torch.zeros((len(x), 6, *x.shape[2:]))

    noise = PerImageNoise([11, 12], (3, 8, 8), torch.device("cpu"))
    run_sampler(diffusion, model_fn, noise, sampler, {}, temperature=0.5)

    initial = PerImageNoise([11, 12], (3, 8, 8), torch.device("cpu"))()
    assert torch.equal(inputs[0], initial * 0.5)


@pytest.mark.parametrize("sampler", SAMPLERS)
def test_an_image_is_the_same_whatever_its_batch_or_shard_up_to_rounding(
    tmp_path, weights, sampler
):
    # bytes may differ in a few pixels: batched kernels (MKL, cuDNN) round differently at
    # different batch sizes; another image's noise would differ by half the range
    settings = replace(SETTINGS, base_sampler=sampler, upsample_sampler=sampler)
    for name, batch_size in [("batch3", 3), ("batch1", 1)]:
        manifest = tmp_path / name / "manifest.csv"
        shard(weights, manifest, [0, 1, 2], replace(settings, batch_size=batch_size))
    shard(weights, tmp_path / "alone" / "manifest.csv", [2], settings)

    reference = [pixels(tmp_path / "batch3", i) for i in (0, 1, 2)]
    assert reference[0].shape == (64, 64, 3)
    for i in (0, 1, 2):
        assert mean_level_difference(pixels(tmp_path / "batch1", i), reference[i]) < 1
    assert mean_level_difference(pixels(tmp_path / "alone", 2), reference[2]) < 1
    assert mean_level_difference(reference[0], reference[1]) > 20
    assert mean_level_difference(reference[1], reference[2]) > 20


def test_a_shard_sampled_twice_is_byte_identical_whatever_the_global_seed(tmp_path, weights):
    torch.manual_seed(1)
    shard(weights, tmp_path / "first" / "manifest.csv", [0, 1, 2])
    torch.manual_seed(2)
    shard(weights, tmp_path / "second" / "manifest.csv", [0, 1, 2])

    for i in (0, 1, 2):
        assert png(tmp_path / "second", i) == png(tmp_path / "first", i)


def test_a_complete_shard_rerun_samples_and_rewrites_nothing(tmp_path, weights, monkeypatch):
    manifest = tmp_path / "shard-0" / "manifest.csv"
    shard(weights, manifest, [0, 1, 2])
    tar = manifest.with_suffix(".tar").read_bytes()
    content = manifest.read_bytes()
    calls = spy_todo(monkeypatch)

    shard(weights, manifest, [0, 1, 2])

    assert calls == []
    assert manifest.with_suffix(".tar").read_bytes() == tar  # its images, reused
    assert manifest.read_bytes() == content


def test_a_killed_shard_resumes_by_sampling_only_its_missing_and_truncated_images(
    tmp_path, weights, monkeypatch
):
    manifest = tmp_path / "shard-0" / "manifest.csv"
    work = tmp_path / "shard-0" / "manifest.work"
    with monkeypatch.context() as killed:
        killed.setattr(sample_module, "pack_shard", killed_before_packing)
        with pytest.raises(Killed):
            shard(weights, manifest, [0, 1, 2, 3])
    complete = {i: work_pixels(work, i) for i in range(4)}
    kept = {i: (work / image_name(LABEL, i)).read_bytes() for i in (0, 3)}
    (work / image_name(LABEL, 1)).unlink()
    truncated = (work / image_name(LABEL, 2)).read_bytes()[:100]
    (work / image_name(LABEL, 2)).write_bytes(truncated)
    calls = spy_todo(monkeypatch)

    shard(weights, manifest, [0, 1, 2, 3])

    folder = manifest.parent
    assert calls == [[1, 2]]
    assert {i: png(folder, i) for i in (0, 3)} == kept
    for i in (1, 2):
        assert mean_level_difference(pixels(folder, i), complete[i]) < 1
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.csv", "manifest.tar"]


def test_the_manifest_lists_every_image_with_its_seed_steps_and_model_hashes(tmp_path, weights):
    manifest = tmp_path / "shard-1" / "manifest.csv"
    returned = shard(weights, manifest, [3, 4, 5])

    table = pd.read_csv(manifest, dtype={"class": str})
    assert list(table.columns) == MANIFEST_COLUMNS
    assert list(table["index"]) == [3, 4, 5]
    tar = manifest.with_suffix(".tar")
    assert list(table["file"]) == [f"{tar}#{image_name(LABEL, i)}" for i in (3, 4, 5)]
    assert all(image_exists(f) for f in table["file"])
    assert list(table["seed"]) == [image_seed(SETTINGS.seed, LABEL, i) for i in (3, 4, 5)]
    assert set(table["class"]) == {LABEL} and set(table["prompt"]) == {PROMPT}
    base, upsampler = weights
    assert set(table["base_sha256"]) == {hashlib.sha256(base.read_bytes()).hexdigest()}
    assert set(table["upsample_sha256"]) == {hashlib.sha256(upsampler.read_bytes()).hexdigest()}
    assert set(table["base_steps"]) == {4} and set(table["upsample_steps"]) == {3}
    assert set(table["guidance_scale"]) == {SETTINGS.guidance_scale}
    pd.testing.assert_frame_equal(table, returned, check_dtype=False)
    # the shard: each image and its json, the fields of the authors' released shards first
    with tarfile.open(tar) as packed:
        assert packed.getnames() == [
            f"{LABEL}_{i:06d}.{extension}" for i in (3, 4, 5) for extension in ("json", "png")
        ]
        record = json.loads(packed.extractfile(f"{LABEL}_000004.json").read())
    assert list(record)[:7] == list(JSON_FIELDS)
    assert (record["name"], record["label"], record["generation_num"]) == (
        f"{LABEL}_000004.png",
        LABEL,
        "04",
    )
    assert record["seed"] == table["seed"][1] and record["prompt"] == PROMPT


def guidance_inputs(batch: int = 2):
    """x, t and the conditional-then-unconditional tokens/mask of a batch for the base model."""
    tokenizer = get_tokenizer()
    cond = tokenizer.padded_tokens_and_mask(tokenizer.encode(PROMPT), BASE["text_ctx"])
    uncond = tokenizer.padded_tokens_and_mask([], BASE["text_ctx"])
    x = torch.randn((batch, 3, 32, 32), generator=torch.Generator().manual_seed(0))
    t = torch.tensor([500] * batch)
    tokens = torch.tensor([cond[0]] * batch + [uncond[0]] * batch)
    mask = torch.tensor([cond[1]] * batch + [uncond[1]] * batch)
    return x, t, tokens, mask


@pytest.mark.parametrize(("scale", "half"), [(1.0, "conditional"), (0.0, "unconditional")])
def test_guidance_scale_1_gives_the_conditional_eps_and_0_the_unconditional(scale, half):
    model = random_model(BASE, seed=0)
    x, t, tokens, mask = guidance_inputs()
    with torch.no_grad():
        guided = guided_model(model, scale)(x, t, tokens=tokens, mask=mask)
        eps = {
            "conditional": model(x, t, tokens=tokens[:2], mask=mask[:2])[:, :3],
            "unconditional": model(x, t, tokens=tokens[2:], mask=mask[2:])[:, :3],
        }

    assert not torch.allclose(eps["conditional"], eps["unconditional"], atol=1e-3)
    torch.testing.assert_close(guided[:, :3], eps[half], rtol=1e-5, atol=1e-5)


def test_guidance_keeps_the_conditional_variance_channels():
    model = random_model(BASE, seed=0)
    x, t, tokens, mask = guidance_inputs()
    with torch.no_grad():
        guided = guided_model(model, 3.0)(x, t, tokens=tokens, mask=mask)
        cond = model(x, t, tokens=tokens[:2], mask=mask[:2])

    assert guided.shape == (2, 6, 32, 32)
    torch.testing.assert_close(guided[:, 3:], cond[:, 3:], rtol=1e-5, atol=1e-5)


def test_to_uint8_rounds_to_the_nearest_level_and_clamps():
    images = torch.tensor([-1.5, -1.0, 0.0, 1.0, 2.0]).reshape(1, 1, 1, 5).expand(1, 3, 1, 5)
    assert to_uint8(images)[0, 0, :, 0].tolist() == [0, 0, 128, 255, 255]


def test_an_unknown_sampler_is_refused(tmp_path, weights):
    with pytest.raises(ValueError, match="'plms'"):
        shard(weights, tmp_path / "manifest.csv", [0], replace(SETTINGS, base_sampler="plms"))


class ExactX0Model(torch.nn.Module):
    """Predicts the eps that makes x0 = `target` exactly, at original-scale timesteps."""

    def __init__(self, target: torch.Tensor, alphas_cumprod) -> None:
        super().__init__()
        self.target = target
        self.abar = torch.tensor(alphas_cumprod, dtype=torch.float64)

    def forward(self, x, t, **kwargs):
        abar = self.abar[t].float().view(-1, 1, 1, 1)
        eps = (x - abar.sqrt() * self.target) / (1 - abar).sqrt()
        return torch.cat([eps, torch.zeros_like(eps)], dim=1)


@pytest.mark.parametrize("sampler", ["ddim", "dpm++2m"])
def test_deterministic_samplers_land_on_an_exact_x0_prediction(sampler):
    from dermsynth.glide.diffusion import create_gaussian_diffusion

    full = create_gaussian_diffusion(
        steps=1000, noise_schedule="squaredcos_cap_v2", timestep_respacing=""
    )
    diffusion = create_gaussian_diffusion(
        steps=1000, noise_schedule="squaredcos_cap_v2", timestep_respacing="10"
    )
    target = torch.linspace(-0.9, 0.9, 2 * 3 * 4 * 4).view(2, 3, 4, 4)
    model = ExactX0Model(target, full.alphas_cumprod)
    noise = PerImageNoise([1, 2], (3, 4, 4), torch.device("cpu"))
    out = run_sampler(diffusion, model, noise, sampler, {})
    assert torch.allclose(out, target, atol=1e-4)


def test_dpm_solver_differs_from_ddim_on_an_imperfect_model():
    from dermsynth.glide.diffusion import create_gaussian_diffusion

    diffusion = create_gaussian_diffusion(
        steps=1000, noise_schedule="squaredcos_cap_v2", timestep_respacing="6"
    )

    def model(x, t, **kwargs):  # an eps that moves with t: the second order term matters
        eps = 0.5 * x + (t.float() / 1000).view(-1, 1, 1, 1)
        return torch.cat([eps, torch.zeros_like(eps)], dim=1)

    runs = {
        s: run_sampler(diffusion, model, PerImageNoise([3], (3, 4, 4), torch.device("cpu")), s, {})
        for s in ("ddim", "dpm++2m")
    }
    assert not torch.allclose(runs["ddim"], runs["dpm++2m"], atol=1e-3)


class GaussianDataModel(torch.nn.Module):
    """The exact eps-predictor for data x0 ~ N(mean, std^2) per pixel, at original-scale
    timesteps: E[eps | x_t] = sqrt(1 - abar) (x_t - sqrt(abar) mean) / (abar std^2 + 1 - abar).
    Its variance channels ask for the posterior variance (frac -1, GLIDE's learned-range
    parameterisation)."""

    def __init__(self, mean: float, std: float, alphas_cumprod) -> None:
        super().__init__()
        self.mean, self.std = mean, std
        self.abar = torch.tensor(alphas_cumprod, dtype=torch.float64)

    def forward(self, x, t, **kwargs):
        abar = self.abar[t].view(-1, 1, 1, 1)
        eps = (1 - abar).sqrt() * (x - abar.sqrt() * self.mean) / (abar * self.std**2 + 1 - abar)
        return torch.cat([eps.float(), -torch.ones_like(x)], dim=1)


def _gaussian_data_samples(sampler: str, steps: str, mean: float, std: float) -> torch.Tensor:
    full = create_gaussian_diffusion(
        steps=1000, noise_schedule="squaredcos_cap_v2", timestep_respacing=""
    )
    diffusion = create_gaussian_diffusion(
        steps=1000, noise_schedule="squaredcos_cap_v2", timestep_respacing=steps
    )
    model = GaussianDataModel(mean, std, full.alphas_cumprod)
    noise = PerImageNoise(list(range(64)), (3, 8, 8), torch.device("cpu"))  # 12,288 pixels
    return run_sampler(diffusion, model, noise, sampler, {})


@pytest.mark.parametrize(
    ("sampler", "steps"), [("ancestral", "100"), ("ddim", "50"), ("dpm++2m", "25")]
)
def test_samplers_recover_a_known_data_distribution(sampler, steps):
    # with the exact score of Gaussian data, every sampler must return that distribution
    out = _gaussian_data_samples(sampler, steps, mean=0.3, std=0.2)
    assert abs(out.mean().item() - 0.3) < 0.005
    assert abs(out.std().item() - 0.2) < 0.02


def test_fast_sampler_in_25_steps_is_as_close_as_100_ancestral_steps():
    errors = {
        sampler: abs(_gaussian_data_samples(sampler, steps, 0.3, 0.2).std().item() - 0.2)
        for sampler, steps in [("ancestral", "100"), ("dpm++2m", "25")]
    }
    assert errors["dpm++2m"] <= errors["ancestral"]
