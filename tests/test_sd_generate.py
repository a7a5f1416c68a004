"""dermsynth.sd.generate: every synthetic image comes from a training image and inherits its
pool_rank, its seed and pixels do not depend on the shard or the batch, a shard resumes by making
only what is missing from its work folder, packs its images into one WebDataset tar in the
authors' layout whose manifest references open, and the manifest records how each image was
made: the UNet evaluations that ran (counted by a forward hook), the scheduler, the precision and
the device.

The models are the tiny demo pipelines at 64 px with 3 DPM-Solver++ steps; the sources are a
split table of one class (4 pool images, 1 validation, 1 test) in `resized_path`'s layout.
"""

from __future__ import annotations

import json
import os
import tarfile
from dataclasses import replace
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before huggingface_hub reads it

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from sd_fixtures import write_resized_images  # noqa: E402

import dermsynth.sd.generate as generate_module  # noqa: E402
from dermsynth.design.draws import pool_sources  # noqa: E402
from dermsynth.errors import DataError  # noqa: E402
from dermsynth.images import image_exists  # noqa: E402
from dermsynth.io import file_sha256  # noqa: E402
from dermsynth.sd import masks  # noqa: E402
from dermsynth.sd.generate import (  # noqa: E402
    MANIFEST_COLUMNS,
    PROVENANCE_FILE,
    GenerateSettings,
    Item,
    class_shard_items,
    generate_shard,
    image_name,
    image_seed,
    items_from_manifest,
    merge_manifests,
    resolve_precision,
    sample_grid,
    shard_items,
    sources_from,
)
from dermsynth.sd.sources import PROMPT, prompt_for, read_rgb  # noqa: E402

LABEL = "psoriasis"  # conftest.SD_CLASS: the class whose words tiny_sd knows
SETTINGS = GenerateSettings(resolution=64, steps=3, per_source=2, batch_size=3)
pytestmark = pytest.mark.usefixtures("one_torch_thread")


def images_made(monkeypatch) -> list:
    """The items `make_images` is asked for from now on (it still makes them)."""
    made = []
    original = generate_module.make_images

    def spy(pipeline, method, variant, cls, todo, *args):
        made.extend(todo)
        return original(pipeline, method, variant, cls, todo, *args)

    monkeypatch.setattr(generate_module, "make_images", spy)
    return made


@pytest.fixture(scope="module")
def split() -> pd.DataFrame:
    rows = [
        (f"train{i}", LABEL, "train", str(rank), str(i + 2)) for i, rank in enumerate([2, 0, 3, 1])
    ]
    rows += [("val0", LABEL, "val", "", "5"), ("test0", LABEL, "test", "", "6")]
    return pd.DataFrame(rows, columns=["image_id", "label", "split", "released_row", "skin_type"])


@pytest.fixture(scope="module")
def images_dir(tmp_path_factory, split):
    return write_resized_images(tmp_path_factory.mktemp("images"), split["image_id"])


@pytest.fixture(scope="module")
def sources(split, images_dir):
    return sources_from(pool_sources(split, LABEL, None), images_dir, 64)


def run(tiny_sd, items, folder, method="text2img", settings=SETTINGS, variant="pretrained", **kw):
    model = tiny_sd["text2img" if method == "text2img" else "inpaint"]
    return generate_shard(
        method,
        variant,
        "fitzpatrick17k",
        LABEL,
        items,
        folder / "shard-0.csv",
        settings,
        model=model,
        **kw,
    )


def pixels(manifest: pd.DataFrame) -> np.ndarray:
    return np.stack([read_rgb(f).astype(int) for f in manifest["file"]])


def test_shards_are_static_ranges_covering_every_item_once(sources):
    shards = [(0, 15), (15, 30), (30, 40)]
    items = [item for shard in shards for item in shard_items(sources, 10, shard)]
    assert [(i.source_image, i.index) for i in items] == [
        (s.image_id, k) for s in sources for k in range(10)
    ]


def test_a_release_shards_prompt_only_items_with_no_source_each_index_once():
    shards = [class_shard_items(None, 7, k, 3, expected_sources=1) for k in range(3)]
    assert [len(items) for items in shards] == [2, 2, 3]
    items = [item for shard in shards for item in shard]
    assert [i.index for i in items] == list(range(7))
    assert {(i.source_image, i.pool_rank, i.init_file) for i in items} == {("", None, "")}
    with pytest.raises(ValueError, match="shard 3 of 3"):
        class_shard_items(None, 7, 3, 3)


