"""What paper 1's experiment is: which HAM10000 images each split protocol's GLIDE learns from,
and which GLIDE set the CNN arms, Table 1, the memorization audit and the reader study read.
Pure functions of the config and the split tables (torch-free), unit-tested without Snakemake.

One GLIDE per split protocol (`glide.train_on`, protocol -> `all` or a list of its splits):

- `paper_random: all`: every image, as section 2.1 fine-tuned on all 10,015. The protocol's
  CNN then tests on images its generator learned from, and every table that reads this set
  counts them.
- `lesion_grouped: [train]`: the protocol's training split only, so that no lesion of its
  validation or test images shapes a synthetic image.

A GLIDE set is named `glide-<protocol>` wherever the metrics and the reader study name sets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from dermsynth.errors import DataError

GLIDE = "glide"
ALL = "all"
SPLITS = ("train", "val", "test")
TRAIN_IMAGES_COLUMNS = ["image_id", "label", "group_id", "split"]


@dataclass(frozen=True)
class GlideSet:
    """The GLIDE models and synthetic set of one split protocol, and the images they learned
    from: every image (`splits` None) or those of the protocol's `splits`."""

    protocol: str
    splits: tuple[str, ...] | None

    @property
    def name(self) -> str:
        return f"{GLIDE}-{self.protocol}"

    @property
    def trained_on(self) -> str:
        """In words, for tables and logs."""
        if self.splits is None:
            return "all HAM10000 images (paper 1, section 2.1)"
        return f"{self.protocol} split: {'+'.join(self.splits)}"

    @classmethod
    def from_train_on(cls, protocol: str, train_on: str | Sequence[str]) -> GlideSet:
        """A protocol's set from its `glide.train_on` value: `all` or a list of splits."""
        if train_on == ALL:
            return cls(protocol, None)
        if isinstance(train_on, str) or not train_on or set(train_on) - set(SPLITS):
            raise ValueError(
                f"config glide.train_on.{protocol}: {train_on!r}: expected 'all' or a list of "
                f"{list(SPLITS)}"
            )
        return cls(protocol, tuple(train_on))


def glide_sets(config: Mapping[str, Any]) -> dict[str, GlideSet]:
    """Every protocol's GLIDE set, by protocol, from `glide.train_on`; checked against the
    HAM10000 split protocols and the CNN arms that read a GLIDE set."""
    train_on = config["glide"].get("train_on") or {}
    protocols = list(config["splits"]["ham10000"])
    sets = {}
    for protocol, splits in train_on.items():
        if protocol not in protocols:
            raise ValueError(
                f"config glide.train_on.{protocol}: {protocol!r} is not a HAM10000 split "
                f"protocol {protocols}"
            )
        sets[protocol] = GlideSet.from_train_on(protocol, splits)
    cnn = config.get("classify", {}).get("paper_cnn", {})
    if set(cnn.get("variants", [])) - {"original"}:
        missing = [p for p in cnn.get("protocols", []) if p not in sets]
        if missing:
            raise ValueError(
                f"config classify.paper_cnn reads the GLIDE sets of protocols {missing}, which "
                "glide.train_on does not train: add them there"
            )
    return sets


def image_share(config: Mapping[str, Any], protocol: str) -> float:
    """The expected share of HAM10000's images a protocol's GLIDE learns from: 1 for `all`,
    else the configured fractions of its splits (train: 1 - test - val), for the run-time
    estimate of its fine-tune. Reads only that protocol's `glide.train_on` entry (`glide_sets`
    checks the whole config once, where the workflow starts)."""
    train_on = config["glide"].get("train_on") or {}
    if protocol not in train_on:
        raise KeyError(f"config glide.train_on has no protocol {protocol!r}")
    glide_set = GlideSet.from_train_on(protocol, train_on[protocol])
    if glide_set.splits is None:
        return 1.0
    split = config["splits"]["ham10000"][protocol]
    test, val = float(split["test_fraction"]), float(split["val_fraction"])
    share = {"train": 1.0 - test - val, "val": val, "test": test}
    return sum(share[name] for name in glide_set.splits)


def parse_glide_set(name: str) -> str | None:
    """The protocol of a set name `glide-<protocol>`; None for any other name."""
    prefix = f"{GLIDE}-"
    return name[len(prefix) :] if name.startswith(prefix) and len(name) > len(prefix) else None


def glide_training_images(
    pairs: pd.DataFrame, split: pd.DataFrame, glide_set: GlideSet, *, split_name: str = "split"
) -> pd.DataFrame:
    """The images a protocol's GLIDE learns from (image_id, label, group_id, and the image's
    split in the protocol's table `split`), in the pairs table's order: every pair, or those in
    the set's splits. `split_name` names the table in errors."""
    by_id = split.set_index("image_id")["split"]
    unsplit = pairs.loc[~pairs["image_id"].isin(by_id.index), "image_id"].tolist()
    if unsplit:
        raise DataError(
            split_name,
            f"{len(unsplit)} images of the pairs table have no split (first {unsplit[:5]})",
        )
    chosen = pairs.assign(split=pairs["image_id"].map(by_id))
    if glide_set.splits is not None:
        chosen = chosen[chosen["split"].isin(glide_set.splits)]
    if chosen.empty:
        raise DataError(split_name, f"{glide_set.name}: no image in {glide_set.trained_on}")
    return chosen[TRAIN_IMAGES_COLUMNS].reset_index(drop=True)


def seen_by_generator(image_ids: Sequence[str], generator_images: pd.DataFrame) -> int:
    """How many of `image_ids` (a CNN's real test images) the generator learned from."""
    return int(pd.Series(list(image_ids)).isin(set(generator_images["image_id"])).sum())
