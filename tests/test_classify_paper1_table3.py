"""dermsynth.classify.paper1_table3: Table 3 gathers every (protocol, variant) run, in a long and a
wide table, with the paper's published values beside the runs computed as the paper's were
(its random split, and each arm tested on its own images) and nowhere else; every row names its
test set composition. Table 2's AI columns come from the combined / paper_random run. Runs are
made up: random predictions on the seven HAM10000 classes (config/config.yaml), each run's
own."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from workflow_helpers import modules_loaded_by

from dermsynth.classify.evaluate import metrics_record
from dermsynth.classify.paper1_data import describe_test_set
from dermsynth.classify.paper1_table3 import (
    LONG_COLUMNS,
    gather_table3,
    read_paper_table2_ai,
    read_paper_table3,
    table3_long,
    table3_wide,
)
from dermsynth.errors import DataError

REFERENCE = Path(__file__).resolve().parents[1] / "resources" / "reference"
PAPER_TABLE3 = REFERENCE / "shavlokhova2023_table3.csv"
PAPER_TABLE2 = REFERENCE / "shavlokhova2023_table2.csv"
PAPER_ORDER = ["mel", "nv", "akiec", "bkl", "bcc", "df", "vasc"]
PROTOCOLS = ("paper_random", "lesion_grouped")
VARIANTS = ("original", "synthetic", "combined")
ROWS = [str(k) for k in range(1, 8)] + ["accuracy", "macro avg", "weighted avg"]


def made_up_run(
    classes: dict[str, str], protocol: str, variant: str, seed: int, test_set: str = "real"
) -> dict:
    rng = np.random.default_rng(seed)
    codes = list(classes)
    true = list(rng.choice(codes, 70))
    # right about half the time
    predicted = [t if rng.random() < 0.5 else rng.choice(codes) for t in true]
    history = pd.DataFrame({"epoch": [1, 2], "val_loss": [1.0, 0.9], "improved": [True, True]})
    n_synthetic = 0 if variant == "original" else 5
    train = pd.DataFrame({"source": ["real"] * 5 + ["synthetic"] * n_synthetic})
    return metrics_record(
        true=true,
        predicted=predicted,
        classes=classes,
        train=train,
        n_val=7,
        history=history,
        variant=variant,
        protocol=protocol,
        run="test",
        extra={
            "test_set_composition": test_set,
            "test_set": describe_test_set(test_set, variant),
            # paper_random's GLIDE learned from every image, lesion_grouped's from none of
            # its test images; the original arm reads no GLIDE
            "n_test_real_seen_by_generator": (
                None if variant == "original" else 70 if protocol == "paper_random" else 0
            ),
        },
    )


def every_arm(classes: dict[str, str], test_set: str) -> list[dict]:
    return [
        made_up_run(classes, protocol, variant, seed, test_set)
        for seed, (protocol, variant) in enumerate((p, v) for p in PROTOCOLS for v in VARIANTS)
    ]


@pytest.fixture(scope="module")
def records(ham_classes) -> list[dict]:
    """Every arm tested on the split's real images (test_set: real)."""
    return every_arm(ham_classes, "real")


@pytest.fixture(scope="module")
def paper_records(ham_classes) -> list[dict]:
    """Every arm tested on its own images (test_set: paper)."""
    return every_arm(ham_classes, "paper")


@pytest.fixture(scope="module")
def paper() -> pd.DataFrame:
    return read_paper_table3(PAPER_TABLE3)


def test_the_typed_table3_agrees_with_table2_on_the_combined_model(paper):
    # the paper's Table 2 AI columns are its Table 3 combined columns: a check of our typing
    table2 = read_paper_table2_ai(PAPER_TABLE2).set_index("row")
    combined = paper[paper["variant"] == "combined"].set_index(["row", "metric"])["paper_value"]
    for (row, metric), value in combined.items():
        column = "ai_f1" if metric == "accuracy" else f"ai_{metric}"
        assert table2.loc[row, column] == value, (row, metric)
    assert len(combined) == 7 * 3 + 1 + 2 * 3


