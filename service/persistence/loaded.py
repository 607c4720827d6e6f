"""Reading named values off a record the case file holds, whatever it is: an ORM object's loaded values straight
from its instance dict (what its attributes would return, without a descriptor call each), or, when one is not
loaded (expired, deferred), through the ORM, which loads it; a plain row (a named tuple, a driver's row) by
attribute. The state digest and the indicators' records read every record of a case at every write."""

from __future__ import annotations

from operator import attrgetter, itemgetter
from typing import Any


class LoadedValues:
    """``reader(record)``: the values of ``names`` (two or more), as a tuple in their order."""

    def __init__(self, *names: str) -> None:
        if len(names) < 2:
            raise ValueError("LoadedValues reads two or more names (itemgetter of one gives no tuple)")
        self.names = names
        self._from_dict, self._from_attributes = itemgetter(*names), attrgetter(*names)

    def __call__(self, record: Any) -> tuple[Any, ...]:
        values = getattr(record, "__dict__", None)
        if values is not None:
            try:
                return self._from_dict(values)
            except KeyError:  # a value not loaded: the ORM loads it
                pass
        return self._from_attributes(record)
