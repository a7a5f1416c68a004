"""The demo's stand-in for the dermatologist: a reader who is right with a set probability."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

from dermsynth.io import write_csv
from dermsynth.reader_study.sheet import ANSWER_COLUMNS, SOURCES, read_key, write_answer_sheet

log = logging.getLogger(__name__)


def simulate_reader(
    key_path: str | Path,
    answers_path: str | Path,
    *,
    classes: dict[str, str],
    entity_accuracy: float,
    source_accuracy: float,
    seed: int,
) -> None:
    """Fill an answer sheet (.xlsx, or .csv by the path's suffix) from the key: each image's true
    entity with probability `entity_accuracy`, else another drawn uniformly; its true source
    with probability `source_accuracy`, else the other."""
    for name, p in (("entity_accuracy", entity_accuracy), ("source_accuracy", source_accuracy)):
        if not 0 <= p <= 1:
            raise ValueError(f"{name} must lie in [0, 1], got {p}")
    key = read_key(key_path, classes)
    rng = np.random.default_rng(seed)
    entities, sources = [], []
    for true_class, true_source in zip(key["class"], key["source"], strict=True):
        others = [name for code, name in classes.items() if code != true_class]
        if rng.random() < entity_accuracy or not others:
            entities.append(classes[true_class])
        else:
            entities.append(others[int(rng.integers(len(others)))])
        other_source = SOURCES[1 - SOURCES.index(true_source)]
        sources.append(true_source if rng.random() < source_accuracy else other_source)
    log.info(
        "simulated reader: %d images, entity right with p=%.2f, source with p=%.2f (seed %d)",
        len(key),
        entity_accuracy,
        source_accuracy,
        seed,
    )
    image_ids = list(key["image_id"])
    if Path(answers_path).suffix.lower() == ".csv":
        frame = pd.DataFrame(dict(zip(ANSWER_COLUMNS, [image_ids, entities, sources], strict=True)))
        write_csv(frame, answers_path)
    else:
        write_answer_sheet(
            answers_path,
            image_ids,
            classes,
            title="Simulated reader",
            entities=entities,
            sources=sources,
        )
