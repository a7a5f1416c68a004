# Shared names and input functions. Rules only wire files; every branch lives here.
import os
import re
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
from dermsynth.data.layout import RAW_LAYOUT  # each dataset's files as distributed
from dermsynth.design.draws import released_paths
from dermsynth.shards import shard_ranges

DATASETS = ["ham10000", "fitzpatrick17k", "ddi"]
DEMO_ROOT = "resources/demo"
PROTOCOLS = {dataset: list(config["splits"][dataset]) for dataset in DATASETS}


wildcard_constraints:
    dataset="|".join(DATASETS),
    protocol="|".join(sorted({p for ps in PROTOCOLS.values() for p in ps})),


def raw_inputs(dataset):
    """The distributed metadata CSV and image folders of a dataset, for a rule's input."""
    root = Path(config["datasets"][dataset]["root"])
    layout = RAW_LAYOUT[dataset]
    return {
        "metadata": str(root / layout.metadata),
        "images": [str(root / folder) for folder in layout.images],
    }


def demo_outputs(dataset):
    """The demo files of a dataset: its distributed layout, under resources/demo/."""
    layout = RAW_LAYOUT[dataset]
    root = Path(DEMO_ROOT) / dataset
    outputs = {
        "metadata": str(root / layout.metadata),
        **{folder: directory(str(root / folder)) for folder in layout.images},
    }
    if dataset == "fitzpatrick17k" and config["demo"]["fitzpatrick17k"].get("released"):
        outputs.update(released_paths(root / "fitz_metadata"))  # paper 2's released split
    return outputs


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


def split_inputs(wildcards):
    """pairs.csv, and for Fitzpatrick17k the authors' released split files."""
    inputs = {"pairs": pairs_table(wildcards.dataset)}
    if wildcards.dataset == "fitzpatrick17k":
        inputs.update(released_paths(config["splits"]["fitzpatrick17k"]["paper"]["released"]))
    return inputs


def split_settings(wildcards):
    """A split's settings (Fitzpatrick17k's are its released files, which are inputs)."""
    if wildcards.dataset == "fitzpatrick17k":
        return {}
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


# --- GLIDE track (paper 1): one GLIDE per split protocol ---------------------------------------

from dermsynth.design.paper1 import glide_sets, parse_glide_set

GLIDE_KINDS = ["base", "upsample"]
HAM_CLASSES = list(config["datasets"]["ham10000"]["classes"])
GLIDE_SETS = glide_sets(config)  # protocol -> GlideSet


wildcard_constraints:
    glide_kind="|".join(GLIDE_KINDS),
    glide_protocol="|".join(GLIDE_SETS) or "none",
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


def glide_folder(protocol):
    return f"results/models/glide/{protocol}"


def glide_models(wildcards):
    folder = glide_folder(wildcards.glide_protocol)
    return {kind: f"{folder}/{kind}.pt" for kind in GLIDE_KINDS}


def glide_finetune_inputs(wildcards):
    """Images, pairs, the protocol's training images, and OpenAI's weights when configured."""
    finetune = config["glide"]["finetune"]
    sizes = config["preprocess"]["sizes"]["ham10000"]
    if finetune.get("crop") == "random" and finetune.get("source_size") not in sizes:
        raise ValueError(
            f"config glide.finetune.source_size {finetune.get('source_size')} (the copies its "
            f"random crops are cut from) is not among preprocess.sizes.ham10000 {sizes}"
        )
    inputs = {
        "pairs": pairs_table("ham10000"),
        "images": "results/data/ham10000/images",
        "train_images": f"{glide_folder(wildcards.glide_protocol)}/train_images.csv",
    }
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


def glide_synthetic_folder(protocol):
    return f"results/synthetic/glide/{protocol}"


def glide_shard_manifests(wildcards, suffix="csv"):
    """Every shard of a protocol's GLIDE set: its manifests (`suffix` tar: its WebDataset tars)."""
    folder = glide_synthetic_folder(wildcards.glide_protocol)
    return [
        f"{folder}/{cls}/shard-{k}.{suffix}"
        for cls in HAM_CLASSES
        for k in range(len(glide_shards(cls)))
    ]


def glide_shard_tars(wildcards):
    return glide_shard_manifests(wildcards, "tar")


