# Shared names and input functions. Rules only wire files; every branch lives here.
import os
import sys
from pathlib import Path

# The scripts import dermsynth from this checkout, also inside conda envs and cluster jobs.
# We set PYTHONPATH for the script processes; the user need not set anything.
SRC = str(Path(workflow.basedir) / "src")
os.environ.update(
    PYTHONPATH=os.pathsep.join(p for p in (SRC, os.environ.get("PYTHONPATH", "")) if p)
)

sys.path.insert(0, SRC)  # and so do the input functions below
from dermsynth.glide.defaults import (
    model_and_diffusion_defaults,
    model_and_diffusion_defaults_upsampler,
)
from dermsynth.shards import shard_ranges

DATASETS = ["ham10000", "fitzpatrick17k", "ddi"]
DEMO_ROOT = "resources/demo"
RAW_LAYOUT = {  # files and folders of each dataset as distributed, under its root
    "ham10000": {
        "metadata": "HAM10000_metadata.csv",
        "images": ["HAM10000_images_part_1", "HAM10000_images_part_2"],
    },
    "fitzpatrick17k": {"metadata": "fitzpatrick17k.csv", "images": ["images"]},
    "ddi": {"metadata": "ddi_metadata.csv", "images": ["images"]},
}
PROTOCOLS = {dataset: list(config["splits"][dataset]) for dataset in DATASETS}


wildcard_constraints:
    dataset="|".join(DATASETS),
    protocol="|".join(sorted({p for ps in PROTOCOLS.values() for p in ps})),


def raw_inputs(dataset):
    """The distributed metadata CSV and image folders of a dataset, for a rule's input."""
    root = Path(config["datasets"][dataset]["root"])
    layout = RAW_LAYOUT[dataset]
    return {
        "metadata": str(root / layout["metadata"]),
        "images": [str(root / folder) for folder in layout["images"]],
    }


def demo_outputs(dataset):
    """The demo files of a dataset: its distributed layout, under resources/demo/."""
    layout = RAW_LAYOUT[dataset]
    root = Path(DEMO_ROOT) / dataset
    return {
        "metadata": str(root / layout["metadata"]),
        **{folder: directory(str(root / folder)) for folder in layout["images"]},
    }


def root_of_input(wildcards, input):
    """A dataset's root folder: where its distributed metadata CSV lies."""
    return os.path.dirname(input.metadata)


def root_of_output(wildcards, output):
    return os.path.dirname(output.metadata)


def demo_settings(dataset, config):
    """Only the configuration a demo dataset depends on (so that changing, say, a split's
    settings does not make Snakemake redraw the demo data)."""
    settings = {"seed": config["demo"]["seed"], **config["demo"][dataset]}
    f17k_classes = list(config["datasets"]["fitzpatrick17k"]["classes"])
    if dataset == "ham10000":
        settings["classes"] = list(config["datasets"]["ham10000"]["classes"])
    elif dataset == "fitzpatrick17k":
        settings["classes"] = f17k_classes
    else:
        settings["f17k_classes"] = f17k_classes
        external = config["splits"]["ddi"].get("external", {})
        settings["class_map"] = external.get("class_map", {})
    return settings


def pairs_table(dataset):
    return f"results/data/{dataset}/pairs.csv"


def split_tables(dataset=None):
    datasets = [dataset] if dataset else DATASETS
    return [
        f"results/data/{d}/splits/{protocol}.csv" for d in datasets for protocol in PROTOCOLS[d]
    ]


def split_settings(wildcards):
    return config["splits"][wildcards.dataset][wildcards.protocol]


def data_products():
    """Every data product: pairs, resized images and splits of every dataset."""
    products = []
    for dataset in DATASETS:
        products += [pairs_table(dataset), f"results/data/{dataset}/images"]
    products += ["results/data/fitzpatrick17k/class_counts.csv"]
    return products + split_tables()


def job_threads():
    return config["workers"]


# --- GLIDE track ------------------------------------------------------------------------------

GLIDE_KINDS = ["base", "upsample"]
HAM_CLASSES = list(config["datasets"]["ham10000"]["classes"])


wildcard_constraints:
    glide_kind="|".join(GLIDE_KINDS),
    cls="|".join(HAM_CLASSES),
    k=r"\d+",


def glide_options(kind):
    """The full option dict of a GLIDE model: the reference defaults, then the config's."""
    defaults = (
        model_and_diffusion_defaults()
        if kind == "base"
        else model_and_diffusion_defaults_upsampler()
    )
    return {**defaults, **config["glide"][kind]["options"]}


def glide_finetune_inputs(wildcards):
    """Images, pairs, the split the model trains on, and OpenAI's weights when configured."""
    inputs = {
        "pairs": pairs_table("ham10000"),
        "images": "results/data/ham10000/images",
    }
    protocol = config["glide"]["train_on"]["protocol"]
    if protocol != "all":
        inputs["split"] = f"results/data/ham10000/splits/{protocol}.csv"
    init = config["glide"][wildcards.glide_kind]["init"]
    if init:
        inputs["init"] = init
    return inputs


def glide_shards(cls):
    count = config["glide"]["sample"]["images_per_class"].get(cls, 0)
    return shard_ranges(count, config["glide"]["sample"]["images_per_shard"])


def glide_shard_indices(wildcards):
    start, stop = glide_shards(wildcards.cls)[int(wildcards.k)]
    return list(range(start, stop))


def glide_shard_minutes(wildcards):
    """Cluster runtime of a shard: its images x measured seconds per image, plus loading."""
    sample = config["glide"]["sample"]
    seconds = sample["images_per_shard"] * sample["seconds_per_image"]
    return int(10 + 1.5 * seconds / 60)


def glide_shard_manifests():
    return [
        f"results/synthetic/glide/{cls}/shard-{k}/manifest.csv"
        for cls in HAM_CLASSES
        for k in range(len(glide_shards(cls)))
    ]


def glide_prompt(wildcards):
    ham = config["datasets"]["ham10000"]
    return ham["caption"].format(label=wildcards.cls, name=ham["classes"][wildcards.cls])
