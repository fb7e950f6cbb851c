"""A bounded memo for pure functions of immutable inputs (frozen models, graphs, numbers).

The core holds no state beyond these caches: each keeps at most `size` results and drops the
least recently used. Inputs are keyed by value where they hash, else by identity (an entry
holds its inputs, so an identity stays theirs while the entry lives). The same objects as a
cached call's are found by identity first, without hashing them again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class BoundedCache:
    def __init__(self, size: int) -> None:
        self._size = size
        # key -> (inputs, result), least recently used first.
        self._entries: OrderedDict[tuple, tuple[tuple, Any]] = OrderedDict()
        # ids of the inputs -> key, for calls with the very same objects.
        self._by_identity: dict[tuple[int, ...], tuple] = {}
        self._lock = threading.Lock()

    def get(
        self,
        values: tuple[object, ...],
        compute: Callable[[], T],
        identities: tuple[object, ...] = (),
    ) -> T:
        """The result for `values` (by value where they hash) and `identities` (by identity:
        objects slow to hash, such as graphs), computed by `compute` on a miss."""
        inputs = values + identities
        ids = tuple(map(id, inputs))
        with self._lock:
            key = self._by_identity.get(ids)
            entry = None if key is None else self._entries.get(key)
            if entry is not None and all(a is b for a, b in zip(entry[0], inputs, strict=True)):
                self._entries.move_to_end(key)
                return entry[1]
        key = tuple(_by_value(x) for x in values) + tuple(("identity", id(x)) for x in identities)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self._by_identity[ids] = key
                return entry[1]
        result = compute()
        with self._lock:
            self._entries[key] = (inputs, result)
            self._entries.move_to_end(key)
            self._by_identity[ids] = key
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
            if len(self._by_identity) > 4 * self._size:
                live = set(self._entries)
                self._by_identity = {i: k for i, k in self._by_identity.items() if k in live}
        return result


def _by_value(x: object) -> object:
    try:
        hash(x)
    except TypeError:
        return ("identity", id(x))
    return x
