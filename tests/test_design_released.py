"""dermsynth.design.released, and the released sources in the design: names as the authors'
scripts write them, their methods mapped to ours by the config's table, one source's index rows
as the rows a run draws from, strict runs reading no released DreamBooth image, no pool made for
a released source; all without Snakemake or torch."""

from __future__ import annotations

import pandas as pd
import pytest
from released_fixtures import MAPPING, authors_sample, authors_shard_name

from dermsynth.design.pools import synthetic_pools
from dermsynth.design.released import (
    AUTHORS_METHODS,
    INDEX_COLUMNS,
    authors_label,
    mapped_source,
    method_table,
    our_label,
    released_manifest,
    released_name,
    released_source,
    sample_key,
    shard_name,
    synthetic_origin,
)
from dermsynth.design.runs import GridRun, grid_runs, protocol_reads, section_ddi_runs
from dermsynth.errors import DataError


def test_keys_and_shard_names_are_the_authors_scripts():
    for (method, submethod), label in zip(
        AUTHORS_METHODS.values(),
        ["psoriasis", "lichen-planus", "basal-cell-carcinoma"] * 2,
        strict=True,
    ):
        theirs = authors_sample(label, method, submethod, "generations2", "07", "abc", b"")
        assert (
            sample_key(label, method, submethod, "generations2", "07", "abc") == theirs["__key__"]
        )
        assert shard_name(label, method, submethod, 3) == authors_shard_name(
            label, method, submethod, 3
        )
    assert authors_label("basal cell carcinoma") == "basal-cell-carcinoma"
    assert our_label("basal-cell-carcinoma") == "basal cell carcinoma"


def test_a_released_source_names_one_of_our_method_variants():
    assert released_name("text2img-dreambooth") == "released-text2img-dreambooth"
    assert released_source("released-inoutpaint-pretrained") == "inoutpaint-pretrained"
    with pytest.raises(ValueError, match="not a released source"):
        released_source("text2img-dreambooth")
    with pytest.raises(ValueError, match="not <method>-<variant>"):
        released_source("released-outpaint-dreambooth")


def test_the_method_table_maps_every_authors_method_and_submethod_to_ours():
    table = method_table(MAPPING)
    assert {table[theirs]: theirs for theirs in table} == {
        f"{method}-{variant}": theirs for (method, variant), theirs in AUTHORS_METHODS.items()
    }
    with pytest.raises(ValueError, match=r"released\.methods\.finetune_inpaint\.inpaint"):
        method_table({"finetune_inpaint": {"inpaint": "inpaint-finetuned"}})


def test_an_unmapped_method_is_an_error_naming_the_shard_and_key():
    table = method_table({"finetune_inpaint": {"inpaint": "inpaint-dreambooth"}})
    assert mapped_source(table, "finetune_inpaint", "inpaint", "x") == "inpaint-dreambooth"
    message = (
        r"shard-a\.tar, key k1: method 'finetune_inpaint', submethod 'inpaint-outpaint' is not "
        r"in config released\.methods"
    )
    with pytest.raises(DataError, match=message):
        mapped_source(table, "finetune_inpaint", "inpaint-outpaint", "shard-a.tar, key k1")


def index_rows(*rows) -> pd.DataFrame:
    """Index rows (key, label, source, md5hash, generation_num[, tag])."""
    records = []
    for key, label, source, md5, generation, *tag in rows:
        records.append(
            {
                "key": key,
                "tar": f"released/shard-{label}.tar",
                "member": f"{key}.png",
                "md5hash": md5,
                "label": label,
                "method": "m",
                "submethod": "s",
                "generation_num": generation,
                "tag": tag[0] if tag else "generations1",
                "source": source,
            }
        )
    return pd.DataFrame(records, columns=INDEX_COLUMNS)


