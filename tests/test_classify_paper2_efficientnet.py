"""dermsynth.classify.paper2_efficientnet and GridSettings: timm's network with one logit per class
behind its own input normalisation, ImageNet weights only from a local file (head replaced,
everything else strict), a seeded init, a save/load round trip; the batch size rule and the
settings a run fixes. The network is timm's tiny `test_efficientnet` (same MBConv code path)."""

from __future__ import annotations

from dataclasses import replace

import pytest
import timm
import torch

from dermsynth.classify.paper2_efficientnet import (
    build_efficientnet,
    create_efficientnet,
    load_efficientnet,
    save_efficientnet,
)
from dermsynth.classify.settings import GridSettings, grid_batch_size, grid_settings_from
from dermsynth.errors import DataError

pytestmark = pytest.mark.usefixtures("one_torch_thread")
TINY = "test_efficientnet"
SETTINGS = GridSettings(regime="ours", model_name=TINY, image_size=32)


def test_the_network_gives_one_logit_per_class_from_pixels_in_0_1():
    model = create_efficientnet(9, model_name=TINY).eval()
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 9)
    assert [name for name, _ in model.named_children()] == ["normalize", "network"]


def test_inputs_are_normalised_with_the_weights_own_mean_and_std():
    tiny = create_efficientnet(3, model_name=TINY)
    assert tiny.normalize.mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])
    # the TF ports (tf_efficientnetv2_m among them) were trained on pixels scaled to [-1, 1]
    cfg = timm.get_pretrained_cfg("tf_efficientnetv2_m")
    assert cfg.mean == (0.5, 0.5, 0.5) and cfg.std == (0.5, 0.5, 0.5)
    x = torch.full((1, 3, 2, 2), 0.485)
    assert tiny.normalize(x)[0, 0].abs().max() < 1e-6


def test_our_regime_is_timm_tf_efficientnetv2_m_and_the_authors_torchvisions():
    assert GridSettings(regime="ours").model_name == "tf_efficientnetv2_m"
    assert "tf_efficientnetv2_m" in timm.list_models()
    assert GridSettings().model_name == "efficientnet_v2_m"
    with pytest.raises(ValueError, match="the authors' regime trains torchvision's"):
        GridSettings(model_name=TINY)


def test_imagenet_weights_load_from_a_file_all_but_the_new_head(tmp_path):
    torch.manual_seed(1)
    imagenet = timm.create_model(TINY, pretrained=False, num_classes=1000)
    torch.save({"state_dict": imagenet.state_dict()}, path := tmp_path / "imagenet.pth")
    torch.manual_seed(2)
    model = create_efficientnet(9, model_name=TINY, weights=path)
    ours, theirs = model.network.state_dict(), imagenet.state_dict()
    for key, value in ours.items():
        if key.startswith("classifier."):
            assert value.shape[0] == 9  # a fresh head, one logit per class
        else:
            assert torch.equal(value, theirs[key]), key


def test_weights_of_another_network_are_refused(tmp_path):
    other = timm.create_model("mobilenetv3_small_050", pretrained=False, num_classes=1000)
    torch.save(other.state_dict(), path := tmp_path / "other.pth")
    with pytest.raises(DataError, match=r"other.pth: not weights of test_efficientnet: missing"):
        create_efficientnet(9, model_name=TINY, weights=path)
    with pytest.raises(DataError, match="never downloaded"):
        create_efficientnet(9, model_name=TINY, weights=tmp_path / "absent.pth")


def test_initial_weights_come_from_the_seed():
    a, b = build_efficientnet(SETTINGS, 4), build_efficientnet(SETTINGS, 4)
    c = build_efficientnet(replace(SETTINGS, seed=1), 4)
    assert all(torch.equal(x, y) for x, y in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.network.classifier.weight, c.network.classifier.weight)


def test_a_saved_network_loads_with_its_classes(tmp_path):
    model = build_efficientnet(SETTINGS, 3).eval()
    save_efficientnet(model, SETTINGS, ["a", "b", "c"], tmp_path / "m.pt")
    loaded, classes = load_efficientnet(tmp_path / "m.pt")
    x = torch.rand(2, 3, 32, 32)
    assert classes == ["a", "b", "c"]
    assert torch.equal(loaded(x), model(x))


@pytest.mark.parametrize(
    ("n_train", "batch"), [(9, 8), (80, 8), (99, 9), (640, 64), (1280, 128), (22572, 128)]
)
def test_our_batch_size_is_a_tenth_of_the_training_set_clipped_to_8_128(n_train, batch):
    ours = GridSettings(regime="ours")
    assert grid_batch_size(n_train) == batch
    assert ours.batch_size_for(n_train) == batch
    assert GridSettings(regime="ours", batch_size=32).batch_size_for(n_train) == 32
    assert ours.resolved(n_train).batch_size == batch


def test_settings_default_to_the_authors_and_take_the_runs_seed_and_transforms():
    paper = GridSettings()
    assert (paper.image_size, paper.lr, paper.epochs, paper.patience) == (224, 1e-3, 50, 3)
    assert (paper.adam_eps, paper.beta2, paper.weight_decay) == (1e-5, 0.99, 0.01)
    assert (paper.restore_best, paper.precision, paper.drop_last) == (False, "fp32", True)
    assert paper.weights is None and paper.transforms is False
    ours = GridSettings(regime="ours")
    assert (ours.adam_eps, ours.beta2, ours.weight_decay) == (1e-8, 0.999, 0.0)
    assert (ours.restore_best, ours.precision, ours.drop_last) == (True, "bf16", False)
    settings = grid_settings_from(
        {"regime": "ours", "model_name": TINY, "epochs": 2}, seed=3, transforms=True
    )
    assert (settings.seed, settings.transforms, settings.epochs) == (3, True, 2)
    with pytest.raises(ValueError, match="unknown grid setting"):
        grid_settings_from({"epoch": 2})
    with pytest.raises(ValueError, match="settings say seed 0 but the run's is 3"):
        grid_settings_from({"seed": 0}, seed=3)
