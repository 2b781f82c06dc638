"""Output file stems without repeats, for writers of one image per input."""
from __future__ import annotations


class UniqueNames:
    """``stem``, then ``stem_1``, ``stem_2``... for a stem already given out: two inputs of the
    same name (from two folders) never overwrite each other's output."""

    def __init__(self) -> None:
        self._used: set[str] = set()

    def __call__(self, stem: str) -> str:
        name, n = stem, 0
        while name in self._used:
            n += 1
            name = f'{stem}_{n}'
        self._used.add(name)
        return name

    def __len__(self) -> int:
        """How many names were given out."""
        return len(self._used)