def test_the_long_table_has_a_row_per_run_row_and_metric(records, paper):
    long = table3_long(records, paper)
    assert list(long.columns) == LONG_COLUMNS
    # per run: 7 classes and 2 averages x (precision, recall, f1, support), and accuracy
    assert len(long) == 6 * (9 * 4 + 1)
    runs = long[["protocol", "variant"]].drop_duplicates().itertuples(index=False)
    assert [tuple(r) for r in runs] == [
        (p, v) for p in PROTOCOLS for v in ("combined", "original", "synthetic")
    ]
    one = long[(long["protocol"] == "lesion_grouped") & (long["variant"] == "original")]
    assert list(dict.fromkeys(one["row"])) == ROWS
    assert list(one.loc[one["metric"] == "f1", "class"].iloc[:7]) == PAPER_ORDER
    assert set(long["test_set"]) == {"real images only"}
    seen = long.drop_duplicates(["protocol", "variant"]).set_index(["protocol", "variant"])
    seen = seen["test_real_seen_by_generator"]
    assert seen[("paper_random", "combined")] == seen[("paper_random", "synthetic")] == 70
    assert seen[("lesion_grouped", "combined")] == seen[("lesion_grouped", "synthetic")] == 0
    assert pd.isna(seen[("paper_random", "original")])


def test_the_papers_values_stand_only_beside_runs_computed_as_the_papers(records, paper):
    long = (
        table3_long(records, paper).set_index(["protocol", "variant", "row", "metric"]).sort_index()
    )
    # tested on real images, the original arm of the random split is the paper's original arm
    original = long.loc[("paper_random", "original")]
    assert original.loc[("4", "precision"), "paper_value"] == 0.30
    assert original.loc[("accuracy", "accuracy"), "paper_value"] == 0.65
    # the paper prints only the F1 of the original model's averages, and no support
    assert np.isnan(original.loc[("macro avg", "precision"), "paper_value"])
    assert original.loc[("macro avg", "f1"), "paper_value"] == 0.49
    assert np.isnan(original.loc[("1", "support"), "paper_value"])
    assert set(original["comparable_to_paper"]) == {True}
    # the paper tested the synthetic and combined arms on their own images, synthetic included
    for variant in ("synthetic", "combined"):
        arm = long.loc[("paper_random", variant)]
        assert arm["paper_value"].isna().all()
        assert set(arm["comparable_to_paper"]) == {False}
        assert set(arm["comparability"]) == {
            "no: tested on real images only; the paper's test set was 20% of the images it "
            "loaded, synthetic ones included (test_set: paper)"
        }
    # the paper split images at random, not by lesion
    grouped = long.loc["lesion_grouped"]
    assert grouped["paper_value"].isna().all()
    assert set(grouped["comparable_to_paper"]) == {False}
    assert grouped["comparability"].str.startswith("no: split lesion_grouped").all()
    record = records[2]  # paper_random, combined
    assert (
        long.loc[("paper_random", "combined", "1", "f1"), "value"]
        == (record["per_class"]["mel"]["f1"])
    )
    assert (
        long.loc[("paper_random", "combined", "accuracy", "accuracy"), "value"]
        == (record["accuracy"])
    )


def test_every_arm_of_the_random_split_is_comparable_when_tested_as_the_paper_did(
    paper_records, paper
):
    long = (
        table3_long(paper_records, paper)
        .set_index(["protocol", "variant", "row", "metric"])
        .sort_index()
    )
    assert set(long["test_set_composition"]) == {"paper"}
    assert set(long.loc["paper_random", "comparable_to_paper"]) == {True}
    assert set(long.loc["lesion_grouped", "comparable_to_paper"]) == {False}
    assert long.loc["lesion_grouped", "paper_value"].isna().all()
    assert long.loc[("paper_random", "synthetic", "accuracy", "accuracy"), "paper_value"] == 0.80
    assert long.loc[("paper_random", "combined", "5", "recall"), "paper_value"] == 0.97
    assert long.loc[("paper_random", "original", "4", "precision"), "paper_value"] == 0.30
    combined = long.loc[("paper_random", "combined")]
    assert set(combined["test_set"]) == {
        "the arm's own images, split as paper 1 split them (real and synthetic)"
    }


