"""dermsynth.data.summary: what each split holds, and how many held-out images leak a lesion."""

from __future__ import annotations

import os

import pandas as pd
from PIL import Image

from dermsynth.data.splits import lesion_grouped, paper_random
from dermsynth.data.summary import plot_split_summary, split_summary

# lesion L1 has a view in train and one in test: that test image leaks; L3 is wholly in val
PAIRS = pd.DataFrame(
    {
        "image_id": ["a", "b", "c", "d", "e"],
        "group_id": ["L1", "L1", "L2", "L3", "L3"],
    }
)
SPLIT = pd.DataFrame(
    {
        "image_id": ["a", "b", "c", "d", "e"],
        "label": ["mel", "mel", "nv", "nv", "nv"],
        "split": ["train", "test", "test", "val", "val"],
    }
)


def test_split_summary_counts_images_groups_and_leaked_images_per_split_and_label():
    summary = split_summary({"ham10000": PAIRS}, {("ham10000", "paper_random"): SPLIT})
    assert summary.drop(columns=["dataset", "protocol"]).to_dict("records") == [
        {"split": "train", "label": "mel", "images": 1, "groups": 1, "leaked_images": 0},
        {"split": "val", "label": "nv", "images": 2, "groups": 1, "leaked_images": 0},
        {"split": "test", "label": "mel", "images": 1, "groups": 1, "leaked_images": 1},
        {"split": "test", "label": "nv", "images": 1, "groups": 1, "leaked_images": 0},
    ]


def test_split_summary_finds_no_leak_in_a_lesion_grouped_split(ham_pairs):
    splits = {
        ("ham10000", "lesion_grouped"): lesion_grouped(ham_pairs, 0.2, 0.1, seed=0),
        ("ham10000", "paper_random"): paper_random(ham_pairs, 0.2, 0.1, seed=0),
    }
    summary = split_summary({"ham10000": ham_pairs}, splits)
    leaked = summary.groupby("protocol")["leaked_images"].sum()
    assert leaked["lesion_grouped"] == 0
    assert leaked["paper_random"] > 0
    assert summary.groupby("protocol")["images"].sum().tolist() == [len(ham_pairs)] * 2


def test_plot_split_summary_writes_one_png_and_nothing_else(tmp_path):
    summary = split_summary({"ham10000": PAIRS}, {("ham10000", "paper_random"): SPLIT})
    plot_split_summary(summary, tmp_path / "splits.png", run="demo")
    with Image.open(tmp_path / "splits.png") as image:
        assert image.format == "PNG"
    assert os.listdir(tmp_path) == ["splits.png"]
