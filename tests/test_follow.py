"""Following a log: the lines a new tail adds to the one shown before."""

from __future__ import annotations

from pytaaad.follow import appended


def test_a_whole_log_that_grew_adds_its_new_lines() -> None:
    """When both tails are the whole file, the new lines are those after the old."""
    assert appended(["a", "b"], ["a", "b", "c", "d"]) == ("c", "d")


def test_an_unchanged_log_adds_nothing() -> None:
    """The same tail twice, or an empty one, adds no line."""
    assert appended(["a", "b"], ["a", "b"]) == ()
    assert appended(["a", "b"], []) == ()


def test_capped_tails_are_aligned_on_their_overlap() -> None:
    """Tails cut to a few lines still line up where the old one ends."""
    assert appended(["b", "c", "d"], ["c", "d", "e"]) == ("e",)
    assert appended(["a", "b", "c"], ["c", "d", "e"]) == ("d", "e")


def test_repeated_lines_take_the_longest_overlap() -> None:
    """Lines that repeat align at the longest suffix the new tail starts with."""
    assert appended(["x", "x"], ["x", "x", "x"]) == ("x",)


def test_a_log_that_outgrew_the_tail_is_all_new() -> None:
    """Without any overlap every line of the new tail is shown."""
    assert appended(["a", "b"], ["c", "d"]) == ("c", "d")
    assert appended([], ["a"]) == ("a",)
