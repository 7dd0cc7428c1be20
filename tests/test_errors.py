"""The exception tree: one code per class, and error replies mapped back to classes."""

from __future__ import annotations

from pytaaad.errors import PytaaadError, error_from_reply


def _all_classes() -> list[type[PytaaadError]]:
    classes: list[type[PytaaadError]] = []
    pending: list[type[PytaaadError]] = [PytaaadError]
    while pending:
        cls = pending.pop()
        classes.append(cls)
        pending.extend(cls.__subclasses__())
    return classes


def test_every_error_class_has_its_own_code() -> None:
    """No two classes share a code, so a reply's code names exactly one class."""
    codes = [cls.code for cls in _all_classes()]
    assert len(codes) == len(set(codes))


def test_an_error_reply_raises_the_class_of_its_code_with_its_message() -> None:
    """error_from_reply gives the class whose code the reply names, and the message."""
    for cls in _all_classes():
        error = error_from_reply(cls.code, f"message for {cls.code}")
        assert type(error) is cls
        assert str(error) == f"message for {cls.code}"
        assert error.code == cls.code


def test_an_unknown_code_keeps_the_code_on_a_plain_pytaaad_error() -> None:
    """A code from a newer daemon gives a PytaaadError that still carries the code."""
    error = error_from_reply("brand_new", "something new")
    assert type(error) is PytaaadError
    assert (error.code, str(error)) == ("brand_new", "something new")
    assert PytaaadError.code == "error"
