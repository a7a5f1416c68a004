"""The test set's verdict on a trained network (paper 1, 2.4: "We evaluated the model's
performance using the test set. We computed the classification report"): the report's numbers
from the predictions (`classify.train.predict`) as `metrics.json`, and reading them back. The
test set holds real images only unless a paper 1 run asks for the paper's composition
(`classify.paper_cnn.test_set: paper`; its record says so). No torch here: the gather jobs read
metrics through this module.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from dermsynth.class_order import paper_order
from dermsynth.io import atomic_path

TEST_SET = "real images only"
METRICS = ("precision", "recall", "f1")


def _scores(values: Mapping[str, float]) -> dict[str, float | int]:
    return {
        "precision": float(values["precision"]),
        "recall": float(values["recall"]),
        "f1": float(values["f1-score"]),
        "support": int(values["support"]),
    }


def classification_metrics(
    true: Sequence[str], predicted: Sequence[str], classes: Mapping[str, str]
) -> dict[str, Any]:
    """sklearn's classification report over every class (absent ones with support 0, no
    division warnings): accuracy, per class (in the paper's order, with its name), macro and
    weighted averages."""
    # here: paper 2's runs import this module for writing only, and sklearn slows their start
    from sklearn.metrics import classification_report

    labels = paper_order(classes)
    report = classification_report(
        list(true), list(predicted), labels=labels, output_dict=True, zero_division=0
    )
    accuracy = float(np.mean(np.asarray(true) == np.asarray(predicted)))
    return {
        "accuracy": accuracy,
        "per_class": {c: {"name": classes[c], **_scores(report[c])} for c in labels},
        "macro_avg": _scores(report["macro avg"]),
        "weighted_avg": _scores(report["weighted avg"]),
    }


def metrics_record(
    *,
    true: Sequence[str],
    predicted: Sequence[str],
    classes: Mapping[str, str],
    train: pd.DataFrame,
    n_val: int,
    history: pd.DataFrame,
    variant: str,
    protocol: str,
    run: str,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Everything `metrics.json` holds: who the run is, its data counts, its training's end
    (best epoch restored, epochs run) and the test set's classification report."""
    improved = history.loc[history["improved"].astype(bool), "epoch"]
    return {
        "run": run,
        "variant": variant,
        "protocol": protocol,
        "test_set": TEST_SET,
        "classes": dict(classes),
        **classification_metrics(true, predicted, classes),
        "n_train_real": int((train["source"] == "real").sum()),
        "n_train_synthetic": int((train["source"] == "synthetic").sum()),
        "n_val": int(n_val),
        "n_test": len(true),
        "best_epoch": int(improved.iloc[-1]) if len(improved) else 0,
        "epochs_run": len(history),
        "best_val_loss": float(history["val_loss"].min()) if len(history) else float("nan"),
        **dict(extra or {}),
    }


def write_metrics(record: Mapping[str, Any], path: str | Path) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(record, indent=2) + "\n")


def read_metrics(path: str | Path) -> dict[str, Any]:
    return json.loads(Path(path).read_text())
