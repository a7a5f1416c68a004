"""dermsynth.classify.paper1_augment: Keras ImageDataGenerator-like random affine transforms: each
knob does what its name says, within its range, and the draws are the generator's."""

from __future__ import annotations

import math

import pytest
import torch

from dermsynth.classify.paper1_augment import Augmentation, affine_matrices, random_affine
from dermsynth.classify.settings import CNNSettings

NOTHING = Augmentation(0.0, 0.0, 0.0, 0.0, False)


def images(n: int = 6, size: int = 12) -> torch.Tensor:
    return torch.rand((n, 3, size, size), generator=torch.Generator().manual_seed(0))


def generator(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def test_no_rotation_shift_zoom_or_flip_leaves_the_images_unchanged():
    x = images()
    torch.testing.assert_close(random_affine(x, NOTHING, generator()), x, atol=1e-6, rtol=0)


def test_horizontal_flip_mirrors_about_half_of_the_images():
    x = images(n=40)
    out = random_affine(x, Augmentation(0.0, 0.0, 0.0, 0.0, True), generator())
    mirrored = [torch.allclose(o, i.flip(-1), atol=1e-6) for o, i in zip(out, x, strict=True)]
    same = [torch.allclose(o, i, atol=1e-6) for o, i in zip(out, x, strict=True)]
    assert all(m != s for m, s in zip(mirrored, same, strict=True))
    assert 10 <= sum(mirrored) <= 30


def test_each_knob_draws_within_its_range():
    n, knobs = 2000, Augmentation(20.0, 0.1, 0.2, 0.1, False)
    theta = affine_matrices(n, 16, 16, knobs, generator()).double()
    linear, shift = theta[:, :, :2], theta[:, :, 2]
    # linear = R(angle) Z: the zooms are its column norms, the angle that of its first column
    zooms = linear.norm(dim=1)
    angles = torch.rad2deg(torch.atan2(linear[:, 1, 0], linear[:, 0, 0]))
    assert 0.9 - 1e-6 <= zooms.min() and zooms.max() <= 1.1 + 1e-6
    assert -20 - 1e-4 <= angles.min() and angles.max() <= 20 + 1e-4 and angles.std() > 8
    # a shift of w times the width is 2w in normalised units, rotated with the image
    unrotated = torch.linalg.solve(linear @ torch.diag_embed(1 / zooms), shift)
    assert unrotated[:, 0].abs().max() <= 0.2 + 1e-5 and unrotated[:, 1].abs().max() <= 0.4 + 1e-5
    assert unrotated[:, 1].abs().max() > 0.35


def test_a_rotation_of_90_degrees_turns_a_square_image_a_quarter():
    x, quarter = images(n=1, size=9), Augmentation(90.0, 0, 0, 0, False)
    # the first seed whose angle lands within half a degree of +-90 turns the image by it
    for seed in range(200):
        theta = affine_matrices(1, 9, 9, quarter, generator(seed))
        if abs(abs(math.degrees(math.atan2(theta[0, 1, 0], theta[0, 0, 0]))) - 90) < 0.5:
            out = random_affine(x, quarter, generator(seed))
            turned = [torch.rot90(x, k, dims=(-2, -1)) for k in (1, 3)]
            assert min((out - t).abs().mean().item() for t in turned) < 0.02
            return
    pytest.fail("no draw near 90 degrees")


def test_augmentation_off_in_the_settings_gives_none():
    assert Augmentation.from_settings(CNNSettings(augment=False)) is None
    assert Augmentation.from_settings(CNNSettings()) == Augmentation(20.0, 0.1, 0.1, 0.1, True)