def test_a_fixed_shard_count_spreads_a_classs_items_evenly_and_covers_each_once(sources):
    shards = [class_shard_items(sources, 3, k, 5) for k in range(5)]
    assert [len(items) for items in shards] == [2, 2, 3, 2, 3]
    flat = [(i.source_image, i.index) for items in shards for i in items]
    assert flat == [(s.image_id, k) for s in sources for k in range(3)]
    assert class_shard_items(sources[:1], 1, 0, 2) == []  # more shards than items: one empty
    assert sum(len(class_shard_items(sources[:1], 1, k, 3)) for k in range(3)) == 1
    with pytest.raises(ValueError, match="shard 5 of 5"):
        class_shard_items(sources, 3, 5, 5)


def test_sources_are_training_images_in_pool_order_carrying_their_pool_rank(sources):
    assert [s.pool_rank for s in sources] == [0, 1, 2, 3]
    assert [s.image_id for s in sources] == ["train1", "train3", "train0", "train2"]
    assert all(s.file.endswith(f"/64/{s.image_id}.png") for s in sources)


def test_a_seed_depends_on_method_variant_class_source_and_index_only():
    seed = image_seed(0, "inpaint", "pretrained", LABEL, "train1", 3)
    assert seed == image_seed(0, "inpaint", "pretrained", LABEL, "train1", 3)
    others = [
        image_seed(0, "text2img", "pretrained", LABEL, "train1", 3),
        image_seed(0, "inpaint", "dreambooth", LABEL, "train1", 3),
        image_seed(0, "inpaint", "pretrained", "sarcoidosis", "train1", 3),
        image_seed(0, "inpaint", "pretrained", LABEL, "train2", 3),
        image_seed(0, "inpaint", "pretrained", LABEL, "train1", 4),
        image_seed(1, "inpaint", "pretrained", LABEL, "train1", 3),
    ]
    assert len({seed, *others}) == 7


@pytest.mark.parametrize("method", ["text2img", "inpaint"])
def test_an_image_is_the_same_from_batch_1_and_batch_3_and_any_shard(
    tiny_sd, sources, tmp_path, method
):
    items = shard_items(sources, 2, (0, 6))
    alone = run(tiny_sd, items, tmp_path / "b1", method, replace(SETTINGS, batch_size=1))
    batched = run(tiny_sd, items, tmp_path / "b3", method, replace(SETTINGS, batch_size=3))
    # another shard boundary: items 3..5 first, in a shard of their own
    split_shard = run(tiny_sd, items[3:], tmp_path / "other", method)
    assert list(alone["seed"]) == list(batched["seed"])
    assert list(split_shard["seed"]) == list(batched["seed"][3:])
    assert np.abs(pixels(alone) - pixels(batched)).max() <= 2  # batched kernels round otherwise
    assert np.abs(pixels(split_shard) - pixels(batched)[3:]).max() <= 2
    assert len({p.tobytes() for p in pixels(batched)}) == 6  # and images differ from each other


def test_a_complete_shard_rerun_makes_and_rewrites_nothing(tiny_sd, sources, tmp_path, monkeypatch):
    items = shard_items(sources, 2, (0, 4))
    first = run(tiny_sd, items, tmp_path)
    tar = (tmp_path / "shard-0.tar").read_bytes()

    def refuse(*args, **kwargs):
        raise AssertionError("a complete shard loaded a model")

    monkeypatch.setattr(generate_module, "load_pipeline", refuse)
    again = run(tiny_sd, items, tmp_path)
    assert (tmp_path / "shard-0.tar").read_bytes() == tar  # its images and records, reused
    pd.testing.assert_frame_equal(first, again)
    assert not (tmp_path / "shard-0.work").exists()


class Killed(Exception):
    """A shard job killed after making its images, before packing them."""


def killed_before_packing(*args, **kwargs):
    raise Killed


