"""Wording shared by the command line and the window: counts with the right noun form."""

from __future__ import annotations


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``"1 version"``, ``"2 versions"``, ``"1,200 rows"``; ``plural_form`` for irregular nouns ("entries")."""
    noun = singular if count == 1 else (plural_form or f"{singular}s")
    return f"{count:,} {noun}"
