"""A bounded memo for pure functions of immutable inputs (frozen models, graphs, numbers).

The core holds no state beyond these caches: each keeps at most `size` results and drops the
least recently used. Inputs are keyed by value where they hash, else by identity: an entry
keyed by identity holds a weak reference and counts only while it still points to the very
object (immutable, so the same object means the same value).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")


class BoundedCache:
    def __init__(self, size: int) -> None:
        self._size = size
        self._entries: OrderedDict[tuple, tuple[tuple, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(
        self,
        values: tuple[object, ...],
        compute: Callable[[], T],
        identities: tuple[object, ...] = (),
    ) -> T:
        """The result for `values` (by value where they hash) and `identities` (by identity:
        objects slow to hash, such as graphs), computed by `compute` on a miss."""
        key: list[object] = []
        held: list[object] = list(identities)
        for x in values:
            try:
                hash(x)
                key.append(x)
            except TypeError:
                key.append(("identity", id(x)))
                held.append(x)
        key += [("identity", id(x)) for x in identities]
        k = tuple(key)
        with self._lock:
            hit = self._entries.get(k)
            if hit is not None and all(r() is x for r, x in zip(hit[0], held, strict=True)):
                self._entries.move_to_end(k)
                return hit[1]
        value = compute()
        refs = tuple(weakref.ref(x) for x in held)
        with self._lock:
            self._entries[k] = (refs, value)
            self._entries.move_to_end(k)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)
        return value
