"""Word lists the rules read, kept as data (one entry a line, `#` comments): `words("code_stopwords")`."""

from __future__ import annotations

import functools
from importlib import resources


@functools.cache
def words(name: str) -> frozenset[str]:
    """The entries of words/<name>.txt."""
    text = resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))


@functools.cache
def phrases(name: str) -> tuple[str, ...]:
    """The entries of words/<name>.txt in file order (phrases, matched as written)."""
    text = resources.files(__package__).joinpath(f"{name}.txt").read_text(encoding="utf-8")
    return tuple(line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#"))
