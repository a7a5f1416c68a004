"""Static shard lists: a long product split into jobs of a fixed size, known before any runs."""

from __future__ import annotations


def shard_ranges(count: int, per_shard: int) -> list[tuple[int, int]]:
    """[start, stop) item indices of each shard of `count` items, `per_shard` per shard."""
    if per_shard < 1:
        raise ValueError(f"per_shard must be at least 1, not {per_shard}")
    return [(start, min(start + per_shard, count)) for start in range(0, count, per_shard)]
