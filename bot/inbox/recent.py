"""Inbound events handled lately, by their platform id: a redelivery of something we did
handle (our acknowledgement was merely late) is acknowledged without doing the work again.
Stored messages are deduplicated by the database anyway; this spares the rest of the work
and the write. Bounded: the oldest ids are forgotten first."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)


class RecentIds(Generic[K]):
    def __init__(self, size: int = 10_000) -> None:
        self.size = size
        self._seen: OrderedDict[K, None] = OrderedDict()

    def __contains__(self, key: object) -> bool:
        return key in self._seen

    def __len__(self) -> int:
        return len(self._seen)

    def add(self, key: K) -> None:
        self._seen.setdefault(key)  # an ordered set: only the keys and their order matter
        while len(self._seen) > self.size:
            self._seen.popitem(last=False)

    def discard(self, key: K) -> None:
        """Forget one: its redelivery is to be handled again (the first try failed)."""
        self._seen.pop(key, None)
