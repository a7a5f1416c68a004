"""The configuration schema: defaults filled, bad configs stopped naming the key."""

from __future__ import annotations

import copy

import jsonschema
import pytest
import yaml
from workflow_helpers import REPO, copy_workflow, load_config, snakemake

SCHEMA = yaml.safe_load((REPO / "config/schema/config.schema.yaml").read_text())


def key_paths(tree: dict, prefix: tuple = ()) -> set[tuple]:
    paths = set()
    for key, value in tree.items():
        paths.add(prefix + (key,))
        if isinstance(value, dict):
            paths |= key_paths(value, prefix + (key,))
    return paths


@pytest.mark.parametrize("name", ["config.yaml", "paper.yaml"])
def test_shipped_configs_satisfy_the_schema(name):
    jsonschema.validate(load_config(REPO / "config" / name), SCHEMA)


def test_paper_config_sets_every_key_the_demo_sets_outside_demo():
    # Snakemake merges --configfile over config/config.yaml: a demo key the paper config
    # forgot would silently leak into a paper run.
    demo = load_config(REPO / "config/config.yaml")
    paper = load_config(REPO / "config/paper.yaml")
    demo.pop("demo")
    demo["splits"]["ddi"]["external"].pop("class_map")  # a mapping of labels, not keys
    paper["splits"]["ddi"]["external"].pop("class_map")
    for config in (demo, paper):  # free-form maps: their keys are values, not settings
        config["datasets"]["ham10000"].pop("classes")
        for kind in ("base", "upsample"):
            config["glide"][kind].pop("options")
        config["sd"].pop("sources_per_class")  # class -> count
    assert paper["sd"]["release"] is None  # a null replaces the demo's whole release
    demo["sd"].pop("release")
    assert key_paths(demo) <= key_paths(paper)


def test_paper_config_has_the_papers_class_lists_and_split_sizes():
    paper = load_config(REPO / "config/paper.yaml")
    assert sorted(paper["datasets"]["ham10000"]["classes"]) == [
        "akiec",
        "bcc",
        "bkl",
        "df",
        "mel",
        "nv",
        "vasc",
    ]
    assert len(paper["datasets"]["fitzpatrick17k"]["classes"]) == 9
    assert paper["splits"]["fitzpatrick17k"]["paper"]["released"].endswith("fitz_metadata")
    grid = paper["classify"]["grid"]
    assert grid["protocols"] == ["authors"] and grid["val_per_class"] == 40
    assert grid["seeds"][0] == 111108 and grid["dose_response"]["seeds"][0] == 119108
    assert grid["dose_response"]["first_index"] == 10
    assert sum(paper["sd"]["sources_per_class"]["fitzpatrick17k"].values()) == 3339
    assert paper["splits"]["ham10000"]["paper_random"]["test_fraction"] == 0.2


def bad_config_run(tmp_path, edit) -> str:
    workdir = copy_workflow(tmp_path)
    config = load_config(workdir / "config/config.yaml")
    edit(config)
    (workdir / "bad.yaml").write_text(yaml.safe_dump(config))
    result = snakemake(workdir, "-n", "--configfile", "bad.yaml", check=False)
    assert result.returncode != 0
    return result.stdout + result.stderr


def test_a_wrong_type_stops_the_run_naming_the_key(tmp_path):
    def edit(config):
        config["classify"]["grid"]["val_per_class"] = "forty"

    message = bad_config_run(tmp_path, edit)
    assert "val_per_class" in message and "forty" in message


def test_an_unknown_key_stops_the_run_naming_it(tmp_path):
    def edit(config):
        config["preprocess"]["crop_mode"] = "center"

    assert "crop_mode" in bad_config_run(tmp_path, edit)


def test_schema_fills_defaults_for_keys_the_config_leaves_out():
    from snakemake.utils import validate

    config = copy.deepcopy(load_config(REPO / "config/config.yaml"))
    del config["datasets"]["fitzpatrick17k"]["missing_images"]
    config["preprocess"].pop("crop", None)
    config["classify"]["paper_cnn"].pop("test_set")
    validate(config, str(REPO / "config/schema/config.schema.yaml"))
    assert config["datasets"]["fitzpatrick17k"]["missing_images"] == "error"
    assert config["classify"]["paper_cnn"]["test_set"] == "real"
    assert config["preprocess"]["crop"] == "center"
    assert config["splits"]["ham10000"]["paper_random"]["seed"] == 0


def test_the_cnn_test_set_composition_is_real_or_the_papers():
    config = copy.deepcopy(load_config(REPO / "config/config.yaml"))
    for composition in ("real", "paper"):
        config["classify"]["paper_cnn"]["test_set"] = composition
        jsonschema.validate(config, SCHEMA)
    config["classify"]["paper_cnn"]["test_set"] = "synthetic"
    with pytest.raises(jsonschema.ValidationError, match="'synthetic' is not one of"):
        jsonschema.validate(config, SCHEMA)
