"""``Record``: value classes written out by hand, with what ``@dataclass`` would give them.

A warm run (every file replayed from the cache) imports a handful of modules whose classes
were dataclasses. Importing ``dataclasses`` (with ``inspect`` and ``ast``) and generating each
class's methods cost more than the rest of those imports together, so these classes list their
fields in ``__slots__``, write their ``__init__``, and inherit value equality and a readable
``repr`` from here. (Classes only the engine uses stay dataclasses: LibCST imports
``dataclasses`` anyway.)
"""

from __future__ import annotations


class Record:
    """Equality by class and field values, ``repr`` with the fields, both from ``__slots__``."""

    __slots__: tuple[str, ...] = ()
    #: The fields compared and shown, when they are not exactly ``__slots__`` (a property
    #: computed from private slots).
    _fields: tuple[str, ...] | None = None

    def _names(self) -> tuple[str, ...]:
        return self._fields if self._fields is not None else self.__slots__

    def _values(self) -> tuple[object, ...]:
        return tuple(getattr(self, name) for name in self._names())

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__ or not isinstance(other, Record):
            return NotImplemented
        return self._values() == other._values()
    # (Defining __eq__ without __hash__ makes instances unhashable, as mutable dataclasses are.)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self._names())
        return f"{type(self).__name__}({fields})"
