"""The embedded demo: procedural HAM10000, Fitzpatrick17k and DDI in their real on-disk layouts.

Each image is a "lesion" on a skin-toned background. The lesion's colour, outline (number of
lobes) and texture follow its class, so a classifier can learn the classes; its size, position,
rotation and shade vary per lesion, and several views of one lesion vary a little, as repeat
photographs of one HAM10000 lesion do. The background tone follows the Fitzpatrick skin type.
Each image's seeds are drawn in a fixed order from the dataset's seed, so the output is
deterministic for a seed whatever the number of workers.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from multiprocessing import Pool
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from dermsynth.data.layout import RAW_LAYOUT
from dermsynth.design.draws import RELEASED_FILES
from dermsynth.io import atomic_directory, atomic_path

log = logging.getLogger(__name__)

# Approximate RGB of Fitzpatrick skin types 1..6 (light to dark).
SKIN_TONES: dict[int, tuple[int, int, int]] = {
    1: (243, 218, 200),
    2: (228, 192, 162),
    3: (206, 160, 122),
    4: (168, 118, 84),
    5: (121, 82, 56),
    6: (74, 50, 36),
}
TEXTURES = ("smooth", "dots", "stripes", "rings", "network", "speckle")
LESION_COLOURS = (
    (92, 52, 36),  # brown
    (150, 40, 48),  # red
    (60, 40, 70),  # violet-black
    (196, 120, 96),  # pink-tan
    (40, 30, 26),  # near black
    (170, 70, 110),  # magenta
    (120, 110, 60),  # olive
    (200, 170, 120),  # pale yellow
    (70, 90, 140),  # blue-grey
    (180, 90, 40),  # orange-brown
    (110, 60, 90),  # plum
    (235, 200, 190),  # pale pink
)
DDI_TONE_TO_TYPES = {"12": (1, 2), "34": (3, 4), "56": (5, 6)}


@dataclass(frozen=True)
class LesionStyle:
    """What a class looks like: the signal a classifier can learn."""

    colour: tuple[int, int, int]
    texture: str
    lobes: int


def class_style(index: int) -> LesionStyle:
    """A distinct style for the class at `index` of a class list."""
    return LesionStyle(
        colour=LESION_COLOURS[index % len(LESION_COLOURS)],
        texture=TEXTURES[index % len(TEXTURES)],
        lobes=(0, 3, 5, 7, 4, 6)[(index // 2) % 6],
    )


def dataset_rng(seed: int, dataset: str) -> np.random.Generator:
    """The generator of one demo dataset; each image's own seeds are drawn from it in order."""
    key = int.from_bytes(hashlib.sha256(dataset.encode()).digest()[:4], "little")
    return np.random.default_rng([seed, key])


@dataclass(frozen=True)
class Scene:
    """Everything needed to draw one image; drawn by `render` in a worker process."""

    path: Path
    width: int
    height: int
    style: LesionStyle
    skin_tone: tuple[int, int, int]
    lesion_seed: int
    view_seed: int
    dermoscopic: bool
    jpeg: bool


def _texture(name: str, u: np.ndarray, v: np.ndarray, dist: np.ndarray, rng) -> np.ndarray:
    k = rng.uniform(0.25, 0.35)
    if name == "smooth":
        return np.zeros_like(u)
    if name == "dots":
        return (np.sin(u * k * 1.5) * np.sin(v * k * 1.5) > 0.55).astype(np.float32)
    if name == "stripes":
        return 0.5 + 0.5 * np.sin(u * k)
    if name == "rings":
        return 0.5 + 0.5 * np.sin(dist * k * 0.8)
    if name == "network":
        return np.clip(np.abs(np.sin(u * k * 0.7)) + np.abs(np.sin(v * k * 0.7)) - 1.0, 0, 1)
    if name == "speckle":
        return (rng.random(u.shape) > 0.7).astype(np.float32)
    raise ValueError(f"unknown texture {name!r}")


