"""dermsynth.classify.train: early stopping on validation loss with patience, restoring the best
epoch's weights; a run killed after any epoch resumes to the same weights and history as one
never killed; a checkpoint of other settings is not resumed.

Images are 24 px uniform noise with a class colour cast (so augmentation and dropout both
change what the network sees), in three classes; the network is the paper's, narrower.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
import torch

from dermsynth.classify.data import Batches, ImageSet
from dermsynth.classify.settings import CNNSettings
from dermsynth.classify.train import HISTORY_COLUMNS, mean_loss, train_classifier

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SIZE = 24
CASTS = torch.tensor([[160, 0, 0], [0, 160, 0], [0, 0, 160]], dtype=torch.uint8)
SETTINGS = CNNSettings(
    epochs=3, batch_size=4, lr=3e-3, patience=10, image_size=SIZE, filters=(4, 8, 8), dense=16,
    dropout=0.5, seed=0,
)  # fmt: skip


def image_set(per_class: int, seed: int, labels_shift: int = 0) -> ImageSet:
    """`per_class` images of each class; with `labels_shift`, each labelled as the next class
    (a validation set the network gets the more wrong the better it learns)."""
    generator = torch.Generator().manual_seed(seed)
    classes = torch.arange(3).repeat_interleave(per_class)
    noise = torch.randint(0, 96, (len(classes), 3, SIZE, SIZE), generator=generator)
    images = (noise + CASTS[classes][:, :, None, None]).to(torch.uint8)
    labels = (classes + labels_shift) % 3
    frame = pd.DataFrame(
        {"file": [f"{seed}_{i}.png" for i in range(len(labels))], "label": "x", "source": "real"}
    )
    return ImageSet(images, labels, frame, ("a", "b", "c"))


@pytest.fixture(scope="module")
def train() -> ImageSet:
    return image_set(6, seed=1)


@pytest.fixture(scope="module")
def val() -> ImageSet:
    return image_set(2, seed=2)


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key


class Killed(Exception):
    pass


def kill_after(epoch: int):
    def hook(done: int, model: torch.nn.Module) -> None:
        if done == epoch:
            raise Killed

    return hook


def test_a_killed_run_resumes_to_the_weights_and_history_of_an_unkilled_one(tmp_path, train, val):
    model, history = train_classifier(
        train, val, settings=SETTINGS, checkpoint_path=tmp_path / "whole.pt"
    )
    with pytest.raises(Killed):
        train_classifier(
            train, val, settings=SETTINGS, checkpoint_path=tmp_path / "killed.pt",
            on_epoch_end=kill_after(2),
        )  # fmt: skip
    resumed, resumed_history = train_classifier(
        train, val, settings=SETTINGS, checkpoint_path=tmp_path / "killed.pt"
    )
    assert len(history) == 3 and list(history.columns) == HISTORY_COLUMNS
    assert_same_weights(weights(model), weights(resumed))
    pd.testing.assert_frame_equal(
        history.drop(columns="seconds"), resumed_history.drop(columns="seconds")
    )
    # and the resumed run trained only the epoch left
    checkpoint = torch.load(tmp_path / "killed.pt", weights_only=False)
    assert checkpoint["epoch"] == 3 and checkpoint["finished"]
    for key in ("model", "optimizer", "best_state", "history", "wait", "rng"):
        assert key in checkpoint


def test_training_depends_on_the_seed_alone(tmp_path, train, val):
    a, _ = train_classifier(train, val, settings=SETTINGS, checkpoint_path=tmp_path / "a.pt")
    b, _ = train_classifier(train, val, settings=SETTINGS, checkpoint_path=tmp_path / "b.pt")
    c, _ = train_classifier(
        train, val, settings=replace(SETTINGS, seed=1), checkpoint_path=tmp_path / "c.pt"
    )
    assert_same_weights(weights(a), weights(b))
    assert not torch.equal(weights(a)["classifier.4.weight"], weights(c)["classifier.4.weight"])


def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path, train, val):
    other = replace(SETTINGS, lr=1e-2, epochs=2)
    train_classifier(train, val, settings=other, checkpoint_path=tmp_path / "shared.pt")
    model, history = train_classifier(
        train, val, settings=SETTINGS, checkpoint_path=tmp_path / "shared.pt"
    )
    fresh, fresh_history = train_classifier(
        train, val, settings=SETTINGS, checkpoint_path=tmp_path / "fresh.pt"
    )
    assert_same_weights(weights(model), weights(fresh))
    assert history["val_loss"].tolist() == fresh_history["val_loss"].tolist()


def test_early_stopping_waits_patience_epochs_and_restores_the_best(tmp_path, train):
    # the validation labels are each image's class shifted by one: learning raises its loss
    wrong = image_set(2, seed=2, labels_shift=1)
    settings = replace(SETTINGS, epochs=30, patience=3, dropout=0.0, lr=1e-2)
    seen = {}

    def keep(epoch: int, model: torch.nn.Module) -> None:
        seen[epoch] = weights(model)

    model, history = train_classifier(
        train, wrong, settings=settings, checkpoint_path=tmp_path / "c.pt", on_epoch_end=keep
    )
    best = int(history.loc[history["improved"], "epoch"].iloc[-1])
    assert len(history) == best + settings.patience < settings.epochs
    assert not history.loc[history["epoch"] > best, "improved"].any()
    assert history["val_loss"].idxmin() == best - 1
    assert history["val_loss"].iloc[-1] > history["val_loss"].iloc[best - 1]
    assert_same_weights(weights(model), seen[best])
    loss, _ = mean_loss(model, Batches(wrong, 64))
    assert loss == pytest.approx(history["val_loss"].iloc[best - 1], rel=1e-6)


def test_without_early_stop_every_epoch_runs_and_the_best_is_restored(tmp_path, train, val):
    seen = {}
    settings = replace(SETTINGS, epochs=4, patience=4)
    model, history = train_classifier(
        train, val, settings=settings, checkpoint_path=tmp_path / "c.pt",
        on_epoch_end=lambda epoch, m: seen.__setitem__(epoch, weights(m)),
    )  # fmt: skip
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    assert_same_weights(weights(model), seen[int(history["val_loss"].idxmin()) + 1])
    assert not model.training
