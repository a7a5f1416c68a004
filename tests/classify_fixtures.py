"""Toy datasets of the classifier tests, in the layouts the workflow writes, small enough to see.

- `write_toy_dataset` (paper 1): three classes of six flat-coloured 24 px real images each (four
  train, one val, one test) in `resized_path`'s layout, and two 40 px synthetic images per class.
- `write_grid_toy` (paper 2): a Fitzpatrick17k-like released split of four classes, each
  `POOL + VAL` training rows (a draw of `VAL` validation images leaves a pool of `POOL`) and
  `TEST` test images, skin types cycling through 1-6 and unknown; a synthetic manifest of
  `PER_REAL` images per training row (`index` 0..PER_REAL-1); DDI's `external` split (two
  diseases shared with the toy classes, one not) and `paper` split (benign / malignant, skin
  tones 12, 34, 56) with a manifest of its own.
  Every image is noise on its class's colour, so a network can learn the classes quickly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from dermsynth.classify.run_files import RunFiles
from dermsynth.data.png import write_png
from dermsynth.data.preprocess import resized_path, short_side_path

# --- paper 1 ---------------------------------------------------------------------------------

CLASSES = {"bcc": "basal cell carcinoma", "mel": "melanoma", "nv": "melanocytic nevi"}
COLOURS = {"bcc": (220, 40, 40), "mel": (40, 220, 40), "nv": (40, 40, 220)}
SIZE = 24
SPLIT_OF_IMAGE = ["train"] * 4 + ["val", "test"]  # per class
SYNTHETIC_PER_CLASS, SYNTHETIC_SIZE = 2, 40


@dataclass(frozen=True)
class Toy:
    split: Path
    images: Path
    synthetic: Path


def write_toy_dataset(root: Path) -> Toy:
    """Paper 1's toy dataset under `root`; each image a flat colour (its class's, a little
    lighter per image)."""
    rows, manifest = [], []
    for label, colour in COLOURS.items():
        for i, split in enumerate(SPLIT_OF_IMAGE):
            image_id = f"ISIC_{label}_{i}"
            path = resized_path(root / "images", SIZE, image_id)
            path.parent.mkdir(parents=True, exist_ok=True)
            write_png(path, np.full((SIZE, SIZE, 3), np.add(colour, 4 * i), dtype=np.uint8))
            rows.append((image_id, label, split))
        for i in range(SYNTHETIC_PER_CLASS):
            path = root / "synthetic" / label / f"{label}_{i:05d}.png"
            path.parent.mkdir(parents=True, exist_ok=True)
            pixels = np.full((SYNTHETIC_SIZE, SYNTHETIC_SIZE, 3), colour, dtype=np.uint8)
            write_png(path, pixels)
            manifest.append((str(path), label, i, f"a dermoscopic image of {CLASSES[label]}"))
    split = root / "split.csv"
    pd.DataFrame(rows, columns=["image_id", "label", "split"]).to_csv(split, index=False)
    synthetic = root / "synthetic" / "manifest.csv"
    pd.DataFrame(manifest, columns=["file", "class", "index", "prompt"]).to_csv(
        synthetic, index=False
    )
    return Toy(split, root / "images", synthetic)


# --- paper 2 ---------------------------------------------------------------------------------

GRID_CLASSES = ["psoriasis", "lichen planus", "basal cell carcinoma", "squamous cell carcinoma"]
GRID_COLOURS = [(200, 60, 60), (60, 200, 60), (60, 60, 200), (200, 200, 60)]
GRID_SIZE = 32
# our regime on timm's tiny EfficientNet, for runs from files to files
TINY_GRID_SETTINGS = {
    "regime": "ours",
    "model_name": "test_efficientnet",
    "image_size": GRID_SIZE,
    "epochs": 2,
    "lr": 3e-3,
}
POOL, VAL, TEST, PER_REAL = 6, 2, 3, 4
SKIN_TYPES = ["1", "2", "3", "4", "5", "6", ""]
# DDI: disease -> (malignant, the F17k-9 class it shares or "")
DDI_DISEASES = {
    "basal-cell-carcinoma-nodular": (True, "basal cell carcinoma"),
    "squamous-cell-carcinoma-in-situ": (True, "squamous cell carcinoma"),
    "seborrheic-keratosis": (False, ""),
}
DDI_PER_DISEASE_AND_TONE = 4  # two train, one val, one test per disease and skin tone
DDI_TONES = ("12", "34", "56")
DDI_SPLIT_OF_IMAGE = ["train", "train", "val", "test"]
# real DDI training images: two per disease and skin tone
DDI_TRAIN = len(DDI_DISEASES) * len(DDI_TONES) * DDI_SPLIT_OF_IMAGE.count("train")
DDI_PER_REAL = 2


@dataclass(frozen=True)
class GridToy:
    split: Path
    images: Path
    synthetic: Path
    ddi_external: Path
    ddi_paper: Path
    ddi_images: Path
    ddi_synthetic: Path


def noisy_image(colour, seed: int, size: int = GRID_SIZE) -> np.ndarray:
    """Uniform noise (0-63) on a class colour."""
    noise = np.random.default_rng(seed).integers(0, 64, (size, size, 3))
    return np.clip(np.add(colour, noise) - 32, 0, 255).astype(np.uint8)


def _write(path: Path, pixels: np.ndarray) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_png(path, pixels)
    return str(path)


def write_grid_toy(root: Path) -> GridToy:
    """Paper 2's toy datasets under `root` (see the module docstring)."""
    rows, manifest, seed = [], [], 0
    released_row = {"train": 0, "test": 0}
    for c, (label, colour) in enumerate(zip(GRID_CLASSES, GRID_COLOURS, strict=True)):
        kinds = ["train"] * (POOL + VAL) + ["test"] * TEST
        for i, split in enumerate(kinds):
            image_id = f"f17k_{c}_{i:02d}"
            seed += 1
            pixels = noisy_image(colour, seed)
            _write(resized_path(root / "images", GRID_SIZE, image_id), pixels)
            # the whole image with its aspect kept: the square and a quarter more of noise
            whole = np.concatenate([pixels, noisy_image(colour, seed + 10_000)[: GRID_SIZE // 4]])
            _write(short_side_path(root / "images", GRID_SIZE, image_id), whole)
            rows.append(
                (image_id, label, split, SKIN_TYPES[i % len(SKIN_TYPES)], released_row[split])
            )
            released_row[split] += 1
            if split != "train":
                continue
            for k in range(PER_REAL):  # for every training row, as the authors generated
                seed += 1
                file = _write(root / "synthetic" / f"{image_id}_{k}.png", noisy_image(colour, seed))
                manifest.append((file, label, image_id, "", k))
    split = root / "split.csv"
    pd.DataFrame(rows, columns=["image_id", "label", "split", "skin_type", "released_row"]).to_csv(
        split, index=False
    )
    synthetic = root / "synthetic" / "manifest.csv"
    pd.DataFrame(manifest, columns=["file", "class", "source_image", "pool_rank", "index"]).to_csv(
        synthetic, index=False
    )

    external, paper, ddi_manifest = [], [], []
    for d, (disease, (malignant, shared)) in enumerate(DDI_DISEASES.items()):
        colour = GRID_COLOURS[GRID_CLASSES.index(shared)] if shared else (120, 120, 120)
        for tone in DDI_TONES:
            for i, split_name in enumerate(DDI_SPLIT_OF_IMAGE):
                image_id = f"ddi_{d}_{tone}_{i}"
                seed += 1
                _write(resized_path(root / "ddi", GRID_SIZE, image_id), noisy_image(colour, seed))
                label = "malignant" if malignant else "benign"
                external.append((image_id, label, "test", tone, disease, shared))
                paper.append((image_id, label, split_name, tone))
                for k in range(DDI_PER_REAL if split_name == "train" else 0):
                    seed += 1
                    file = _write(
                        root / "ddi_synthetic" / f"{image_id}_{k}.png", noisy_image(colour, seed)
                    )
                    ddi_manifest.append((file, label, image_id, "", k))
    ddi_external = root / "ddi_external.csv"
    pd.DataFrame(
        external, columns=["image_id", "label", "split", "skin_type", "disease", "shared_label"]
    ).to_csv(ddi_external, index=False)
    ddi_paper = root / "ddi_paper.csv"
    pd.DataFrame(paper, columns=["image_id", "label", "split", "skin_type"]).to_csv(
        ddi_paper, index=False
    )
    ddi_synthetic = root / "ddi_synthetic" / "manifest.csv"
    pd.DataFrame(
        ddi_manifest, columns=["file", "class", "source_image", "pool_rank", "index"]
    ).to_csv(ddi_synthetic, index=False)
    return GridToy(
        split, root / "images", synthetic, ddi_external, ddi_paper, root / "ddi", ddi_synthetic
    )


def toy_grid_frames(toy: GridToy, real_per_class: int) -> dict[str, pd.DataFrame]:
    """A strict run's real train, val and test frames on the grid toy (split seed 0)."""
    from dermsynth.design.runs import GridRun

    return toy_run_frames(toy, GridRun("strict", real_per_class, "none", 0, True, 0))


def toy_run_frames(toy: GridToy, run, synthetic: str | None = None) -> dict[str, pd.DataFrame]:
    """A grid run's train, val and test frames on the grid toy (split seed 0), its synthetic
    images from `synthetic` (a manifest or a released index)."""
    from dermsynth.classify.paper2_grid import grid_training_set

    return grid_training_set(
        toy.split,
        toy.images,
        size=GRID_SIZE,
        run=run,
        classes=GRID_CLASSES,
        val_per_class=VAL,
        split_seed=0,
        synthetic=synthetic,
    )


def toy_run_files(folder: Path) -> RunFiles:
    """A paper 2 run's files under `folder`, its resume state `resume.pt`."""
    return RunFiles(
        metrics=folder / "metrics.json",
        history=folder / "history.csv",
        timing=folder / "timing.json",
        model=folder / "model.pt",
        checkpoint=folder / "resume.pt",
    )


GRID_RUN_ID = "n3_sinpaint-pretrained_x2_t1_seed1"


def run_toy_grid(toy: GridToy, folder: Path, **overrides) -> tuple[dict, RunFiles]:
    """`run_grid` on the grid toy, writing under `folder`: run GRID_RUN_ID of the authors'
    protocol with TINY_GRID_SETTINGS and the toy's synthetic manifest, unless `overrides` say
    otherwise. Returns its record and its files."""
    from dermsynth.classify.paper2_grid_run import run_grid

    arguments = {
        "split": toy.split,
        "images_dir": toy.images,
        "size": GRID_SIZE,
        "run_id": GRID_RUN_ID,
        "protocol": "authors",
        "classes": GRID_CLASSES,
        "val_per_class": VAL,
        "split_seed": 0,
        "settings": TINY_GRID_SETTINGS,
        "synthetic": toy.synthetic,
        "run": "test",
        "device": "cpu",
        **overrides,
    }
    files = toy_run_files(folder)
    return run_grid(**arguments, files=files), files