def render(scene: Scene) -> np.ndarray:
    """Draw one RGB uint8 image of `scene`."""
    lesion = np.random.default_rng(scene.lesion_seed)
    view = np.random.default_rng(scene.view_seed)
    h, w = scene.height, scene.width
    short = min(h, w)
    # the lesion: fixed per lesion, with a small jitter per view
    radius = short * lesion.uniform(0.18, 0.30) * view.uniform(0.93, 1.07)
    cx = w / 2 + short * (lesion.uniform(-0.12, 0.12) + view.uniform(-0.04, 0.04))
    cy = h / 2 + short * (lesion.uniform(-0.12, 0.12) + view.uniform(-0.04, 0.04))
    angle = lesion.uniform(0, 2 * np.pi) + view.uniform(-0.3, 0.3)
    aspect = lesion.uniform(0.75, 1.0)
    shade = lesion.uniform(0.85, 1.15) * view.uniform(0.95, 1.05)
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    dx, dy = x - cx, y - cy
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = (-dx * np.sin(angle) + dy * np.cos(angle)) / aspect
    dist = np.hypot(u, v)
    theta = np.arctan2(v, u)
    edge = radius * (1 + 0.22 * np.sin(scene.style.lobes * theta) * (scene.style.lobes > 0))
    edge = edge * (1 + 0.04 * np.sin(3 * theta + lesion.uniform(0, 6)))
    mask = 1 / (1 + np.exp(-(edge - dist) / (0.03 * radius)))

    tone = np.array(scene.skin_tone, np.float32) * view.uniform(0.94, 1.06, 3)
    gradient = 1 + 0.08 * (x / w - 0.5) * view.uniform(-1, 1) + 0.08 * (y / h - 0.5)
    background = tone * gradient[..., None]
    texture = _texture(scene.style.texture, u, v, dist, lesion)
    colour = np.clip(np.array(scene.style.colour, np.float32) * shade, 0, 255)
    foreground = colour * (0.65 + 0.35 * texture[..., None]) + 0.25 * tone * texture[..., None]
    image = background * (1 - mask[..., None]) + foreground * mask[..., None]
    image += view.normal(0, 4, image.shape).astype(np.float32)
    if scene.dermoscopic:
        # the dark circular field of view of a dermoscope
        field = np.hypot(x - w / 2, y - h / 2) / (0.5 * np.hypot(w, h) * view.uniform(0.88, 0.98))
        image *= np.clip(1.6 - 1.6 * field**4, 0, 1)[..., None]
    return np.clip(image, 0, 255).astype(np.uint8)


