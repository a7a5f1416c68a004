"""dermsynth.classify.train, the one training loop of both papers: early stopping on validation
loss with patience, restoring the best epoch's weights; a run killed after any epoch resumes to
the same weights and history as one never killed; a checkpoint of other settings is not resumed;
paper 2's EfficientNet trains through the same loop, as deterministically.

Images are 24 px uniform noise with a class colour cast (so augmentation and dropout both
change what the network sees), in three classes; the network is the paper's, narrower.
"""

from __future__ import annotations

from dataclasses import replace

import pandas as pd
import pytest
import torch
from classify_fixtures import GRID_CLASSES, GRID_SIZE, toy_grid_frames, write_grid_toy

from dermsynth.classify.paper1_data import Batches, ImageSet
from dermsynth.classify.paper2_loader import file_image_set
from dermsynth.classify.settings import CNNSettings, GridSettings
from dermsynth.classify.train import (
    EPOCH_SECONDS,
    HISTORY_COLUMNS,
    grid_identity,
    mean_loss,
    train_classifier,
    train_efficientnet,
)

pytestmark = pytest.mark.usefixtures("one_torch_thread")
SIZE = 24
CASTS = torch.tensor([[160, 0, 0], [0, 160, 0], [0, 0, 160]], dtype=torch.uint8)
SETTINGS = CNNSettings(
    epochs=3,
    batch_size=4,
    lr=3e-3,
    patience=10,
    image_size=SIZE,
    filters=(4, 8, 8),
    dense=16,
    dropout=0.5,
    seed=0,
)


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
            train,
            val,
            settings=SETTINGS,
            checkpoint_path=tmp_path / "killed.pt",
            on_epoch_end=kill_after(2),
        )
    resumed, resumed_history = train_classifier(
        train, val, settings=SETTINGS, checkpoint_path=tmp_path / "killed.pt"
    )
    assert len(history) == 3 and list(history.columns) == [*HISTORY_COLUMNS, EPOCH_SECONDS]
    assert_same_weights(weights(model), weights(resumed))
    pd.testing.assert_frame_equal(
        history.drop(columns=EPOCH_SECONDS), resumed_history.drop(columns=EPOCH_SECONDS)
    )
    # and the resumed run trained only the epoch left
    checkpoint = torch.load(tmp_path / "killed.pt", weights_only=False)
    assert checkpoint["epoch"] == 3 and checkpoint["finished"]
    for key in ("model", "optimizer", "best_state", "history", "stopping", "rng"):
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
        train,
        val,
        settings=settings,
        checkpoint_path=tmp_path / "c.pt",
        on_epoch_end=lambda epoch, m: seen.__setitem__(epoch, weights(m)),
    )
    assert history["epoch"].tolist() == [1, 2, 3, 4]
    assert_same_weights(weights(model), seen[int(history["val_loss"].idxmin()) + 1])
    assert not model.training


# --- paper 2's network through the same loop ---------------------------------------------------
# timm's tiny test_efficientnet on classify_fixtures' grid toy (two pool images per class), with
# the transforms axis on and dropout, so that every random stream of the loop is exercised


@pytest.fixture(scope="module")
def grid_sets(tmp_path_factory):
    toy = write_grid_toy(tmp_path_factory.mktemp("grid_train"))
    frames = toy_grid_frames(toy, 2)
    return tuple(file_image_set(frames[s], GRID_CLASSES, GRID_SIZE) for s in ("train", "val"))


GRID_SETTINGS = GridSettings(
    regime="ours",
    model_name="test_efficientnet",
    image_size=GRID_SIZE,
    epochs=2,
    patience=5,
    lr=3e-3,
    batch_size=4,
    transforms=True,
    drop_rate=0.2,
    seed=0,
)


def test_efficientnet_training_depends_on_the_seed_alone(tmp_path, grid_sets):
    train, val = grid_sets
    one_epoch = replace(GRID_SETTINGS, epochs=1)
    runs = [
        train_efficientnet(train, val, settings=s, checkpoint_path=tmp_path / f"{k}.pt")
        for k, s in enumerate((one_epoch, one_epoch, replace(one_epoch, seed=1)))
    ]
    (a, _, _), (b, _, _), (c, _, _) = runs
    assert_same_weights(weights(a), weights(b))
    assert not torch.equal(a.network.classifier.weight, c.network.classifier.weight)


# the authors' regime (GridSettings' default) freezes the body, which checkpoints leave out
AUTHORS_SETTINGS = GridSettings(
    image_size=GRID_SIZE, epochs=2, patience=5, batch_size=4, transforms=True, seed=0
)


@pytest.mark.parametrize(
    ("settings", "frozen_body"),
    [(GRID_SETTINGS, False), (AUTHORS_SETTINGS, True)],
    ids=["ours", "authors"],
)
def test_a_killed_efficientnet_run_resumes_to_the_unkilled_ones_weights(
    tmp_path, grid_sets, settings, frozen_body
):
    train, val = grid_sets
    model, history, _ = train_efficientnet(
        train, val, settings=settings, checkpoint_path=tmp_path / "whole.pt"
    )
    with pytest.raises(Killed):
        train_efficientnet(
            train,
            val,
            settings=settings,
            checkpoint_path=tmp_path / "killed.pt",
            on_epoch_end=kill_after(1),
        )
    checkpoint = torch.load(tmp_path / "killed.pt", weights_only=False)
    frozen = {n for n, p in model.named_parameters() if not p.requires_grad}
    assert bool(frozen) == frozen_body
    assert not frozen & set(checkpoint["model"])  # the body's weights are not saved
    resumed, resumed_history, _ = train_efficientnet(
        train, val, settings=settings, checkpoint_path=tmp_path / "killed.pt"
    )
    assert_same_weights(weights(model), weights(resumed))
    pd.testing.assert_frame_equal(
        history.drop(columns=EPOCH_SECONDS), resumed_history.drop(columns=EPOCH_SECONDS)
    )
    assert torch.load(tmp_path / "killed.pt", weights_only=False)["epoch"] == 2


def test_the_batch_size_follows_the_training_set_and_the_worker_count_may_change(
    tmp_path, grid_sets
):
    train, val = grid_sets
    rule = replace(GRID_SETTINGS, batch_size=None, epochs=1)
    _, history, resolved = train_efficientnet(
        train, val, settings=rule, checkpoint_path=tmp_path / "c.pt"
    )
    assert resolved.batch_size == 8  # 8 training images: 8 // 10 clipped up to 8
    # a checkpoint made with another worker count is resumed: workers change no number
    checkpoint = tmp_path / "c.pt"
    resumed = replace(rule, num_workers=1)
    assert grid_identity(resumed.resolved(8), train, val) == grid_identity(resolved, train, val)
    _, again, _ = train_efficientnet(train, val, settings=resumed, checkpoint_path=checkpoint)
    pd.testing.assert_frame_equal(history, again)