def shard_work(wildcards, output):
    """The folder a shard's images lie in until packed into its tar, `shard-{k}.work/` beside
    it (not an output: kept when the job dies, so that a rerun makes only the missing images)."""
    return str(Path(output.tar).with_suffix(".work"))


def glide_prompt(wildcards):
    ham = config["datasets"]["ham10000"]
    return ham["caption"].format(label=wildcards.cls, name=ham["classes"][wildcards.cls])


def glide_products():
    return [
        product
        for protocol in GLIDE_SETS
        for product in (
            f"{glide_synthetic_folder(protocol)}/manifest.csv",
            f"results/figures/glide_{protocol}_samples.png",
            f"results/figures/glide_{protocol}_finetune_loss.png",
        )
    ]


# --- Metrics, audit and reader study (paper 1, sections 2.2-2.3) ----------------------------------

from dermsynth.design.pools import config_pools, dataset_classes, dreambooth_splits

# a Stable Diffusion set as metrics and the reader study name it
SD_SET_NAME = re.compile(
    r"(text2img|inpaint|inoutpaint)-(pretrained|dreambooth)-(fitzpatrick17k|ddi)"
)


def synthetic_source(method):
    """A synthetic set: its manifest, the real images its generator was trained on (a split
    protocol's splits; protocol `all`: every image of the dataset), and those in words."""
    glide_protocol = parse_glide_set(method)
    if glide_protocol is not None:
        if glide_protocol not in GLIDE_SETS:
            raise ValueError(
                f"{method!r} is scored, but glide.train_on trains no GLIDE for protocol "
                f"{glide_protocol!r}: its protocols are {list(GLIDE_SETS)}"
            )
        glide_set = GLIDE_SETS[glide_protocol]
        return {
            "manifest": f"{glide_synthetic_folder(glide_protocol)}/manifest.csv",
            "dataset": "ham10000",
            "protocol": "all" if glide_set.splits is None else glide_protocol,
            "splits": list(glide_set.splits or []),
            "trained_on": glide_set.trained_on,
        }
    match = SD_SET_NAME.fullmatch(method)
    if match:
        sd_method, variant, dataset = match.groups()
        made = {(p.method, p.variant, p.dataset) for p in config_pools(config)}
        if (sd_method, variant, dataset) not in made:
            raise ValueError(
                f"{method!r} is scored, but no classifier run makes it: add "
                f"{sd_method}-{variant} to classify.{'grid' if dataset != 'ddi' else 'ddi'}.sources"
            )
        # every training image (sources and DreamBooth come from these), and the other splits
        # a dataset's DreamBooth model learned from (DDI's authors' model: validation too)
        splits = (
            dreambooth_splits(config["sd"]["dreambooth"], dataset)
            if variant == "dreambooth"
            else ["train"]
        )
        return {
            "manifest": f"results/synthetic/sd/{sd_method}-{variant}/{dataset}/manifest.csv",
            "dataset": dataset,
            "protocol": "paper",
            "splits": splits,
            "trained_on": f"paper split: {'+'.join(splits)}",
        }
    raise ValueError(
        f"unknown synthetic set {method!r}: glide-<protocol>, or <method>-<variant>-<dataset> of the "
        "Stable Diffusion track (e.g. inpaint-dreambooth-fitzpatrick17k)"
    )


def metrics_size(dataset):
    """px a dataset's real and synthetic images are compared at: metrics.image_size for
    HAM10000 (GLIDE), the Stable Diffusion track's own size (the copies it read) for the rest."""
    if dataset == "ham10000":
        return config["metrics"]["image_size"]
    settings = config["sd"]["generate"]["settings"]
    return settings.get("source_size") or settings.get("resolution", 512)


def features_size(wildcards):
    if "method" in wildcards.keys():
        return metrics_size(synthetic_source(wildcards.method)["dataset"])
    return metrics_size(REAL_SETS[wildcards.real_set]["dataset"])


METRIC_METHODS = list(config["metrics"]["methods"])
READER_METHODS = list(config["reader_study"]["methods"])
SYNTHETIC_METHODS = list(dict.fromkeys(METRIC_METHODS + READER_METHODS))