def _draw(scene: Scene) -> None:
    # drawn at half size and upsampled: four times faster, and real photographs are soft too
    half = replace(scene, width=scene.width // 2, height=scene.height // 2)
    image = Image.fromarray(render(half)).resize((scene.width, scene.height), Image.BICUBIC)
    if scene.jpeg:
        image.save(scene.path, format="JPEG", quality=90)
    else:
        image.save(scene.path, format="PNG", compress_level=1)


def draw_all(scenes: Sequence[Scene], workers: int = 1) -> None:
    """Draw every scene to its path, with a worker pool and a progress bar."""
    if workers > 1:
        with Pool(workers) as pool:
            for _ in tqdm(pool.imap_unordered(_draw, scenes, chunksize=8), total=len(scenes)):
                pass
    else:
        for scene in tqdm(scenes):
            _draw(scene)


def _seed(rng: np.random.Generator) -> int:
    return int(rng.integers(0, 2**63 - 1))


def _write_dataset(
    root: Path,
    metadata_name: str,
    table: pd.DataFrame,
    scenes: Sequence[Scene],
    workers: int,
    *,
    index: bool = False,
) -> None:
    """Write a demo dataset atomically: image folders staged and moved into place, then its CSV.

    Scene paths are relative to `root` (e.g. ``images/<md5hash>.jpg``).
    """
    folders = sorted({scene.path.parent.as_posix() for scene in scenes})
    with ExitStack() as stack:
        staged = {name: stack.enter_context(atomic_directory(root / name)) for name in folders}
        draw_all(
            [replace(s, path=staged[s.path.parent.as_posix()] / s.path.name) for s in scenes],
            workers,
        )
    with atomic_path(root / metadata_name) as tmp:
        table.to_csv(tmp, index=index)
    log.info("wrote %d images and %s under %s", len(table), metadata_name, root)


# --- HAM10000 -------------------------------------------------------------------------------

HAM_DX_TYPES = ("histo", "follow_up", "consensus", "confocal")
HAM_SITES = ("back", "lower extremity", "trunk", "upper extremity", "abdomen", "face", "chest")


def make_ham10000(
    root: str | Path,
    classes: Sequence[str],
    lesions_per_class: dict[str, int] | int,
    images_per_lesion: tuple[int, int] = (1, 3),
    size: tuple[int, int] = (600, 450),
    seed: int = 0,
    workers: int = 1,
) -> pd.DataFrame:
    """HAM10000 as distributed: HAM10000_metadata.csv and two folders of <image_id>.jpg."""
    rng = dataset_rng(seed, "ham10000")
    layout = RAW_LAYOUT["ham10000"]
    rows: list[dict] = []
    image_number = 24306  # the first ISIC id of the real release
    lesion_number = 0
    for class_index, dx in enumerate(classes):
        n_lesions = (
            lesions_per_class[dx] if isinstance(lesions_per_class, dict) else lesions_per_class
        )
        for _ in range(n_lesions):
            lesion_number += 1
            lesion_seed = _seed(rng)
            age = "" if rng.random() < 0.03 else f"{5 * int(rng.integers(2, 18))}.0"
            common = {
                "lesion_id": f"HAM_{lesion_number:07d}",
                "dx": dx,
                "dx_type": HAM_DX_TYPES[int(rng.integers(len(HAM_DX_TYPES)))],
                "age": age,
                "sex": ("male", "female", "unknown")[int(rng.choice(3, p=[0.5, 0.47, 0.03]))],
                "localization": HAM_SITES[int(rng.integers(len(HAM_SITES)))],
            }
            n_views = int(rng.integers(images_per_lesion[0], images_per_lesion[1] + 1))
            for _ in range(n_views):
                rows.append(
                    {
                        **common,
                        "image_id": f"ISIC_{image_number:07d}",
                        "draw_class_index": class_index,
                        "draw_lesion_seed": lesion_seed,
                        "draw_view_seed": _seed(rng),
                    }
                )
                image_number += 1
    table = pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)
    half = len(table) // 2
    ids = sorted(table["image_id"])
    part = {image_id: 0 if i < half else 1 for i, image_id in enumerate(ids)}  # folder index
    tone = SKIN_TONES[1]

    scenes = [
        Scene(
            path=Path(layout.images[part[r.image_id]], f"{r.image_id}.jpg"),
            width=size[0],
            height=size[1],
            style=class_style(r.draw_class_index),
            skin_tone=tone,
            lesion_seed=r.draw_lesion_seed,
            view_seed=r.draw_view_seed,
            dermoscopic=True,
            jpeg=True,
        )
        for r in table.itertuples()
    ]

    columns = ["lesion_id", "image_id", "dx", "dx_type", "age", "sex", "localization"]
    _write_dataset(Path(root), layout.metadata, table[columns], scenes, workers)
    return table[columns]


# --- Fitzpatrick17k -------------------------------------------------------------------------

F17K_QC = ("", "", "", "", "", "", "1 Diagnostic", "2 Characteristic", "3 Wrongly labelled")
F17K_TYPES = (-1, 1, 2, 3, 4, 5, 6)
F17K_TYPE_P = (0.04, 0.16, 0.2, 0.2, 0.2, 0.12, 0.08)


