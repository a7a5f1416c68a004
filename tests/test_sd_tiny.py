"""dermsynth.sd.tiny: the demo's tiny pipelines are written in the diffusers layout of the paper's
models (stabilityai/stable-diffusion-2-1-base, runwayml/stable-diffusion-inpainting), with a
CLIP tokenizer whose vocab.json/merges.txt the project learns itself from the prompt words.
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before huggingface_hub reads it

import pytest  # noqa: E402

from dermsynth.io import file_sha256  # noqa: E402
from dermsynth.sd.tiny import (  # noqa: E402
    LATENT_FACTOR,
    RESOLUTION,
    learn_bpe,
    write_tiny_models,
    write_tokenizer,
)

CLASSES = ["squamous cell carcinoma", "lichen planus", "benign", "malignant"]
pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return write_tiny_models(tmp_path_factory.mktemp("tiny"), seed=0, texts=CLASSES)


@pytest.mark.parametrize(
    ("kind", "pipeline", "in_channels"),
    [("text2img", "StableDiffusionPipeline", 4), ("inpaint", "StableDiffusionInpaintPipeline", 9)],
)
def test_tiny_folders_have_the_layout_and_classes_of_the_real_models(
    tiny, kind, pipeline, in_channels
):
    folder = tiny[kind]
    index = json.loads((folder / "model_index.json").read_text())
    assert index["_class_name"] == pipeline
    assert index["unet"] == ["diffusers", "UNet2DConditionModel"]
    assert index["vae"] == ["diffusers", "AutoencoderKL"]
    assert index["text_encoder"] == ["transformers", "CLIPTextModel"]
    assert index["tokenizer"] == ["transformers", "CLIPTokenizer"]
    assert index["scheduler"] == ["diffusers", "DPMSolverMultistepScheduler"]
    unet = json.loads((folder / "unet" / "config.json").read_text())
    assert unet["in_channels"] == in_channels and unet["out_channels"] == 4
    assert unet["sample_size"] * LATENT_FACTOR == RESOLUTION
    for path in (
        "unet/diffusion_pytorch_model.safetensors",
        "vae/diffusion_pytorch_model.safetensors",
        "text_encoder/model.safetensors",
        "scheduler/scheduler_config.json",
        "tokenizer/vocab.json",
        "tokenizer/merges.txt",
        "tokenizer/tokenizer_config.json",
    ):
        assert (folder / path).is_file(), path
    # as in the real folders: the slow-tokenizer files only
    assert not (folder / "tokenizer" / "tokenizer.json").exists()


def test_the_scheduler_has_stable_diffusions_training_noise_schedule(tiny):
    config = json.loads((tiny["text2img"] / "scheduler" / "scheduler_config.json").read_text())
    assert config["beta_schedule"] == "scaled_linear"
    assert (config["beta_start"], config["beta_end"]) == (0.00085, 0.012)
    assert config["prediction_type"] == "epsilon" and config["num_train_timesteps"] == 1000


def test_the_vae_makes_latents_a_quarter_of_the_image(tiny):
    from diffusers import AutoencoderKL

    vae = AutoencoderKL.from_pretrained(tiny["inpaint"] / "vae")
    assert 2 ** (len(vae.config.block_out_channels) - 1) == LATENT_FACTOR
    assert vae.config.latent_channels == 4


def test_the_tokenizer_gives_each_prompt_word_one_token_and_spells_out_the_rest(tiny):
    from transformers import CLIPTokenizer

    tokenizer = CLIPTokenizer.from_pretrained(tiny["text2img"] / "tokenizer")
    prompt = "An image of squamous cell carcinoma, a skin disease, Fitzpatrick skin type 4"
    tokens = tokenizer.convert_ids_to_tokens(tokenizer(prompt).input_ids)
    assert tokens == [
        "<|startoftext|>",
        "an</w>",
        "image</w>",
        "of</w>",
        "squamous</w>",
        "cell</w>",
        "carcinoma</w>",
        ",</w>",
        "a</w>",
        "skin</w>",
        "disease</w>",
        ",</w>",
        "fitzpatrick</w>",
        "skin</w>",
        "type</w>",
        "4</w>",
        "<|endoftext|>",
    ]
    unknown = tokenizer.convert_ids_to_tokens(tokenizer("zebra").input_ids)[1:-1]
    assert "".join(unknown).replace("</w>", "") == "zebra" and len(unknown) > 1
    assert tokenizer.model_max_length == 77
    assert len(tokenizer) < 500  # a few hundred tokens, not CLIP's 49,408


def test_learned_merges_rebuild_every_training_word():
    words = ["psoriasis", "sarcoidosis", "skin", "is"]
    merges = learn_bpe(words)
    for word in words:
        symbols = [*word[:-1], word[-1] + "</w>"]
        for a, b in merges:  # apply in rank order, as BPE encoding does
            i = 0
            while i < len(symbols) - 1:
                if (symbols[i], symbols[i + 1]) == (a, b):
                    symbols[i : i + 2] = [a + b]
                else:
                    i += 1
        assert symbols == [word + "</w>"]


def test_the_vocabulary_holds_every_merge_result_and_ends_with_the_special_tokens(tmp_path):
    vocab = write_tokenizer(tmp_path, ["lupus erythematosus"])
    merges = (tmp_path / "merges.txt").read_text().splitlines()
    assert merges[0] == "#version: 0.2"
    for line in merges[1:]:
        a, b = line.split(" ")
        assert a + b in vocab
    assert list(vocab)[-2:] == ["<|startoftext|>", "<|endoftext|>"]
    assert sorted(vocab.values()) == list(range(len(vocab)))


def test_the_same_seed_writes_the_same_weights_and_another_seed_other_weights(tmp_path, tiny):
    again = write_tiny_models(tmp_path / "again", seed=0, texts=CLASSES)
    other = write_tiny_models(tmp_path / "other", seed=1, texts=CLASSES)
    weights = "unet/diffusion_pytorch_model.safetensors"
    assert file_sha256(again["text2img"] / weights) == file_sha256(tiny["text2img"] / weights)
    assert file_sha256(other["text2img"] / weights) != file_sha256(tiny["text2img"] / weights)