def real_set_name(method):
    """The name of a synthetic set's real counterpart, e.g. ham10000_lesion_grouped_train."""
    source = synthetic_source(method)
    if source["protocol"] == "all":
        return f"{source['dataset']}_all"
    return f"{source['dataset']}_{source['protocol']}_{'+'.join(source['splits'])}"


REAL_SETS = {real_set_name(method): synthetic_source(method) for method in SYNTHETIC_METHODS}


wildcard_constraints:
    method="|".join(SYNTHETIC_METHODS) or "none",
    real_set="|".join(map(re.escape, REAL_SETS)) or "none",


def real_set_inputs(wildcards):
    source = REAL_SETS[wildcards.real_set]
    dataset = source["dataset"]
    size = metrics_size(dataset)
    if size not in config["preprocess"]["sizes"][dataset]:
        raise ValueError(
            f"config: {dataset} images are compared at {size} px (metrics.image_size for "
            f"HAM10000, sd.generate.settings.source_size for the rest), not among preprocess.sizes.{dataset} "
            f"{config['preprocess']['sizes'][dataset]}: add it there"
        )
    table = (
        pairs_table(dataset)
        if source["protocol"] == "all"
        else f"results/data/{dataset}/splits/{source['protocol']}.csv"
    )
    return {"split": table, "images": f"results/data/{dataset}/images"}


def real_set_splits(wildcards):
    source = REAL_SETS[wildcards.real_set]
    return None if source["protocol"] == "all" else source["splits"]


def inception_weights():
    """The Inception weights file, or the demo's seeded random network when none is given."""
    inception = config["metrics"]["inception"]
    if inception["weights"]:
        return {"weights": inception["weights"]}
    if inception["download"]:
        return {}
    return {"weights": "results/models/inception/random_init.pth"}


def inception_note():
    inception = config["metrics"]["inception"]
    if inception["weights"] or inception["download"]:
        return None
    return (
        "random-init InceptionV3 (no weights file given): demo numbers, "
        "FID/IS/KID/PRDC not comparable with the literature"
    )


def features_inputs(wildcards):
    if "method" in wildcards.keys():
        images = synthetic_source(wildcards.method)["manifest"]
    else:
        images = f"results/metrics/real/{wildcards.real_set}.csv"
    return {"images": images, **inception_weights()}


def metrics_inputs(wildcards):
    return {
        "synthetic": f"results/features/synthetic/{wildcards.method}.npz",
        "real": f"results/features/real/{real_set_name(wildcards.method)}.npz",
    }


def quality_reference(wildcards):
    """The published Table 1 beside ours: paper 1's for GLIDE; none for the other sets."""
    if parse_glide_set(wildcards.method) is not None:
        return {"reference": "resources/reference/shavlokhova2023_table1.csv"}
    return {}


def metrics_products():
    return [
        *expand("results/tables/table1_{method}_quality.csv", method=METRIC_METHODS),
        *expand("results/figures/table1_{method}_quality.png", method=METRIC_METHODS),
        *expand("results/audit/{method}_memorization.csv", method=METRIC_METHODS),
        *expand("results/audit/{method}_memorization_summary.csv", method=METRIC_METHODS),
        *expand("results/figures/{method}_memorization.png", method=METRIC_METHODS),
    ]


def metric_classes(method):
    """Class code -> name of the dataset a synthetic set imitates (a name -> itself where the
    dataset's labels are names: Fitzpatrick17k, DDI's benign and malignant)."""
    dataset = synthetic_source(method)["dataset"]
    if dataset == "ham10000":
        return dict(config["datasets"]["ham10000"]["classes"])
    return {label: label for label in dataset_classes(config)[dataset]}


def quality_settings():
    keys = (
        "definitions",
        "pairing",
        "pixel_scale",
        "bootstrap",
        "level",
        "seed",
        "prdc_k",
        "is_splits",
    )
    return {key: config["metrics"][key] for key in keys}


def reader_answers(wildcards):
    """A reader's filled sheet from config, else the demo's simulated reader."""
    given = config["reader_study"]["answers"].get(wildcards.method)
    return given or f"results/reader_study/{wildcards.method}/simulated_answers.xlsx"


def reader_description(wildcards):
    if config["reader_study"]["answers"].get(wildcards.method):
        return f"reader's sheet {config['reader_study']['answers'][wildcards.method]}"
    simulated = config["reader_study"]["simulated_reader"]
    return (
        f"SIMULATED reader (entity accuracy {simulated['entity_accuracy']}, "
        f"AI-vs-real accuracy {simulated['source_accuracy']}, seed {simulated['seed']}): "
        "no real reader's answers were given"
    )


