"""FrozenDict: the read-only mapping snapshots hold where a dict would be mutable.

Snapshots are shared between the daemon's loop and worker threads that render them, so
nothing inside one may change after it is built. A FrozenDict copies what it is given,
offers only the Mapping interface, and hashes like the frozen dataclasses around it.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


class FrozenDict(Mapping[K, V]):
    __slots__ = ("_items", "_hash")

    def __init__(self, items: Mapping[K, V] | None = None, /, **named: V):
        self._items: dict[K, V] = dict(items or {}, **named)
        self._hash: int | None = None

    def __getitem__(self, key: K) -> V:
        return self._items[key]

    def __iter__(self) -> Iterator[K]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __hash__(self) -> int:
        if self._hash is None:
            self._hash = hash(frozenset(self._items.items()))
        return self._hash

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FrozenDict):
            return self._items == other._items
        if isinstance(other, Mapping):
            return self._items == dict(other.items())
        return NotImplemented

    def __repr__(self) -> str:
        return f"FrozenDict({self._items!r})"


EMPTY: FrozenDict = FrozenDict()