def test_a_killed_shard_makes_only_its_missing_and_truncated_images(
    tiny_sd, sources, tmp_path, monkeypatch
):
    items = shard_items(sources, 2, (0, 5))
    work = tmp_path / "shard-0.work"
    with monkeypatch.context() as killed:
        killed.setattr(generate_module, "pack_shard", killed_before_packing)
        with pytest.raises(Killed):
            run(tiny_sd, items, tmp_path)
    assert not (tmp_path / "shard-0.tar").exists()
    files = [work / image_name(item) for item in items]
    before = np.stack([read_rgb(f).astype(int) for f in files])
    os.remove(files[1])
    with open(files[3], "r+b") as stream:
        stream.truncate(40)
    made = images_made(monkeypatch)
    resumed = run(tiny_sd, items, tmp_path)
    assert made == [items[1], items[3]]
    assert np.abs(pixels(resumed) - before).max() <= 2
    assert not work.exists()  # packed: the images are the tar's


def test_a_shard_is_one_tar_in_the_authors_layout_whose_manifest_references_open(
    tiny_sd, sources, tmp_path
):
    items = shard_items(sources, 2, (0, 3))
    manifest = run(tiny_sd, items, tmp_path, "inpaint", tag="all")
    tar = tmp_path / "shard-0.tar"
    assert list(manifest["file"]) == [f"{tar}#{image_name(item)}" for item in items]
    assert all(image_exists(f) for f in manifest["file"])
    assert pixels(manifest).shape == (3, 64, 64, 3)
    with tarfile.open(tar) as shard:
        names = shard.getnames()
        record = json.loads(shard.extractfile(names[0]).read())
    assert names == [f"{Path(image_name(i)).stem}.{e}" for i in items for e in ("json", "png")]
    row = manifest.iloc[0]
    assert list(record)[:7] == [
        "name",
        "md5hash",
        "label",
        "method",
        "submethod",
        "generation_num",
        "tag",
    ]
    assert record["name"] == image_name(items[0]) and record["md5hash"] == row["source_image"]
    assert (record["label"], record["method"], record["submethod"]) == (
        "psoriasis",
        "pretrained_inpaint",
        "inpaint",
    )
    assert (record["generation_num"], record["tag"], record["source"]) == (
        "00",
        "all",
        "inpaint-pretrained",
    )
    ours = [c for c in MANIFEST_COLUMNS if c not in ("file", "method")]
    assert {c: record[c] for c in ours} == {
        c: (v.item() if hasattr(v, "item") else v) for c, v in row[ours].items()
    }
    # the same images give the same tar bytes; with loose_png they are kept beside it as well
    again = run(tiny_sd, items, tmp_path / "again", "inpaint", tag="all", loose_png=True)
    assert (tmp_path / "again" / "shard-0.tar").read_bytes() == tar.read_bytes()
    assert sorted(p.name for p in (tmp_path / "again" / "shard-0").glob("*.png")) == sorted(
        image_name(i) for i in items
    )
    assert list(again["file"]) == [
        f.replace(str(tmp_path), str(tmp_path / "again")) for f in manifest["file"]
    ]


def test_the_manifest_records_provenance_of_every_image(tiny_sd, sources, split, tmp_path):
    items = shard_items(sources, 2, (0, 8))
    manifest = run(tiny_sd, items, tmp_path, "inpaint")
    assert list(manifest.columns) == MANIFEST_COLUMNS
    on_disk = pd.read_csv(tmp_path / "shard-0.csv", dtype=str, keep_default_na=False)
    assert list(on_disk.columns) == MANIFEST_COLUMNS and len(on_disk) == 8
    train = set(split[split["split"] == "train"]["image_id"])
    assert set(manifest["source_image"]) == train  # never a validation or test image
    ranks = dict(zip(split["image_id"], split["released_row"], strict=True))
    assert all(str(r.pool_rank) == ranks[r.source_image] for r in manifest.itertuples())
    assert all(
        os.path.basename(r.init_image) == f"{r.source_image}.png" for r in manifest.itertuples()
    )
    assert list(manifest["index"]) == [0, 1] * 4
    assert manifest["seed"].tolist() == [
        image_seed(0, "inpaint", "pretrained", LABEL, i.source_image, i.index) for i in items
    ]
    assert set(manifest["prompt"]) == {"An image of psoriasis, a skin disease"}
    # 3 steps asked at strength 0.97: the pipeline runs int(3 * 0.97) = 2 of them
    assert set(manifest["steps"]) == {2} and set(manifest["guidance_scale"]) == {3.0}
    assert set(manifest["strength"]) == {0.97} and set(manifest["scheduler"]) == {"dpm++"}
    assert set(manifest["scheduler_class"]) == {"DPMSolverMultistepScheduler"}
    assert set(manifest["precision"]) == {"fp32"} and set(manifest["device"]) == {"cpu"}
    unet = tiny_sd["inpaint"] / "unet" / "diffusion_pytorch_model.safetensors"
    assert set(manifest["model_sha256"]) == {file_sha256(unet)}
    assert manifest["mask_fraction"].between(0.25, 0.75).all()
    assert all(image_exists(f) for f in manifest["file"])