# --- Classifiers (paper 1, section 2.4) ---------------------------------------------------------

PAPER_CNN = config["classify"]["paper_cnn"]


wildcard_constraints:
    variant="original|synthetic|combined",


def paper_cnn_inputs(wildcards):
    inputs = {
        "split": f"results/data/ham10000/splits/{wildcards.protocol}.csv",
        "images": "results/data/ham10000/images",
    }
    if PAPER_CNN["image_size"] not in config["preprocess"]["sizes"]["ham10000"]:
        raise ValueError(
            f"config classify.paper_cnn.image_size {PAPER_CNN['image_size']} is not among "
            f"preprocess.sizes.ham10000 {config['preprocess']['sizes']['ham10000']}"
        )
    if wildcards.variant != "original":  # the protocol's own GLIDE, and what it learned from
        inputs["synthetic"] = f"{glide_synthetic_folder(wildcards.protocol)}/manifest.csv"
        inputs["generator_images"] = f"{glide_folder(wildcards.protocol)}/train_images.csv"
    return inputs


def paper_cnn_runs():
    return expand(
        "results/classify/paper_cnn/{protocol}/{variant}/metrics.json",
        protocol=PAPER_CNN["protocols"],
        variant=PAPER_CNN["variants"],
    )


def paper_cnn_outputs():
    """Table 3, and Table 2's AI columns when the run that reproduces them is configured."""
    outputs = {
        "table": "results/tables/table3_cnn.csv",
        "wide": "results/tables/table3_cnn_wide.csv",
        "figure": "results/figures/table3_cnn_f1.png",
    }
    if "combined" in PAPER_CNN["variants"] and "paper_random" in PAPER_CNN["protocols"]:
        outputs["table2"] = "results/tables/table2_ai.csv"
    return outputs


# --- Paper 2: Stable Diffusion sets and the classifier grid ------------------------------------

from dermsynth.design.pools import (
    ONE_MODEL,
    class_slug,
    dreambooth_models,
    dreambooth_pool,
    dreambooth_settings,
    dreambooth_slug,
    dreambooth_slugs,
    dreambooth_splits,
    find_pool,
    grid_run_pool,
    shard_count,
    sources_per_class,
    split_source,
)
from dermsynth.design.runs import (
    PROTOCOLS as GRID_PROTOCOLS,
    largest_real_per_class,
    parse_ddi_run_id,
    parse_run_id,
    run_settings,
    section_ddi_runs,
    section_grid_runs,
)

GRID = config["classify"]["grid"]
DDI_EXP = config["classify"]["ddi"]
SD = config["sd"]
SD_CLASSES = dataset_classes(config)
SD_SLUGS = {ds: {class_slug(c): c for c in classes} for ds, classes in SD_CLASSES.items()}
# the class part of the paths of each dataset's DreamBooth models (`all`: one for every class)
SD_MODEL_SLUGS = {ds: dreambooth_slugs(SD["dreambooth"], ds, cs) for ds, cs in SD_CLASSES.items()}
SD_POOLS = config_pools(config)
GRID_RUNS = section_grid_runs(GRID)
DDI_RUNS = section_ddi_runs(DDI_EXP)
GRID_LARGEST = largest_real_per_class(GRID_RUNS)


wildcard_constraints:
    sd_method="text2img|inpaint|inoutpaint",
    sd_variant="pretrained|dreambooth",
    sd_base="text2img|inpaint",
    sd_cls="|".join(sorted({s for ds in SD_SLUGS for s in [*SD_SLUGS[ds], *SD_MODEL_SLUGS[ds]]})),
    pool=r"all|release|n\d+",
    grid_protocol="|".join(GRID_PROTOCOLS),
    grid_run=r"n\d+_s[A-Za-z0-9-]+_x\d+(from\d+)?_t[01]_seed\d+",
    ddi_run=r"s[A-Za-z0-9-]+_x\d+_t[01]_seed\d+",


def sd_pool(wildcards):
    """The Pool a wildcard set (dataset, method, variant, pool) names."""
    return find_pool(SD_POOLS, wildcards.dataset, wildcards.sd_method, wildcards.sd_variant,
                     wildcards.pool)  # fmt: skip


