"""The authors' regime of paper 2's classifier held to fastai 2.8 itself: the learner their
scripts build (`vision_learner(dls, arch=efficientnet_v2_m)`, offline, its "pretrained" weights a
stand-in file in the torch hub cache) against `dermsynth.classify.authors`."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
import torchvision
from PIL import Image
from prerequisites import require_import

from dermsynth.classify import authors
from dermsynth.classify.settings import GridSettings, stepped_batch_size
from dermsynth.classify.state import trainable_parameters
from dermsynth.classify.train import EarlyStopping

fastai_vision = require_import("fastai.vision.all")  # a test dependency

CLASSES = ["a", "b", "c"]
SIZE = 32


@pytest.fixture(scope="module")
def stand_in(tmp_path_factory):
    """A TORCH_HOME whose hub cache holds stand-in efficientnet_v2_m weights (random, seeded)."""
    home = tmp_path_factory.mktemp("torch_home")
    torch.manual_seed(0)
    path = home / "hub" / "checkpoints" / authors.WEIGHTS_FILE
    path.parent.mkdir(parents=True)
    torch.save(torchvision.models.efficientnet_v2_m(weights=None).state_dict(), path)
    return home, path


@pytest.fixture(scope="module")
def learner(stand_in, tmp_path_factory):
    """fastai's learner as the authors' Figure 3 script builds it (with transforms), on 12
    images of 3 classes."""
    home, _ = stand_in
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    rows = []
    for i in range(12):
        name = f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (SIZE, SIZE + 8, 3), dtype=np.uint8)).save(
            folder / name
        )
        rows.append({"location": name, "label": CLASSES[i % 3], "is_valid": i >= 9})
    mp = pytest.MonkeyPatch()
    mp.setenv("TORCH_HOME", str(home))
    try:
        dls = fastai_vision.ImageDataLoaders.from_df(
            pd.DataFrame(rows),
            folder,
            fn_col="location",
            label_col="label",
            valid_col="is_valid",
            bs=4,
            item_tfms=fastai_vision.Resize(SIZE),
            batch_tfms=fastai_vision.aug_transforms(),
            num_workers=0,
            device="cpu",
        )
        torch.manual_seed(1)
        learn = fastai_vision.vision_learner(
            dls, arch=torchvision.models.efficientnet_v2_m, metrics=[fastai_vision.accuracy]
        )
    finally:
        mp.undo()
    return learn


@pytest.fixture
def ours(stand_in):
    _, weights = stand_in
    torch.manual_seed(1)
    return authors.build_model(len(CLASSES), weights)


def test_the_network_has_fastais_parameters_in_order_and_the_same_ones_train(learner, ours):
    theirs = learner.model
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [
        (n, p.shape) for n, p in theirs.named_parameters()
    ]
    assert [(n, b.shape) for n, b in ours.named_buffers()] == [
        (n, b.shape) for n, b in theirs.named_buffers()
    ]
    assert [p.requires_grad for p in ours.parameters()] == [
        p.requires_grad for p in theirs.parameters()
    ]
    # frozen: the body but for its BatchNorm layers; the head trains
    trainable = trainable_parameters(ours)
    assert trainable == sum(p.numel() for p in theirs.parameters() if p.requires_grad)
    assert trainable < sum(p.numel() for p in ours.parameters()) / 10
    # the body's weights are the file's, in both
    body, their_body = ours[0].state_dict(), theirs[0].state_dict()
    assert all(torch.equal(body[k], their_body[k]) for k in body)


def test_the_head_starts_as_fastais(learner, ours):
    theirs = dict(learner.model[1].named_parameters())
    for name, parameter in ours[1].named_parameters():
        if parameter.ndim == 1:  # BatchNorm1d: weight 1, bias 1e-3
            assert torch.equal(parameter, theirs[name])
        else:  # Kaiming normal: the same spread
            assert parameter.std().item() == pytest.approx(theirs[name].std().item(), rel=0.05)
            fan_in = parameter.shape[1]
            assert parameter.std().item() == pytest.approx((2 / fan_in) ** 0.5, rel=0.05)


def test_with_fastais_weights_the_outputs_are_fastais(learner, ours):
    ours.load_state_dict(learner.model.state_dict())
    x = torch.rand(2, 3, SIZE, SIZE)
    with torch.no_grad():
        assert torch.equal(ours.eval()(x), learner.model.eval()(x))


def test_fastai_adds_no_normalisation_for_this_architecture(learner):
    """fastai's model_meta has no statistics for efficientnet_v2_m: the network sees pixels /
    255, as ours does (its outputs equal fastai's on the same input, above)."""
    names = [type(t).__name__ for t in learner.dls.after_batch.fs]
    assert "Normalize" not in names
    assert names[0] == "IntToFloatTensor"


def test_one_optimiser_step_updates_as_fastais_adam(learner, ours):
    theirs = learner.model
    ours.load_state_dict(theirs.state_dict())
    before = {k: v.clone() for k, v in ours.state_dict().items()}
    ours.train(), theirs.train()
    x, y = torch.rand(4, 3, SIZE, SIZE), torch.tensor([0, 1, 2, 1])
    torch.manual_seed(5)  # dropout and stochastic depth draw alike
    learner.loss_func(theirs(x), y).backward()
    learner.opt.step()
    torch.manual_seed(5)
    F.cross_entropy(ours(x), y).backward()
    authors.make_optimizer(ours, 1e-3).step()
    assert learner.opt.hypers[0]["lr"] == 1e-3 and learner.opt.hypers[0]["wd"] == 0.01
    mine, reference = ours.state_dict(), theirs.state_dict()
    for name, value in reference.items():
        # Adam's first step moves each trained value by about lr: equal to float rounding
        assert torch.allclose(mine[name], value, rtol=0, atol=1e-6), name
    trained = [n for n, p in ours.named_parameters() if p.requires_grad]
    frozen = [n for n, p in ours.named_parameters() if not p.requires_grad]
    assert all(not torch.equal(mine[n], before[n]) for n in trained)
    assert all(torch.equal(mine[n], before[n]) for n in frozen)


def test_weight_decay_spares_norms_and_biases_as_fastai(learner, ours):
    exempt = {id(p) for p in authors.norm_and_bias_parameters(ours)}
    groups = authors.make_optimizer(ours, 1e-3).param_groups
    assert {g["weight_decay"] for g in groups} == {0.01, 0.0}
    for group in groups:
        assert all((id(p) in exempt) == (group["weight_decay"] == 0.0) for p in group["params"])
    their_exempt = fastai_vision.norm_bias_params(learner.model, True)
    assert len(exempt) == len(their_exempt)


def test_fastai_augment_is_the_dataloaders_batch_transforms(learner):
    """Our call of aug_transforms() on a float batch draws and warps as fastai's training
    DataLoader does after IntToFloatTensor."""
    images = torch.randint(0, 256, (4, 3, SIZE, SIZE), dtype=torch.uint8)
    train = learner.dls.train
    train.before_iter()  # as each epoch does: the batch pipeline learns it is the training set's
    assert train.after_batch.split_idx == 0
    torch.manual_seed(3)
    theirs = train.after_batch(fastai_vision.TensorImage(images))
    torch.manual_seed(3)
    mine = authors.fastai_augment()(images.float() / 255)
    assert type(mine) is torch.Tensor
    assert torch.allclose(mine, theirs.as_subclass(torch.Tensor), atol=1e-6)
    assert not torch.allclose(mine, images.float() / 255, atol=1e-2)


def their_batch_size(n_train: int, dose: bool) -> int:
    """The if / elif of their scripts (dose: dose_response.py's, with 128)."""
    if dose and n_train / 10 >= 500:
        return 128
    if n_train / 10 >= 100:
        return 64
    if n_train / 10 >= 10:
        return 32
    return 8


@pytest.mark.parametrize("n_train", [9, 99, 100, 999, 1000, 4999, 5000, 22800])
def test_the_batch_size_is_their_scripts(n_train):
    figure3 = GridSettings()
    dose = GridSettings(batch_steps=((500, 128), (100, 64), (10, 32)), restore_best=True)
    assert figure3.batch_size_for(n_train) == their_batch_size(n_train, dose=False)
    assert dose.batch_size_for(n_train) == their_batch_size(n_train, dose=True)
    assert stepped_batch_size(n_train, figure3.batch_steps) == figure3.batch_size_for(n_train)


def fastai_stopping_epochs(losses: list[float], patience: int) -> int:
    """How many epochs fastai's EarlyStoppingCallback lets run on these validation losses."""
    from types import SimpleNamespace

    recorder = SimpleNamespace(metric_names=["epoch", "train_loss", "valid_loss"], values=[])
    callback = fastai_vision.EarlyStoppingCallback(
        monitor="valid_loss", min_delta=0.0, patience=patience
    )
    callback.learn = SimpleNamespace(recorder=recorder, epoch=0)
    callback.before_fit()
    for epoch, loss in enumerate(losses):
        callback.learn.epoch = epoch
        recorder.values.append([1.0, loss])
        try:
            callback.after_epoch()
        except fastai_vision.CancelFitException:
            return epoch + 1
    return len(losses)


@pytest.mark.parametrize(
    "losses",
    [
        [1.0, 0.9, 0.95, 0.96, 0.97, 0.5],
        [1.0, 0.9, 0.9, 0.89, 0.95, 0.95, 0.95, 0.1],
        [3.0, 2.0, 1.0, 0.5, 0.25],
        [1.0, 1.0, 1.0, 1.0],
    ],
)
def test_early_stopping_ends_where_fastais_does(losses):
    stopping, epochs = EarlyStopping(patience=3), 0
    for epoch, loss in enumerate(losses, start=1):
        stopping.update(epoch, loss)
        epochs = epoch
        if stopping.stop:
            break
    assert epochs == fastai_stopping_epochs(losses, patience=3)
