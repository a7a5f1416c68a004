"""dermsynth.fetch.sources: the names `dermsynth fetch` takes, and which config keys it reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from dermsynth.errors import DataError
from dermsynth.fetch.sources import destination, load_sources, names_for

SOURCES = Path(__file__).resolve().parents[1] / "config" / "sources.yaml"


def test_groups_stand_for_their_entries_in_the_sources_files_order():
    sources = load_sources(SOURCES)
    assert names_for(["ddi", "weights"], sources) == [
        "glide",
        "inception",
        "torchvision",
        "sd",
        "ddi",
    ]
    assert names_for([], sources) == list(sources)
    assert names_for(["sd"], sources) == ["sd"]


def test_an_unknown_name_fails_listing_the_known_ones():
    with pytest.raises(ValueError, match="nothing to fetch is named 'glyde'; known: ddi, "):
        names_for(["glyde"], load_sources(SOURCES))


def test_a_null_unset_or_demo_destination_is_not_read_from_outside():
    config = {
        "glide": {
            "base": {"init": None},
            "upsample": {"init": "resources/weights/glide/upsample.pt"},
        },
        "sd": {"models": {"text2img": "resources/demo/sd/text2img"}},
        "classify": {"grid": {"settings": {}}},
    }
    assert destination(config, "glide.base.init") is None
    assert destination(config, "glide.upsample.init") == "resources/weights/glide/upsample.pt"
    assert destination(config, "sd.models.text2img") is None  # the demo builds it
    assert destination(config, "classify.grid.settings.weights") is None


def test_a_source_of_unknown_kind_is_refused_naming_the_file(tmp_path):
    (tmp_path / "sources.yaml").write_text("glide: {kind: ftp}\n")
    with pytest.raises(DataError, match="sources.yaml: glide: kind must be one of"):
        load_sources(tmp_path / "sources.yaml")


def test_every_destination_of_the_sources_file_is_a_key_the_paper_config_sets():
    import yaml

    from dermsynth.plan import load_config

    config = load_config(SOURCES.parents[1], ["config/paper.yaml"])
    for name, entry in yaml.safe_load(SOURCES.read_text()).items():
        items = entry.get("files") if isinstance(entry.get("files"), list) else None
        keys = [i["dest"] for i in items or entry.get("repos", [])] or [entry["dest"]]
        for key in keys:
            assert destination(config, key), f"{name}: paper.yaml reads nothing at {key}"