def sd_class_sources(pool, slug):
    """Real images one class of a pool is made from (n, or the expected training count)."""
    counts = sources_per_class(pool, SD_CLASSES[pool.dataset], SD["sources_per_class"])
    return counts[SD_SLUGS[pool.dataset][slug]]


def sd_shards(pool, slug):
    sources = sd_class_sources(pool, slug)
    return shard_count(sources, pool.per_source, SD["generate"]["images_per_shard"])


def sd_expected_sources(wildcards):
    return sd_class_sources(sd_pool(wildcards), wildcards.sd_cls)


def sd_shard_manifests(pool, slugs=None, suffix="csv"):
    """Every shard manifest of a pool (all its classes, or those of `slugs`; `suffix` tar: the
    shards' WebDataset tars)."""
    root = f"results/synthetic/sd/{pool.source}/{pool.dataset}"
    return [
        f"{root}/{slug}/{pool.name}/shard-{k}.{suffix}"
        for slug in (slugs or SD_SLUGS[pool.dataset])
        for k in range(sd_shards(pool, slug))
    ]


def sd_shard_tars(pool):
    return sd_shard_manifests(pool, suffix="tar")


def sd_draw(wildcards):
    """How a pool's source images are drawn: its n (None: every training image) and, for
    strict's n, the draw's validation count and split seed."""
    n = None if wildcards.pool in ("all", "release") else int(wildcards.pool[1:])
    return {"n": n, "val_per_class": GRID["val_per_class"], "split_seed": GRID["split_seed"]}


def sd_dreambooth_label(wildcards):
    """The class a DreamBooth model learns (None: every class, a dataset's one model)."""
    if wildcards.sd_cls == ONE_MODEL:
        return None
    return SD_SLUGS[wildcards.dataset][wildcards.sd_cls]


def sd_dreambooth_draw(wildcards):
    """The images a DreamBooth model learns from: its pool's draw, and for an `all` model the
    splits of its dataset's (DDI's authors' model: their training file, validation images too)."""
    draw = sd_draw(wildcards)
    splits = (
        dreambooth_splits(SD["dreambooth"], wildcards.dataset) if draw["n"] is None else ["train"]
    )
    return {**draw, "splits": splits}


def sd_dreambooth_settings(wildcards):
    return dreambooth_settings(SD["dreambooth"], wildcards.dataset)


def sd_model(base):
    return SD["models"][base]


def sd_tiny_model_paths():
    """The configured model folders the demo builds (those under resources/demo/sd/)."""
    return {
        base: path for base, path in SD["models"].items() if path.startswith("resources/demo/sd/")
    }


def sd_split(dataset):
    return f"results/data/{dataset}/splits/paper.csv"


def sd_dreambooth_folder(base, dataset, slug, pool_name):
    return f"results/models/sd/dreambooth/{base}/{dataset}/{slug}/{pool_name}"


def sd_dreambooth_folders():
    folders = []
    for base, dataset, n in dreambooth_models(SD_POOLS):
        name = "all" if n is None else f"n{n}"
        folders += [sd_dreambooth_folder(base, dataset, s, name) for s in SD_MODEL_SLUGS[dataset]]
    return folders


def sd_generate_inputs(wildcards):
    pool = sd_pool(wildcards)
    inputs = {"model": sd_model(pool.base)}
    if pool.method == "inoutpaint":  # the inpaint shard k: its manifest, and the tar it names
        shard = (
            f"results/synthetic/sd/inpaint-{pool.variant}/{pool.dataset}/{wildcards.sd_cls}/"
            f"{pool.name}/shard-{wildcards.k}"
        )
        inputs.update(inpaint=f"{shard}.csv", inpaint_tar=f"{shard}.tar")
    elif not pool.release:  # a release is made from prompts alone
        inputs["split"] = sd_split(pool.dataset)
        inputs["images"] = f"results/data/{pool.dataset}/images"
    if pool.variant == "dreambooth":
        inputs["dreambooth"] = sd_dreambooth_folder(
            pool.base,
            pool.dataset,
            dreambooth_slug(SD["dreambooth"], pool.dataset, wildcards.sd_cls),
            dreambooth_pool(pool, SD_POOLS).name,
        )
    return inputs