def test_a_run_written_before_the_option_reads_as_tested_on_real_images(records, paper):
    older = {k: v for k, v in records[2].items() if k != "test_set_composition"}
    long = table3_long([older], paper)
    assert set(long["test_set_composition"]) == {"real"}
    assert set(long["comparable_to_paper"]) == {False}


def test_the_wide_table_reads_like_the_papers(records, paper):
    wide = table3_wide(table3_long(records, paper))
    assert wide["row"].tolist() == ROWS
    assert wide["class"].tolist()[:7] == PAPER_ORDER
    assert set(wide["test_set_composition"]) == {"real"}
    assert set(wide["comparable_to_paper"]) == {"original_paper_random"}
    assert set(wide["generator_saw_test_images"]) == {
        "combined_paper_random (70 real test images), synthetic_paper_random (70 real test images)"
    }
    # row, class, composition, comparable runs, the runs whose generator saw their test images,
    # the test images per protocol (every arm of a protocol tests on the same real images),
    # then variant x metric x protocols, and the paper's columns beside original / paper_random
    assert wide.shape == (10, 2 + 3 + 2 + 3 * 3 * 2 + 3)
    assert list(wide.columns[7:9]) == [
        "combined_precision_paper_random",
        "combined_precision_lesion_grouped",
    ]
    assert list(wide.columns[13:16]) == [
        "original_precision_paper_random",
        "original_precision_paper",
        "original_precision_lesion_grouped",
    ]
    assert not [
        c for c in wide.columns if c.startswith(("synthetic", "combined")) and c.endswith("_paper")
    ]
    wide = wide.set_index("row")
    # accuracy stands in the F1 columns, as in the paper
    assert wide.loc["accuracy", "original_f1_paper"] == 0.65
    assert wide.loc["accuracy", "original_f1_paper_random"] == records[0]["accuracy"]
    assert np.isnan(wide.loc["accuracy", "original_precision_paper_random"])
    assert wide.loc["1", "support_paper_random"] == records[0]["per_class"]["mel"]["support"]


def test_the_wide_table_of_the_papers_composition_counts_each_arms_test_images(
    paper_records, paper
):
    wide = table3_wide(table3_long(paper_records, paper))
    assert set(wide["test_set_composition"]) == {"paper"}
    assert set(wide["comparable_to_paper"]) == {
        "combined_paper_random, original_paper_random, synthetic_paper_random"
    }
    # each arm has its own test images: support per run, and the paper beside each
    # paper_random run
    assert wide.shape == (10, 2 + 3 + 3 * 2 + 3 * 3 * 2 + 3 * 3)
    assert "support_paper_random" not in wide.columns
    wide = wide.set_index("row")
    assert wide.loc["accuracy", "synthetic_f1_paper"] == 0.80
    synthetic = paper_records[1]
    assert (synthetic["protocol"], synthetic["variant"]) == ("paper_random", "synthetic")
    assert (
        wide.loc["1", "synthetic_support_paper_random"]
        == (synthetic["per_class"]["mel"]["support"])
    )


def test_the_wide_table_has_no_papers_columns_for_variants_not_run(paper_records, paper):
    originals = [r for r in paper_records if r["variant"] == "original"]
    wide = table3_wide(table3_long(originals, paper))
    assert "original_f1_paper" in wide.columns
    assert not [c for c in wide.columns if c.startswith(("synthetic", "combined"))]


def test_a_second_run_of_the_same_arm_is_an_error(records, paper):
    with pytest.raises(DataError, match=r"b.json: a second run of \('paper_random', 'original'\)"):
        table3_long([records[0], records[0]], paper, sources=["a.json", "b.json"])


def test_a_class_the_paper_lacks_is_refused(ham_classes, paper):
    renamed = {("naevus" if code == "nv" else code): name for code, name in ham_classes.items()}
    record = made_up_run(renamed, "paper_random", "original", 0)
    with pytest.raises(DataError, match=r"class\(es\) \['naevus'\] are none of the paper's"):
        table3_long([record], paper, paper_path=PAPER_TABLE3)