@pytest.fixture
def unet_calls(monkeypatch) -> list[int]:
    """The UNet forward calls of each pipeline generate_shard loads, in load order."""
    counts: list[int] = []
    original = generate_module.load_pipeline

    def counting(*args, **kwargs):
        pipeline = original(*args, **kwargs)
        counts.append(0)
        slot = len(counts) - 1

        def count(module, inputs, output):
            counts[slot] += 1

        pipeline.unet.register_forward_hook(count)
        return pipeline

    monkeypatch.setattr(generate_module, "load_pipeline", counting)
    return counts


def test_the_manifest_records_the_unet_evaluations_each_method_ran_at_the_papers_settings(
    tiny_sd, sources, tmp_path, unet_calls
):
    # the paper's 50 steps and strengths, one image per method: one pipeline call each
    settings = replace(SETTINGS, steps=50, per_source=1)
    items = shard_items(sources, 1, (0, 1))
    text2img = run(tiny_sd, items, tmp_path / "text2img", "text2img", settings)
    inpaint = run(tiny_sd, items, tmp_path / "inpaint", "inpaint", settings)
    inoutpaint = run(
        tiny_sd,
        items_from_manifest(tmp_path / "inpaint" / "shard-0.csv"),
        tmp_path / "inoutpaint",
        "inoutpaint",
        settings,
    )
    recorded = [int(m["steps"].iloc[0]) for m in (text2img, inpaint, inoutpaint)]
    assert unet_calls == recorded == [50, 48, 47]  # 50, int(50 * 0.97), int(50 * 0.95)
    on_disk = pd.read_csv(tmp_path / "inoutpaint" / "shard-0.csv").iloc[0]
    ran = ["steps", "scheduler_class", "precision", "device"]
    assert on_disk[ran].tolist() == [47, "DPMSolverMultistepScheduler", "fp32", "cpu"]


def test_precision_auto_is_fp16_on_a_gpu_and_fp32_on_a_cpu():
    assert resolve_precision("auto", "cuda") == resolve_precision("auto", "cuda:1") == "fp16"
    assert resolve_precision("auto", "cpu") == "fp32"
    assert resolve_precision("fp16", "cuda") == "fp16"
    assert resolve_precision("bf16", "cpu") == resolve_precision("bf16", "cuda") == "bf16"
    with pytest.raises(ValueError, match="precision must be one of"):
        resolve_precision("half", "cpu")
    with pytest.raises(ValueError, match="precision must be one of"):
        GenerateSettings(precision="half")


def test_fp16_asked_on_a_cpu_is_logged_and_runs_in_fp32_which_the_manifest_records(
    tiny_sd, sources, tmp_path, caplog
):
    settings = replace(SETTINGS, precision="fp16", per_source=1)
    with caplog.at_level("WARNING", logger="dermsynth.sd.generate"):
        manifest = run(tiny_sd, shard_items(sources, 1, (0, 1)), tmp_path, settings=settings)
    assert "precision fp16 on cpu: running fp32 instead" in caplog.text
    assert list(manifest["precision"]) == ["fp32"]  # read from the loaded UNet's dtype


