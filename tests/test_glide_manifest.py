"""dermsynth.glide.options / unet: the default models are the released checkpoints' networks.

Fixtures: shared/fixtures/glide/manifest_{base,upsample}.json (state_dict keys in order,
shapes, n_params of OpenAI's base.pt / upsample.pt) and fp16map_{base,upsample}.json (dtype
of every entry after convert_to_fp16()). The 385M / 398M-parameter models are built on the
`meta` device, so they cost no memory or time.
"""

from __future__ import annotations

import pytest
import torch
from glide_fixtures import (
    MANIFESTS,
    build_network,
    fixture_id,
    golden_model_dirs,
    load_cases,
    read_json,
    requires_fixtures,
)

from dermsynth.glide import (
    create_model_and_diffusion,
    model_and_diffusion_defaults,
    model_and_diffusion_defaults_upsampler,
)
from dermsynth.glide.options import attention_downsample_rates, parse_channel_mult

DEFAULTS = {
    "base": model_and_diffusion_defaults,
    "upsample": model_and_diffusion_defaults_upsampler,
}
# What notebooks/text2im.ipynb changes before building the released models (README section 1).
NOTEBOOK_CHANGES = ("timestep_respacing", "use_fp16")


def meta_network(options: dict) -> torch.nn.Module:
    with torch.device("meta"):
        return build_network(options)


def dtype_map(model: torch.nn.Module) -> dict[str, str]:
    return {k: str(v.dtype).removeprefix("torch.") for k, v in model.state_dict().items()}


@requires_fixtures
@pytest.mark.parametrize("name", MANIFESTS)
def test_state_dict_keys_in_order_and_shapes_are_the_released_checkpoints(name):
    manifest = read_json(f"manifest_{name}.json")
    model = meta_network(manifest["options"])
    actual = [(k, list(v.shape)) for k, v in model.state_dict().items()]
    assert actual == [(k, shape) for k, shape in manifest["state_dict"].items()]
    assert len(actual) == manifest["n_state_dict_entries"]


@requires_fixtures
@pytest.mark.parametrize("name", MANIFESTS)
def test_parameter_count_is_the_released_models(name):
    manifest = read_json(f"manifest_{name}.json")
    model = meta_network(manifest["options"])
    assert sum(p.numel() for p in model.parameters()) == manifest["n_params"]


@requires_fixtures
@pytest.mark.parametrize("name", MANIFESTS)
def test_a_state_dict_of_the_released_shapes_loads_strictly(name):
    manifest = read_json(f"manifest_{name}.json")
    model = meta_network(manifest["options"])
    checkpoint = {
        k: torch.empty(shape, device="meta") for k, shape in manifest["state_dict"].items()
    }
    result = model.load_state_dict(checkpoint, strict=True)
    assert not result.missing_keys and not result.unexpected_keys


@requires_fixtures
@pytest.mark.parametrize("name", MANIFESTS)
def test_convert_to_fp16_gives_the_released_models_dtype_map(name):
    manifest = read_json(f"manifest_{name}.json")
    model = meta_network(manifest["options"])
    model.convert_to_fp16()
    assert dtype_map(model) == read_json(f"fp16map_{name}.json")
    assert model.dtype == torch.float16


@requires_fixtures
@pytest.mark.parametrize("name", MANIFESTS)
def test_use_fp16_option_builds_the_model_already_converted(name):
    manifest = read_json(f"manifest_{name}.json")
    model = meta_network({**manifest["options"], "use_fp16": True})
    assert dtype_map(model) == read_json(f"fp16map_{name}.json")


@requires_fixtures
@pytest.mark.parametrize("name", MANIFESTS)
def test_convert_to_fp32_undoes_convert_to_fp16_for_every_entry(name):
    manifest = read_json(f"manifest_{name}.json")
    model = meta_network({**manifest["options"], "use_fp16": True})
    model.convert_to_fp32()
    assert set(dtype_map(model).values()) == {"float32"}
    assert model.dtype == torch.float32


@requires_fixtures
@pytest.mark.parametrize("name", MANIFESTS)
def test_defaults_are_the_manifest_options_but_for_the_notebook_changes(name):
    manifest_options = read_json(f"manifest_{name}.json")["options"]
    defaults = DEFAULTS[name]()
    assert defaults.keys() == manifest_options.keys()
    assert len(defaults) == 24
    changed = {k for k in defaults if defaults[k] != manifest_options[k]}
    assert changed <= set(NOTEBOOK_CHANGES)
    assert defaults["timestep_respacing"] == "" and defaults["use_fp16"] is True


@requires_fixtures
@pytest.mark.parametrize("directory", golden_model_dirs(), ids=fixture_id)
def test_create_model_and_diffusion_attaches_the_tokenizer_and_respaces(directory):
    cases, _ = load_cases(directory)
    model, diffusion = create_model_and_diffusion(**read_json(directory / "options.json"))
    assert model.tokenizer.n_vocab == model.token_embedding.num_embeddings
    assert model.tokenizer.n_vocab == read_json("tokenizer.json")["n_vocab"]
    assert diffusion.num_timesteps == cases["respaced_num_timesteps"]
    assert list(diffusion.timestep_map) == cases["timestep_map"]


def test_default_channel_mult_follows_image_size():
    assert parse_channel_mult("", 64) == (1, 2, 3, 4)
    assert parse_channel_mult("", 256) == (1, 1, 2, 2, 4, 4)
    with pytest.raises(ValueError, match="image_size 32"):
        parse_channel_mult("", 32)


def test_explicit_channel_mult_needs_one_level_per_halving_down_to_4px():
    assert parse_channel_mult("1,2,2", 32) == (1, 2, 2)
    with pytest.raises(ValueError, match="2\\*\\*\\(levels \\+ 2\\)"):
        parse_channel_mult("1,2,2", 64)


def test_attention_resolutions_become_downsample_rates():
    assert attention_downsample_rates("32,16,8", 64) == (2, 4, 8)
    assert attention_downsample_rates("32,16,8", 256) == (8, 16, 32)


def test_inpainting_models_are_refused_plainly():
    options = {**model_and_diffusion_defaults(), "inpaint": True}
    with torch.device("meta"), pytest.raises(NotImplementedError):
        build_network(options)
