"""The one fitting routine: the richest candidate that fits, and a cut on a character edge."""

from __future__ import annotations

from collections.abc import Iterator

from branchops.text_fit import first_fitting, truncate_utf8, utf8_size


def test_the_first_candidate_within_the_limit_wins_and_later_ones_are_not_rendered() -> None:
    rendered: list[str] = []

    def candidates() -> Iterator[str]:
        for text in ("é" * 6, "é" * 5, "é" * 2, "x"):  # 12, 10, 4 and 1 bytes
            rendered.append(text)
            yield text

    assert first_fitting(candidates(), 10) == "é" * 5
    assert rendered == ["é" * 6, "é" * 5]  # the leaner ones were never produced
    assert first_fitting(["abc", "abcd"], 2) is None


def test_a_cut_never_splits_a_character_and_keeps_the_note_within_the_limit() -> None:
    text = "ab" + "€" * 10  # 2 + 30 bytes
    assert truncate_utf8(text, 100) == text
    cut = truncate_utf8(text, 9, note="…")  # 3 bytes of note leave 6: "ab" + one 3-byte "€" = 5
    assert cut == "ab€…" and utf8_size(cut) <= 9
    assert truncate_utf8("€€", 1) == ""  # not even one character fits