def make_fitzpatrick17k(
    root: str | Path,
    images_per_label: dict[str, int],
    partitions: dict[str, tuple[str, str]],
    seed: int = 0,
    workers: int = 1,
    released: dict | None = None,
) -> pd.DataFrame:
    """Fitzpatrick17k as distributed: fitzpatrick17k.csv and images/<md5hash>.jpg; with
    `released` ({labels, held_out_per_label}), also a split in the layout paper 2's authors
    released (`write_released_split`)."""
    rng = dataset_rng(seed, "fitzpatrick17k")
    layout = RAW_LAYOUT["fitzpatrick17k"]
    rows = []
    for label_index, (label, count) in enumerate(images_per_label.items()):
        nine, three = partitions.get(label, ("inflammatory", "non-neoplastic"))
        for _ in range(count):
            item = len(rows)
            md5 = hashlib.md5(f"demo-{seed}-{item}".encode()).hexdigest()
            scale = int(rng.choice(F17K_TYPES, p=F17K_TYPE_P))
            centaur = scale if rng.random() < 0.7 else int(rng.choice(F17K_TYPES, p=F17K_TYPE_P))
            url = f"demo://fitzpatrick17k/{md5}.jpg"
            rows.append(
                {
                    "md5hash": md5,
                    "fitzpatrick_scale": scale,
                    "fitzpatrick_centaur": centaur,
                    "label": label,
                    "nine_partition_label": nine,
                    "three_partition_label": three,
                    "qc": F17K_QC[int(rng.integers(len(F17K_QC)))] if rng.random() < 0.1 else "",
                    "url": url,
                    "url_alphanum": "".join(ch for ch in url if ch.isalnum()),
                    "draw_label_index": label_index,
                    "draw_tone": scale if scale > 0 else int(rng.integers(1, 7)),
                    "draw_width": int(rng.integers(320, 640)),
                    "draw_height": int(rng.integers(240, 480)),
                    "draw_lesion_seed": _seed(rng),
                    "draw_view_seed": _seed(rng),
                }
            )
    table = pd.DataFrame(rows).sample(frac=1.0, random_state=seed).reset_index(drop=True)

    scenes = [
        Scene(
            path=Path(layout.images[0], f"{r.md5hash}.jpg"),
            width=r.draw_width,
            height=r.draw_height,
            style=class_style(r.draw_label_index),
            skin_tone=SKIN_TONES[r.draw_tone],
            lesion_seed=r.draw_lesion_seed,
            view_seed=r.draw_view_seed,
            dermoscopic=False,
            jpeg=True,
        )
        for r in table.itertuples()
    ]

    columns = [c for c in table.columns if not c.startswith("draw_")]
    _write_dataset(Path(root), layout.metadata, table[columns], scenes, workers)
    if released:
        write_released_split(Path(root) / "fitz_metadata", table[columns], seed=seed, **released)
    return table[columns]


def write_released_split(
    folder: str | Path,
    table: pd.DataFrame,
    *,
    labels: Sequence[str],
    held_out_per_label: int,
    seed: int = 0,
) -> None:
    """Paper 2's released split files for `labels` of a Fitzpatrick17k table, in the authors'
    layout (fitz_metadata/): a held-out file of `held_out_per_label` rows per label sorted by
    label, and a training file of every other row of those labels in the table's order."""
    rows = table[table["label"].isin(list(labels))]
    rng = dataset_rng(seed, "fitzpatrick17k-released")
    held = [
        group.index[rng.permutation(len(group))[:held_out_per_label]]
        for _, group in rows.groupby("label", sort=True)
    ]
    held_out = rows.loc[[i for part in held for i in part]]
    training = rows.drop(index=held_out.index)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for kind, part in (("training", training), ("held_out", held_out)):
        with atomic_path(folder / RELEASED_FILES[kind]) as tmp:
            part.to_csv(tmp, index=False)


# --- DDI ------------------------------------------------------------------------------------


