"""Work mapped over many items (decoding and resizing images) in worker processes, or in the
calling process alone when one worker is asked for: both answer `imap` in the items' order."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from multiprocessing import Pool
from typing import Any


class Serial:
    """A stand-in for a one-worker pool: `imap` runs in this process."""

    def __enter__(self) -> Serial:
        return self

    def __exit__(self, *exc) -> bool:
        return False

    @staticmethod
    def imap(function: Callable, items: Iterable, chunksize: int = 1) -> Iterator[Any]:
        return map(function, items)


def worker_pool(workers: int) -> Any:
    """A `multiprocessing.Pool` of `workers` processes, or `Serial()` for one (or none)."""
    return Pool(workers) if workers > 1 else Serial()
