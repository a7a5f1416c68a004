"""Small demo datasets, each built once per test session (per xdist worker) in a temporary folder.

Sizes are chosen to be small enough to run in seconds and large enough for the properties the
tests state to hold for the fixed seed: HAM10000 with 20 lesions per class of 1-3 views each
(about 280 images of 120 x 90 px), Fitzpatrick17k with 24 images per F17k-9 class and three
labels outside F17k-9, and DDI with 24 images per skin-tone group. The class lists and the DDI
class map are the workflow's own, read from config/config.yaml.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml
from prerequisites import require

from dermsynth.data.demo import (
    F17K_PARTITIONS,
    ddi_styles,
    make_ddi,
    make_fitzpatrick17k,
    make_ham10000,
)
from dermsynth.data.ingest import ingest_ddi, ingest_fitzpatrick17k, ingest_ham10000

CONFIG = Path(__file__).resolve().parents[1] / "config" / "config.yaml"
PAPER_CONFIG = CONFIG.with_name("paper.yaml")

HAM_LESIONS_PER_CLASS = 20
HAM_IMAGES_PER_LESION = (1, 3)
HAM_SIZE = (120, 90)
F17K_IMAGES_PER_CLASS = 24
F17K_OTHER_LABELS = {"acne vulgaris": 6, "eczema": 6, "melanoma": 6}
DDI_IMAGES_PER_GROUP = 24
SD_CLASS = "psoriasis"  # the one class whose words the shared tiny SD pipelines' tokenizer knows


def pytest_configure(config):
    config.addinivalue_line(
        "markers",
        "requires(present, what): the test needs `what` from outside the repository; where "
        "`present` is false it fails on CI and skips elsewhere (tests/prerequisites.py)",
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Check `requires` marks before any fixture is set up, and before an empty parameter list
    is skipped, so that CI fails such a test instead of skipping it."""
    for mark in item.iter_markers("requires"):
        try:
            require(*mark.args)
        except pytest.skip.Exception as skip:
            # as a mark, first, so the skip is reported at the test (not here) with this reason
            item.add_marker(pytest.mark.skip(reason=skip.msg), append=False)
            return


@pytest.fixture(scope="session")
def config() -> dict:
    return yaml.safe_load(CONFIG.read_text())


@pytest.fixture(scope="session")
def ham_classes(config) -> dict[str, str]:
    """dx code -> readable name, the seven HAM10000 classes."""
    return dict(config["datasets"]["ham10000"]["classes"])


@pytest.fixture(scope="session")
def f17k_classes() -> list[str]:
    """The nine F17k-9 labels (config/paper.yaml's; the demo configures three of them)."""
    return list(yaml.safe_load(PAPER_CONFIG.read_text())["datasets"]["fitzpatrick17k"]["classes"])


@pytest.fixture(scope="session")
def ddi_class_map(config) -> dict[str, list[str]]:
    return config["splits"]["ddi"]["external"]["class_map"]


@pytest.fixture(scope="session")
def ddi_diseases(config) -> dict[str, bool]:
    """DDI disease name -> malignant, as the demo configuration lists them."""
    return dict(config["demo"]["ddi"]["diseases"])


@pytest.fixture(scope="session")
def ham_root(tmp_path_factory, ham_classes) -> Path:
    """A demo HAM10000 as distributed; read-only: copy it (`copy_dataset`) to change it."""
    root = tmp_path_factory.mktemp("ham10000")
    make_ham10000(
        root, list(ham_classes), HAM_LESIONS_PER_CLASS, HAM_IMAGES_PER_LESION, HAM_SIZE, seed=0
    )
    return root


@pytest.fixture(scope="session")
def f17k_images_per_label(f17k_classes) -> dict[str, int]:
    """The demo Fitzpatrick17k's labels (F17k-9 and three others) and images of each."""
    return {label: F17K_IMAGES_PER_CLASS for label in f17k_classes} | F17K_OTHER_LABELS


@pytest.fixture(scope="session")
def f17k_root(tmp_path_factory, f17k_images_per_label) -> Path:
    """A demo Fitzpatrick17k as distributed; read-only."""
    root = tmp_path_factory.mktemp("fitzpatrick17k")
    make_fitzpatrick17k(root, f17k_images_per_label, F17K_PARTITIONS, seed=0)
    return root


@pytest.fixture(scope="session")
def ddi_root(tmp_path_factory, ddi_diseases, f17k_classes, ddi_class_map) -> Path:
    """A demo DDI as distributed; read-only."""
    root = tmp_path_factory.mktemp("ddi")
    styles = ddi_styles(list(ddi_diseases), f17k_classes, ddi_class_map)
    make_ddi(root, ddi_diseases, DDI_IMAGES_PER_GROUP, styles, seed=0)
    return root


@pytest.fixture(scope="session")
def ham_pairs(ham_root, ham_classes, config) -> pd.DataFrame:
    """The ingested demo HAM10000; tests that change it take a copy."""
    return ingest_ham10000(ham_root, ham_classes, config["datasets"]["ham10000"]["caption"])


@pytest.fixture(scope="session")
def f17k_pairs(f17k_root, f17k_classes, config) -> pd.DataFrame:
    caption = config["datasets"]["fitzpatrick17k"]["caption"]
    return ingest_fitzpatrick17k(f17k_root, f17k_classes, caption).pairs


@pytest.fixture(scope="session")
def ddi_pairs(ddi_root, config) -> pd.DataFrame:
    return ingest_ddi(ddi_root, config["datasets"]["ddi"]["caption"])


@pytest.fixture
def copy_dataset(tmp_path):
    """Copy a shared dataset (built once) into this test's folder, so the test may change it."""

    def copy(root: Path) -> Path:
        return Path(shutil.copytree(root, tmp_path / root.name))

    return copy


@pytest.fixture(scope="module")
def one_torch_thread():
    """`pytest -n 2` runs two files side by side on two cores; torch's spinning OpenMP
    threads contending for them make torch-heavy test modules several times slower."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny_sd(tmp_path_factory) -> dict[str, Path]:
    """The demo's tiny Stable Diffusion pipelines ("text2img", "inpaint" -> folder), written with
    seed 0 and a tokenizer learned from SD_CLASS's words; one set per test module."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # before huggingface_hub is first imported
    from dermsynth.sd.tiny import write_tiny_models

    return write_tiny_models(tmp_path_factory.mktemp("tiny"), seed=0, texts=[SD_CLASS])
