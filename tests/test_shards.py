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


def test_even_ranges_spread_items_over_a_fixed_shard_count_and_may_leave_one_empty():
    from dermsynth.shards import even_ranges

    assert even_ranges(10, 3) == [(0, 3), (3, 6), (6, 10)]
    assert even_ranges(1, 2) == [(0, 0), (0, 1)]
    assert sum(stop - start for start, stop in even_ranges(461, 7)) == 461
    with pytest.raises(ValueError):
        even_ranges(5, 0)