def make_ddi(
    root: str | Path,
    diseases: dict[str, bool],
    images_per_group: int,
    style_of: dict[str, int],
    seed: int = 0,
    workers: int = 1,
) -> pd.DataFrame:
    """DDI as distributed: ddi_metadata.csv (unnamed leading index column) and images/<file>.png.

    `diseases` maps each hyphenated disease name to whether it is malignant; `style_of` gives
    each disease the style index of its class, so a DDI disease that F17k-9 shares looks like it.
    """
    rng = dataset_rng(seed, "ddi")
    layout = RAW_LAYOUT["ddi"]
    names = list(diseases)
    rows = []
    for group in DDI_TONE_TO_TYPES:
        for _ in range(images_per_group):
            item = len(rows) + 1
            disease = names[int(rng.integers(len(names)))]
            rows.append(
                {
                    "DDI_ID": item,
                    "DDI_file": f"{item:06d}.png",
                    "skin_tone": int(group),
                    "malignant": bool(diseases[disease]),
                    "disease": disease,
                    "draw_tone": int(rng.choice(DDI_TONE_TO_TYPES[group])),
                    "draw_lesion_seed": _seed(rng),
                    "draw_view_seed": _seed(rng),
                }
            )
    table = pd.DataFrame(rows)

    scenes = [
        Scene(
            path=Path(layout.images[0], r.DDI_file),
            width=320,
            height=320,
            style=class_style(style_of[r.disease]),
            skin_tone=SKIN_TONES[r.draw_tone],
            lesion_seed=r.draw_lesion_seed,
            view_seed=r.draw_view_seed,
            dermoscopic=False,
            jpeg=False,
        )
        for r in table.itertuples()
    ]

    columns = ["DDI_ID", "DDI_file", "skin_tone", "malignant", "disease"]
    _write_dataset(Path(root), layout.metadata, table[columns], scenes, workers, index=True)
    return table[columns]


# --- from the configuration ----------------------------------------------------------------

F17K_PARTITIONS = {  # nine- and three-partition labels of the real CSV for the demo's labels
    "psoriasis": ("inflammatory", "non-neoplastic"),
    "squamous cell carcinoma": ("malignant epidermal", "malignant"),
    "lichen planus": ("inflammatory", "non-neoplastic"),
    "basal cell carcinoma": ("malignant epidermal", "malignant"),
    "allergic contact dermatitis": ("inflammatory", "non-neoplastic"),
    "lupus erythematosus": ("inflammatory", "non-neoplastic"),
    "sarcoidosis": ("inflammatory", "non-neoplastic"),
    "neutrophilic dermatoses": ("inflammatory", "non-neoplastic"),
    "photodermatoses": ("inflammatory", "non-neoplastic"),
    "melanoma": ("malignant melanoma", "malignant"),
}


def ddi_styles(
    diseases: Sequence[str], f17k_labels: Sequence[str], class_map: dict[str, Sequence[str]]
) -> dict[str, int]:
    """Each DDI disease's style: that of its F17k-9 class where DDI shares it, else its own."""
    from dermsynth.data.splits import shared_label

    styles = {}
    for position, disease in enumerate(diseases):
        label = shared_label(disease, class_map)
        styles[disease] = list(f17k_labels).index(label) if label else len(f17k_labels) + position
    return styles


def make_demo_dataset(
    dataset: str, root: str | Path, settings: dict, workers: int = 1
) -> pd.DataFrame:
    """Write one demo dataset; `settings` is what rules/common.smk picks from the config."""
    root, seed = Path(root), settings["seed"]
    if dataset == "ham10000":
        return make_ham10000(
            root,
            settings["classes"],
            settings["lesions_per_class"],
            tuple(settings["images_per_lesion"]),
            tuple(settings["size"]),
            seed,
            workers,
        )
    if dataset == "fitzpatrick17k":
        counts = {c: settings["images_per_f17k9_class"] for c in settings["classes"]}
        counts.update(settings["other_labels"])
        released = settings.get("released")
        if released:  # the authors' files hold the nine classes and a tenth label
            released = {
                "labels": [*settings["classes"], *released["other_labels"]],
                "held_out_per_label": released["held_out_per_label"],
            }
        return make_fitzpatrick17k(root, counts, F17K_PARTITIONS, seed, workers, released)
    if dataset == "ddi":
        diseases = settings["diseases"]
        styles = ddi_styles(list(diseases), settings["f17k_classes"], settings["class_map"])
        return make_ddi(root, diseases, settings["images_per_group"], styles, seed, workers)
    raise ValueError(f"no demo for dataset {dataset!r}")
