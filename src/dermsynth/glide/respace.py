"""Timestep respacing: sample a 1000-step model in fewer steps (Nichol & Dhariwal 2021, sec. 4).

Which of the original timesteps a respaced process keeps; the process on them, with betas
recomputed so that its alpha-bars are exactly the kept ones, is `diffusion.SpacedDiffusion`.
"""

from __future__ import annotations

from collections.abc import Iterable

# GLIDE's upsampler preset: 27 steps, strided per fifth of the schedule ("fast27")
FAST27_SECTIONS = "10,10,3,2,2"


def space_timesteps(num_timesteps: int, section_counts: str | Iterable[int]) -> set[int]:
    """The original timesteps kept when `num_timesteps` are respaced by `section_counts`.

    - "a,b,c" (or a list): split the steps into equal sections and take a, b, c evenly
      spaced steps from each, first and last of a section included; "N" is one section.
    - "ddimN": the DDIM paper's striding, range(0, num_timesteps, stride) with N steps.
    - "fast27": "10,10,3,2,2" with the noisiest step T-1 replaced by T-3, which the
      reference does to reduce DDIM artefacts from the noisiest timesteps.
    """
    if isinstance(section_counts, str):
        if section_counts.startswith("ddim"):
            desired = int(section_counts[len("ddim") :])
            for stride in range(1, num_timesteps):
                if len(range(0, num_timesteps, stride)) == desired:
                    return set(range(0, num_timesteps, stride))
            raise ValueError(f"cannot take exactly {desired} steps of {num_timesteps} by a stride")
        if section_counts == "fast27":
            steps = space_timesteps(num_timesteps, FAST27_SECTIONS)
            steps.remove(num_timesteps - 1)
            steps.add(num_timesteps - 3)
            return steps
        section_counts = [int(count) for count in section_counts.split(",")]
    section_counts = list(section_counts)

    size_per, extra = divmod(num_timesteps, len(section_counts))
    start = 0
    kept: list[int] = []
    for i, count in enumerate(section_counts):
        size = size_per + (1 if i < extra else 0)
        if size < count:
            raise ValueError(f"cannot divide a section of {size} steps into {count}")
        stride = 1 if count <= 1 else (size - 1) / (count - 1)
        position = 0.0
        for _ in range(count):
            kept.append(start + round(position))
            position += stride
        start += size
    return set(kept)