def test_a_resumed_shard_records_how_each_image_was_made_and_remakes_unrecorded_ones(
    tiny_sd, sources, tmp_path, monkeypatch
):
    items = shard_items(sources, 1, (0, 3))
    settings = replace(SETTINGS, per_source=1)
    work = tmp_path / "shard-0.work"
    with monkeypatch.context() as killed:
        killed.setattr(generate_module, "pack_shard", killed_before_packing)
        with pytest.raises(Killed):
            run(tiny_sd, items, tmp_path, settings=replace(settings, precision="bf16"))
        os.remove(work / image_name(items[1]))
        with pytest.raises(Killed):  # makes the missing one, in fp32
            run(tiny_sd, items, tmp_path, settings=settings)
    # an image with no record (a run killed between writing it and its record) is made again
    records = pd.read_csv(work / PROVENANCE_FILE, dtype=str)
    precision = records.set_index("file").loc[[image_name(i) for i in items], "precision"]
    assert list(precision) == ["bf16", "fp32", "bf16"]
    unrecorded = image_name(items[2])
    records[records["file"] != unrecorded].to_csv(work / PROVENANCE_FILE, index=False)
    made = images_made(monkeypatch)
    third = run(tiny_sd, items, tmp_path, settings=settings)
    assert made == [items[2]]
    assert list(third["precision"]) == ["bf16", "fp32", "fp32"]
    # once packed, the records are the tar's: a rerun makes nothing and keeps them
    fourth = run(tiny_sd, items, tmp_path, settings=replace(settings, precision="bf16"))
    assert made == [items[2]] and list(fourth["precision"]) == ["bf16", "fp32", "fp32"]


def test_inoutpaint_starts_from_the_inpainted_images_with_the_inverse_mask_and_a_frame(
    tiny_sd, sources, tmp_path, monkeypatch
):
    from diffusers import StableDiffusionInpaintPipeline

    items = shard_items(sources, 2, (0, 4))
    inpainted = run(tiny_sd, items, tmp_path / "inpaint", "inpaint")
    calls = []
    original = StableDiffusionInpaintPipeline.__call__

    def spy(self, **kwargs):
        calls.append(kwargs)
        return original(self, **kwargs)

    monkeypatch.setattr(StableDiffusionInpaintPipeline, "__call__", spy)
    # other mask settings cannot move the square: it is the one the inpainting had
    other = replace(SETTINGS, mask_fraction=(0.9, 1.0), seed=5)
    out = run(
        tiny_sd,
        items_from_manifest(tmp_path / "inpaint" / "shard-0.csv"),
        tmp_path / "inoutpaint",
        "inoutpaint",
        other,
    )
    assert list(out["init_image"]) == list(inpainted["file"])
    assert list(out["source_image"]) == list(inpainted["source_image"])
    assert list(out["pool_rank"]) == list(inpainted["pool_rank"])
    assert list(out["mask_fraction"]) == list(inpainted["mask_fraction"])  # the same square
    # a smaller in-then-outpaint set reads the inpainted images of index < its count only
    fewer = items_from_manifest(tmp_path / "inpaint" / "shard-0.csv", per_source=1)
    assert [(i.source_image, i.index) for i in fewer] == [
        (s, 0) for s in inpainted["source_image"].unique()
    ]
    assert set(out["strength"]) == {0.95}
    call = calls[0]
    assert call["strength"] == 0.95
    for row, mask, image in zip(out.itertuples(), call["mask_image"], call["image"], strict=False):
        square = masks.inpaint_mask(64, 16, row.mask_fraction)
        assert np.array_equal(mask[0].numpy(), masks.outpaint_mask(square, 2))
        started = np.asarray(image.permute(1, 2, 0).numpy() * 255).round().astype(int)
        assert np.array_equal(started, read_rgb(row.init_image))


def test_the_skin_type_option_appends_the_sources_fitzpatrick_type(tiny_sd, sources, tmp_path):
    settings = replace(SETTINGS, skin_type_in_prompt=True, per_source=1)
    manifest = run(tiny_sd, shard_items(sources, 1, (0, 2)), tmp_path, settings=settings)
    assert list(manifest["prompt"]) == [
        "An image of psoriasis, a skin disease, Fitzpatrick skin type 3",
        "An image of psoriasis, a skin disease, Fitzpatrick skin type 5",
    ]
    assert prompt_for("benign", "12", with_skin_type=True).endswith("skin type 1-2")
    assert prompt_for(LABEL, "", with_skin_type=True).endswith("skin type unknown")


