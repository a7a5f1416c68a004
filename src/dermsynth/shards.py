"""Static shard lists: a long product split into jobs of a fixed size, known before any runs."""

from __future__ import annotations


def shard_ranges(count: int, per_shard: int) -> list[tuple[int, int]]:
    """[start, stop) item indices of each shard of `count` items, `per_shard` per shard."""
    if per_shard < 1:
        raise ValueError(f"per_shard must be at least 1, not {per_shard}")
    return [(start, min(start + per_shard, count)) for start in range(0, count, per_shard)]


def even_ranges(count: int, parts: int) -> list[tuple[int, int]]:
    """[start, stop) item indices of `parts` shards of `count` items, as even as can be.

    For products whose item count is known only once the data are read (DDI's training images),
    the number of shards is fixed in advance and the items are spread over them; a shard may be
    empty when there are fewer items than shards.
    """
    if parts < 1:
        raise ValueError(f"parts must be at least 1, not {parts}")
    bounds = [count * i // parts for i in range(parts + 1)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))