def test_a_sources_rows_become_a_runs_manifest_rows_of_its_classes():
    index = index_rows(
        ("a", "psoriasis", "text2img-dreambooth", "m1", "00"),
        ("b", "psoriasis", "text2img-dreambooth", "m1", "01"),
        ("c", "lichen-planus", "text2img-dreambooth", "m2", "12"),
        ("d", "folliculitis", "text2img-dreambooth", "m3", "00"),  # the authors' tenth class
        ("e", "psoriasis", "inpaint-dreambooth", "m1", "00"),  # another source
        ("f", "all", "text2img-dreambooth", "m2", "02"),  # a model of every class
        ("g", "all", "text2img-dreambooth", "m9", "00", "generations2"),
    )
    made = released_manifest(
        index,
        "released-text2img-dreambooth",
        ["psoriasis", "lichen planus"],
        labels_of={"m1": "psoriasis", "m2": "lichen planus"},
    )
    assert list(made.columns) == ["file", "label", "image_id", "index", "where"]
    assert list(made["file"]) == [
        f"released/shard-{lb}.tar#{k}.png"
        for k, lb in [
            ("a", "psoriasis"),
            ("b", "psoriasis"),
            ("c", "lichen-planus"),
            ("f", "all"),
            ("g", "all"),
        ]
    ]
    assert list(made["label"]) == ["psoriasis", "psoriasis", "lichen planus", "lichen planus", ""]
    assert list(made["image_id"]) == ["m1", "m1", "m2", "m2", "m9"]
    assert list(made["index"]) == [0, 1, 12, 2, 0]
    assert made["where"].iloc[2] == "released/shard-lichen-planus.tar, key c"
    tagged = released_manifest(
        index, "released-text2img-dreambooth", ["psoriasis"], tags=["generations2"]
    )
    assert list(tagged["image_id"]) == ["m9"]


def test_a_generation_num_that_is_no_count_is_an_error_naming_the_shard_and_key():
    index = index_rows(("k7", "psoriasis", "text2img-dreambooth", "m1", "x1"))
    with pytest.raises(DataError, match=r"shard-psoriasis\.tar, key k7: generation_num 'x1'"):
        released_manifest(index, "released-text2img-dreambooth", ["psoriasis"])


GRID = {
    "protocols": ["authors", "strict"],
    "real_per_class": [2],
    "sources": ["none", "released-text2img-dreambooth", "released-inpaint-pretrained"],
    "synthetic_per_real": 2,
    "transforms": [False],
    "seeds": [1],
}


def test_strict_runs_read_no_released_dreambooth_image_and_released_pretrained_ones_run():
    assert not protocol_reads("strict", "released-text2img-dreambooth")
    assert protocol_reads("authors", "released-text2img-dreambooth")
    assert protocol_reads("strict", "released-inpaint-pretrained")
    assert protocol_reads("strict", "text2img-dreambooth")  # ours: strict's own models
    runs = {(run.protocol, run.source) for run in grid_runs(GRID)}
    assert runs == {
        ("authors", "none"),
        ("authors", "released-text2img-dreambooth"),
        ("authors", "released-inpaint-pretrained"),
        ("strict", "none"),
        ("strict", "released-inpaint-pretrained"),
    }
    dose = {
        **GRID,
        "dose_response": {"real_per_class": [2], "synthetic_per_real": [3], "first_index": 2},
    }
    assert ("strict", "released-text2img-dreambooth") not in {
        (r.protocol, r.source) for r in grid_runs(dose)
    }


def test_a_released_source_makes_no_pool_and_trains_no_model():
    ddi = {
        "sources": ["none", "released-inpaint-dreambooth", "inpaint-pretrained"],
        "synthetic_per_real": 2,
        "transforms": [True],
        "seeds": 1,
    }
    pools = synthetic_pools(GRID, ddi, "per_n")
    assert [(p.dataset, p.source) for p in pools] == [("ddi", "inpaint-pretrained")]
    assert [r.source for r in section_ddi_runs(ddi)] == [
        "none",
        "released-inpaint-dreambooth",
        "inpaint-pretrained",
    ]


def test_a_run_records_where_its_synthetic_images_came_from():
    shards = ["res/rel/a/shard-x.tar", "res/rel/b/shard-y.tar", "res/rel/a/shard-x.tar"]
    record = synthetic_origin("released-text2img-dreambooth", shards, ["results/index.csv"])
    assert record == {
        "origin": "released",
        "source": "released-text2img-dreambooth",
        "method_variant": "text2img-dreambooth",
        "shard_folder": "res/rel",
        "n_shards": 2,
        "read_by": ["results/index.csv"],
    }
    ours = synthetic_origin(
        "inpaint-pretrained", ["r/sd/inpaint-pretrained/ddi/x/all/shard-0.tar"], []
    )
    assert ours["origin"] == "generated" and ours["shard_folder"].endswith("x/all")
    assert synthetic_origin("none", [], []) == {"origin": None}


def test_a_released_run_id_round_trips():
    run = GridRun("authors", 4, "released-text2img-dreambooth", 3, True, 111108, 2)
    assert run.run_id == "n4_sreleased-text2img-dreambooth_x3from2_t1_seed111108"