def sd_set_manifests(wildcards, suffix="csv"):
    """Every shard of one set (method-variant on a dataset), all pools and classes."""
    return [
        manifest
        for pool in SD_POOLS
        if (pool.dataset, pool.method, pool.variant)
        == (wildcards.dataset, wildcards.sd_method, wildcards.sd_variant)
        for manifest in sd_shard_manifests(pool, suffix=suffix)
    ]


def sd_set_tars(wildcards):
    return sd_set_manifests(wildcards, suffix="tar")


def sd_sets():
    return sorted({(p.method, p.variant, p.dataset) for p in SD_POOLS})


def sd_products():
    return [
        *(f"results/synthetic/sd/{m}-{v}/{d}/manifest.csv" for m, v, d in sd_sets()),
        *(f"results/figures/sd_{m}-{v}_{d}_samples.png" for m, v, d in sd_sets()),
        *sd_dreambooth_folders(),
    ]


def grid_run_inputs(wildcards):
    size = GRID["image_size"]
    if size not in config["preprocess"]["sizes"]["fitzpatrick17k"]:
        raise ValueError(
            f"config classify.grid.image_size {size} is not among preprocess.sizes."
            f"fitzpatrick17k {config['preprocess']['sizes']['fitzpatrick17k']}"
        )
    run = parse_run_id(wildcards.grid_run, wildcards.grid_protocol)
    inputs = {
        "split": "results/data/fitzpatrick17k/splits/paper.csv",
        "images": "results/data/fitzpatrick17k/images",
    }
    if run.synthetic_per_real and reads_released(run.source):
        inputs.update(synthetic=RELEASED_INDEX)  # the authors' images, by their index
    elif run.synthetic_per_real:
        pool = grid_run_pool(run, SD_POOLS, GRID_LARGEST, SD["dreambooth"]["mode"])
        inputs.update(synthetic=sd_shard_manifests(pool), synthetic_shards=sd_shard_tars(pool))
    if GRID["external"]:
        inputs["ddi_split"] = "results/data/ddi/splits/external.csv"
        inputs["ddi_images"] = "results/data/ddi/images"
    if GRID["settings"].get("weights"):
        inputs["weights"] = GRID["settings"]["weights"]  # ImageNet weights: never downloaded
    settings = grid_run_settings(wildcards)
    if reads_image_cache(settings):
        caches = [real_image_cache("fitzpatrick17k", size, settings)]
        if run.synthetic_per_real and reads_released(run.source):
            caches.append(released_image_cache(run.source, settings))
        elif run.synthetic_per_real:
            caches.append(synthetic_image_cache(pool, settings))
        if GRID["external"]:
            caches.append(real_image_cache("ddi", size, settings))
        inputs.update(image_cache_inputs(caches))
    return inputs


def grid_run_settings(wildcards):
    return run_settings(GRID, parse_run_id(wildcards.grid_run, wildcards.grid_protocol))


def grid_metrics():
    return [f"results/classify/fig3/{run.path_id}/metrics.json" for run in GRID_RUNS]


def ddi_run_inputs(wildcards):
    run = parse_ddi_run_id(wildcards.ddi_run)
    inputs = {"split": sd_split("ddi"), "images": "results/data/ddi/images"}
    if run.synthetic_per_real and reads_released(run.source):
        inputs.update(synthetic=RELEASED_INDEX)  # the authors' images, by their index
    elif run.synthetic_per_real:
        method, variant = split_source(run.source)
        pool = find_pool(SD_POOLS, "ddi", method, variant, "all")
        inputs.update(synthetic=sd_shard_manifests(pool), synthetic_shards=sd_shard_tars(pool))
    if DDI_EXP["settings"].get("weights"):
        inputs["weights"] = DDI_EXP["settings"]["weights"]
    if reads_image_cache(DDI_EXP["settings"]):
        caches = [real_image_cache("ddi", DDI_EXP["image_size"], DDI_EXP["settings"])]
        if run.synthetic_per_real and reads_released(run.source):
            caches.append(released_image_cache(run.source, DDI_EXP["settings"]))
        elif run.synthetic_per_real:
            caches.append(synthetic_image_cache(pool, DDI_EXP["settings"]))
        inputs.update(image_cache_inputs(caches))
    return inputs


