"""dermsynth.classify.paper1_cnn: paper 1's network has the layers section 2.4 lists, sized from the
image size, and starts from Keras's initialisation."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dermsynth.classify.paper1_cnn import PaperCNN, feature_side
from dermsynth.classify.settings import CNNSettings, settings_from

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.mark.parametrize(("size", "side"), [(128, 14), (64, 6), (22, 1), (23, 1), (30, 2)])
def test_each_block_takes_two_pixels_and_halves(size, side):
    # 128 -> conv 126 -> pool 63 -> 61 -> 30 -> 28 -> 14
    assert feature_side(size, 3) == side


@pytest.mark.parametrize("size", [64, 128])
def test_the_network_gives_one_logit_per_class(size):
    model = PaperCNN(7, size).eval()
    assert model(torch.rand(2, 3, size, size)).shape == (2, 7)


@pytest.mark.parametrize("size", [64, 128])
def test_parameter_count_follows_the_layers(size):
    filters, dense, classes = (32, 64, 128), 64, 7
    side = feature_side(size, 3)
    convolutions = sum(
        3 * 3 * c_in * c_out + c_out
        for c_in, c_out in zip((3, *filters[:-1]), filters, strict=True)
    )
    expected = convolutions + (128 * side * side * dense + dense) + (dense * classes + classes)
    model = PaperCNN(classes, size)
    assert sum(p.numel() for p in model.parameters()) == expected
    # by hand: convolutions 896 + 18,496 + 73,856; dense 128 * 6 * 6 * 64 + 64 (64 px) or
    # 128 * 14 * 14 * 64 + 64 (128 px); output 64 * 7 + 7
    assert expected == {64: 388_679, 128: 1_699_399}[size]


def test_layers_are_those_of_section_2_4():
    model = PaperCNN(7, 64)
    kinds = [type(m).__name__ for m in model.modules() if not list(m.children())]
    assert kinds == ["Conv2d", "ReLU", "MaxPool2d"] * 3 + [
        "Flatten",
        "Linear",
        "ReLU",
        "Dropout",
        "Linear",
    ]
    assert all(m.padding == (0, 0) for m in model.modules() if isinstance(m, nn.Conv2d))
    assert next(m for m in model.modules() if isinstance(m, nn.Dropout)).p == 0.5


def test_too_small_an_image_is_rejected():
    with pytest.raises(ValueError, match="21 px is too small"):
        PaperCNN(7, 21)


def test_weights_start_glorot_uniform_with_zero_biases():
    torch.manual_seed(0)
    model = PaperCNN(7, 64)
    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.Linear):
            fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(module.weight)
            bound = (6 / (fan_in + fan_out)) ** 0.5
            assert module.weight.abs().max() <= bound
            assert module.weight.abs().max() > 0.9 * bound
            assert torch.count_nonzero(module.bias) == 0


def test_dropout_acts_only_in_training():
    torch.manual_seed(0)
    model, x = PaperCNN(7, 32, dropout=0.5), torch.rand(4, 3, 32, 32)
    model.eval()
    assert torch.equal(model(x), model(x))
    model.train()
    assert not torch.equal(model(x), model(x))


def test_settings_default_to_the_papers_and_read_a_config():
    paper = CNNSettings()
    assert (paper.epochs, paper.batch_size, paper.patience, paper.lr) == (100, 32, 5, 1e-3)
    assert (paper.filters, paper.dense, paper.dropout) == ((32, 64, 128), 64, 0.5)
    settings = settings_from({"epochs": 3, "filters": [8, 16, 16]}, image_size=64)
    assert settings.filters == (8, 16, 16) and settings.image_size == 64
    with pytest.raises(ValueError, match="unknown CNN setting"):
        settings_from({"epoch": 3})
    with pytest.raises(ValueError, match="image_size 128 but the run's size is 64"):
        settings_from({"image_size": 128}, image_size=64)
