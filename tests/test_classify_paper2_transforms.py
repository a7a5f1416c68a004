"""dermsynth.classify.paper2_transforms: the transforms axis is the identity when off; when on, each
image draws its own flip, crop, rotation, warp and lighting, fixed by (seed, epoch, step), and
torch's global random state is left as it was."""

from __future__ import annotations

from dataclasses import replace

import torch

from dermsynth.classify.paper2_transforms import standard_transforms, transform_batch
from dermsynth.classify.settings import GridSettings

ON = GridSettings(regime="ours", image_size=16, transforms=True)


def images(n: int = 6) -> torch.Tensor:
    generator = torch.Generator().manual_seed(0)
    return torch.randint(0, 256, (n, 3, 16, 16), generator=generator, dtype=torch.uint8)


def transformed(settings: GridSettings, *, seed=0, epoch=1, step=0) -> torch.Tensor:
    transform = standard_transforms(settings)
    return transform_batch(images(), transform, seed=seed, stream=2, epoch=epoch, step=step)


def test_no_transforms_is_the_identity():
    assert standard_transforms(replace(ON, transforms=False)) is None
    assert torch.equal(transformed(replace(ON, transforms=False)), images())


def test_transforms_keep_size_and_type_and_change_every_image():
    out = transformed(ON)
    assert out.shape == images().shape and out.dtype == torch.uint8
    assert all(not torch.equal(o, i) for o, i in zip(out, images(), strict=True))


def test_the_draws_are_fixed_by_seed_epoch_and_step_alone():
    assert torch.equal(transformed(ON), transformed(ON))
    assert not torch.equal(transformed(ON), transformed(ON, epoch=2))
    assert not torch.equal(transformed(ON), transformed(ON, step=1))
    assert not torch.equal(transformed(ON, seed=1), transformed(ON))
    # each image its own draw: two copies of one image come out different
    twins = images(1).repeat(2, 1, 1, 1)
    out = transform_batch(twins, standard_transforms(ON), seed=0, stream=2, epoch=1, step=0)
    assert not torch.equal(out[0], out[1])


def test_torchs_global_random_state_is_left_alone():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    transformed(ON)
    assert torch.equal(torch.rand(3), expected)


def test_only_lighting_changes_colour_not_geometry():
    lighting_only = replace(
        ON, crop_scale=(1.0, 1.0), rotation=0.0, warp=0.0, p_affine=0.0, p_lighting=1.0
    )
    flat = torch.full((4, 3, 16, 16), 100, dtype=torch.uint8)
    out = transform_batch(
        flat, standard_transforms(lighting_only), seed=0, stream=2, epoch=0, step=0
    )
    # a flat image stays flat under flips, crops and lighting; its brightness moves
    assert all(len(o.unique()) <= 3 for o in out)
    assert len({int(o.float().mean()) for o in out}) > 1
