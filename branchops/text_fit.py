"""Text that must fit a byte limit (a PR comment: GitHub's 65,535 bytes): one place that measures,
picks the richest rendering that fits, and cuts on a character edge as the last resort."""

from __future__ import annotations

from collections.abc import Iterable


def utf8_size(text: str) -> int:
    return len(text.encode())


def first_fitting(candidates: Iterable[str], limit: int) -> str | None:
    """The first of ``candidates`` (richest first) that takes at most ``limit`` UTF-8 bytes;
    None when none does. Candidates are produced lazily: a generator renders only as far as needed."""
    for text in candidates:
        if utf8_size(text) <= limit:
            return text
    return None


def truncate_utf8(text: str, limit: int, note: str = "") -> str:
    """``text`` cut so that it (plus ``note``) fits in ``limit`` UTF-8 bytes, on a character edge."""
    raw = text.encode()
    if len(raw) <= limit:
        return text
    room = limit - utf8_size(note)
    return raw[: max(room, 0)].decode("utf-8", errors="ignore") + note