def test_a_run_of_some_classes_keeps_the_papers_class_numbers(paper):
    some = {"bcc": "basal cell carcinoma", "nv": "melanocytic nevi", "mel": "melanoma"}
    long = table3_long([made_up_run(some, "paper_random", "combined", 0, "paper")], paper)
    f1 = long[long["metric"] == "f1"]
    assert list(zip(f1["row"], f1["class"], strict=True))[:3] == [
        ("1", "mel"),
        ("2", "nv"),
        ("5", "bcc"),
    ]
    assert f1["paper_value"].tolist()[:3] == [0.69, 0.76, 0.92]
    assert table3_wide(long)["row"].tolist() == ["1", "2", "5", *ROWS[7:]]


def write_runs(folder: Path, records: list[dict]) -> list[Path]:
    paths = []
    for record in records:
        path = folder / record["protocol"] / record["variant"] / "metrics.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(record))
        paths.append(path)
    return paths


def gather(folder: Path, records: list[dict]) -> dict[str, pd.DataFrame]:
    out = {name: folder / f"{name}.csv" for name in ("table", "wide", "table2")}
    gather_table3(
        write_runs(folder, records),
        paper_table3=PAPER_TABLE3,
        table=out["table"],
        wide=out["wide"],
        figure=folder / "f1.png",
        run="test",
        paper_table2=PAPER_TABLE2,
        table2=out["table2"],
    )
    assert (folder / "f1.png").read_bytes()[:4] == b"\x89PNG"
    return {
        name: pd.read_csv(path, dtype={"row": str}, keep_default_na=False)
        for name, path in out.items()
    }


def test_gathering_writes_table3_its_figure_and_table2s_ai_columns(tmp_path, paper_records):
    tables = gather(tmp_path, paper_records)
    assert len(tables["table"]) == 6 * 37
    assert list(tables["table"].columns) == LONG_COLUMNS
    table2 = tables["table2"]
    combined = paper_records[2]  # paper_random, combined: the paper's Table 2 AI model
    assert (combined["protocol"], combined["variant"]) == ("paper_random", "combined")
    assert table2["row"].tolist() == ROWS
    assert table2["class"].tolist()[:7] == PAPER_ORDER
    assert float(table2.loc[7, "ai_f1"]) == pytest.approx(combined["accuracy"])
    assert float(table2.loc[0, "ai_recall"]) == pytest.approx(
        combined["per_class"]["mel"]["recall"]
    )
    assert float(table2.loc[3, "paper_ai_precision"]) == 0.91
    assert float(table2.loc[9, "paper_ai_f1"]) == 0.85
    assert set(table2["test_set_composition"]) == {"paper"}
    assert set(table2["comparable_to_paper"]) == {True}
    assert int(table2.loc[7, "support"]) == combined["n_test"]


def test_table2_of_a_run_tested_on_real_images_prints_no_papers_values(tmp_path, records):
    table2 = gather(tmp_path, records)["table2"]
    assert set(table2["test_set_composition"]) == {"real"}
    assert set(table2["test_set"]) == {"real images only"}
    assert set(table2["comparable_to_paper"]) == {False}
    assert set(table2["comparability"]) == {
        "no: tested on real images only; the paper's test set was 20% of the images it "
        "loaded, synthetic ones included (test_set: paper)"
    }
    for column in ("paper_ai_precision", "paper_ai_recall", "paper_ai_f1"):
        assert set(table2[column]) == {""}
    assert float(table2.loc[0, "ai_f1"]) == pytest.approx(records[2]["per_class"]["mel"]["f1"])


def test_table2_needs_the_combined_paper_random_run(tmp_path, records):
    without = [r for r in records if r["variant"] != "combined"]
    with pytest.raises(DataError, match="need the combined/paper_random run"):
        gather_table3(
            write_runs(tmp_path, without),
            paper_table3=PAPER_TABLE3,
            table=tmp_path / "t.csv",
            wide=tmp_path / "w.csv",
            figure=tmp_path / "f.png",
            run="test",
            paper_table2=PAPER_TABLE2,
            table2=tmp_path / "t2.csv",
        )


def test_gathering_imports_no_torch():
    """The gather job reads metrics.json files into Table 3: it must not spend seconds
    importing torch and timm, as the training runs do."""
    assert not {"torch", "timm"} & modules_loaded_by("dermsynth.classify.paper1_table3")