def test_variants_and_methods_are_checked(tiny_sd, sources, tmp_path):
    items = shard_items(sources, 1, (0, 1))
    with pytest.raises(ValueError, match="needs its UNet or LoRA"):
        run(tiny_sd, items, tmp_path, variant="dreambooth")
    with pytest.raises(ValueError, match="takes no DreamBooth"):
        run(tiny_sd, items, tmp_path, unet=tmp_path)
    with pytest.raises(ValueError, match="method"):
        run(tiny_sd, items, tmp_path, method="outpaint")
    with pytest.raises(DataError, match="needs a source image"):
        run(tiny_sd, [Item("", None, 0)], tmp_path, method="inpaint")
    made = run(tiny_sd, items, tmp_path / "t2i")
    with pytest.raises(DataError, match="starts from an inpaint shard"):
        items_from_manifest(tmp_path / "t2i" / "shard-0.csv")
    assert len(made) == 1


def test_merged_manifests_and_the_sample_grid(tiny_sd, sources, tmp_path):
    first = run(tiny_sd, shard_items(sources, 2, (0, 3)), tmp_path / "shard-0")
    second = run(tiny_sd, shard_items(sources, 2, (3, 5)), tmp_path / "shard-1")
    # a release shard: prompt-only images, no source and no start image
    release = run(tiny_sd, class_shard_items(None, 2, 0, 1), tmp_path / "release")
    assert (release[["source_image", "init_image", "pool_rank"]] == "").all(axis=None)
    manifests = [tmp_path / f / "shard-0.csv" for f in ("release", "shard-0", "shard-1")]
    merged = merge_manifests(manifests)
    assert list(merged["file"]) == [*release["file"], *first["file"], *second["file"]]
    sample_grid(merged, tmp_path / "grid.png", "text2img-pretrained")
    assert read_rgb(tmp_path / "grid.png").shape[0] > 100


def test_a_source_count_other_than_planned_is_logged_and_still_covered(sources, caplog):
    with caplog.at_level("WARNING", logger="dermsynth.sd.generate"):
        items = [i for k in range(2) for i in class_shard_items(sources, 1, k, 2, 6)]
    assert len(items) == len(sources)
    assert "4 source images where the config plans 6" in caplog.text


def authors_prompt(entry, instance_prompt="An image of {}, a skin disease") -> str:
    """The authors' generation/dataset.py, for one row `entry` of their table (`data_df.iloc`)."""
    instance_class_name = (
        entry.disease.replace("-", " ") if hasattr(entry, "disease") else entry.label
    )  # noqa: E501
    return instance_prompt.format(instance_class_name)


def test_a_prompt_names_the_disease_of_a_ddi_row_and_the_label_of_another_as_the_authors():
    ddi = pd.DataFrame(
        {
            "DDI_file": ["000001.png", "000002.png"],
            "malignant": [True, False],
            "disease": ["melanoma-in-situ", "verruca-vulgaris"],
        }
    )
    f17k = pd.DataFrame({"md5hash": ["a1"], "label": ["lichen planus"]})
    for i in range(len(ddi)):
        entry = ddi.iloc[i]
        label = "malignant" if entry.malignant else "benign"
        assert prompt_for(label, disease=entry.disease, template=PROMPT) == authors_prompt(entry)
    entry = f17k.iloc[0]
    assert prompt_for(entry.label, template=PROMPT) == authors_prompt(entry)
    assert prompt_for("malignant", disease="melanoma-in-situ") == (
        "An image of melanoma in situ, a skin disease"
    )


def test_ddi_images_are_prompted_by_their_sources_disease_in_both_passes(
    tiny_sd, split, images_dir, tmp_path
):
    rows = pool_sources(split, LABEL, None).assign(
        disease=["melanoma-in-situ", "verruca-vulgaris", "melanoma-in-situ", "dermatofibroma"]
    )
    ddi_sources = sources_from(rows, images_dir, 64)
    assert [s.disease for s in ddi_sources] == list(rows["disease"])
    settings = replace(SETTINGS, per_source=1)
    inpainted = run(
        tiny_sd, shard_items(ddi_sources, 1, (0, 4)), tmp_path / "inpaint", "inpaint", settings
    )
    named = rows["disease"].str.replace("-", " ")
    assert list(inpainted["disease"]) == list(rows["disease"])
    assert list(inpainted["prompt"]) == list("An image of " + named + ", a skin disease")
    items = items_from_manifest(tmp_path / "inpaint" / "shard-0.csv")
    out = run(tiny_sd, items, tmp_path / "inoutpaint", "inoutpaint", settings)
    assert list(out["prompt"]) == list(inpainted["prompt"])
