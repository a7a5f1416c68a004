"""dermsynth.shards: static shards cover every item exactly once, in fixed-size jobs."""

from __future__ import annotations

import pytest

from dermsynth.shards import shard_ranges


def test_shard_ranges_are_consecutive_runs_of_per_shard_items_and_a_shorter_last():
    assert shard_ranges(10, 4) == [(0, 4), (4, 8), (8, 10)]
    assert shard_ranges(8, 4) == [(0, 4), (4, 8)]
    assert shard_ranges(3, 5) == [(0, 3)]


@pytest.mark.parametrize(("count", "per_shard"), [(1, 1), (7, 1), (7, 2), (7, 7), (100, 16)])
def test_shard_ranges_cover_every_item_exactly_once(count, per_shard):
    ranges = shard_ranges(count, per_shard)

    assert [i for start, stop in ranges for i in range(start, stop)] == list(range(count))
    assert all(stop - start == per_shard for start, stop in ranges[:-1])
    assert 1 <= ranges[-1][1] - ranges[-1][0] <= per_shard


def test_no_items_make_no_shards():
    assert shard_ranges(0, 4) == []


@pytest.mark.parametrize("per_shard", [0, -1])
def test_fewer_than_one_item_per_shard_is_refused(per_shard):
    with pytest.raises(ValueError, match="per_shard"):
        shard_ranges(10, per_shard)