def ddi_metrics():
    return [f"results/classify/ddi/{run.run_id}/metrics.json" for run in DDI_RUNS]


# Paper 2's images decoded once (dermsynth.classify.image_cache): one cache per dataset, size of
# the copies read and network input size for the real images, one per synthetic pool; every run
# reading them shares it. Settings as GridSettings reads them (its defaults: input cache, 224 px).
IMAGE_CACHE = "results/classify/image_cache"


wildcard_constraints:
    cache_size=r"\d+",
    input_size=r"\d+",


def reads_image_cache(settings):
    return settings.get("input", "cache") == "cache"


def real_image_cache(dataset, size, settings):
    input_size = settings.get("image_size", 224)
    return f"{IMAGE_CACHE}/real/{dataset}/{size}px-for-{input_size}px"


def synthetic_image_cache(pool, settings):
    input_size = settings.get("image_size", 224)
    return f"{IMAGE_CACHE}/synthetic/{pool.source}/{pool.dataset}/{pool.name}/for-{input_size}px"


def image_cache_inputs(folders):
    """A run's caches as inputs of its job: the index files (which it opens) and the pixels."""
    return {
        "image_cache": [f"{folder}/index.csv" for folder in folders],
        "image_cache_pixels": [f"{folder}/pixels.npy" for folder in folders],
    }


def image_cache_whole(wildcards):
    """Whether a real cache holds the whole-image copies too (the authors' training crops):
    where the dataset has copies of that shorter side (preprocess.short_side)."""
    short_sides = config["preprocess"]["short_side"].get(wildcards.dataset, [])
    return int(wildcards.cache_size) in short_sides


def image_cache_manifests(wildcards):
    """Every shard manifest of the synthetic pool a cache holds."""
    return sd_shard_manifests(sd_pool(wildcards))


def image_cache_shards(wildcards):
    """The WebDataset tars its manifests' images lie in."""
    return sd_shard_tars(sd_pool(wildcards))


# --- Paper 2: the authors' released images as a synthetic source (released-<method>-<variant>) ---
# Their WebDataset shards lie in released.root (the demo writes stand-ins in their layout); one
# index lists every sample, so that no run rescans the shards (dermsynth.design.released).

from dermsynth.design.released import released_source
from dermsynth.design.runs import reads_released

RELEASED = config["released"]
RELEASED_INDEX = "results/synthetic/released/index.csv"
DEMO_RELEASED = f"{DEMO_ROOT}/released/synthetic-derm-1M-train"


def released_labels():
    """The authors' folder labels a run may read: every class of both datasets (hyphenated, as
    their folders name them), and `all`, the folder of a model of every class."""
    labels = {label.replace(" ", "-") for classes in SD_CLASSES.values() for label in classes}
    return sorted(labels | {"all"})


def released_image_cache(source, settings):
    """The image cache of a released source's images (the image-cache rules' layout)."""
    input_size = settings.get("image_size", 224)
    return f"{IMAGE_CACHE}/released/{released_source(source)}/for-{input_size}px"


def demo_released_settings():
    """What the demo's stand-in release depends on: the Fitzpatrick17k classes and the tenth
    label of the released split files, the methods written, images per real image, size."""
    labels = list(SD_CLASSES["fitzpatrick17k"])
    labels += list(config["demo"]["fitzpatrick17k"].get("released", {}).get("other_labels", []))
    return {"labels": labels, **config["demo"]["released"]}


# --- Cluster resources ----------------------------------------------------------------------------
# A rule's `runtime` (minutes; the SLURM walltime) comes from its estimate in dermsynth.plan:
# images x measured seconds per image for the samplers, resources.minutes for the rest, with
# resources.walltime's margin and start-up, widened on each retry. `dermsynth plan` sums the same
# estimates into GPU-hours. Rules take resources.gpu GPUs per GPU job; profiles/slurm sets its own.
from dermsynth.plan import job_minutes, walltime_minutes


def rule_runtime(rule_name):
    """The `runtime` resource of a rule: a function of the job's wildcards and attempt."""

    def runtime(wildcards, attempt):
        estimate = job_minutes(rule_name, dict(wildcards.items()), config)
        return walltime_minutes(estimate, config["resources"], attempt)

    return runtime
