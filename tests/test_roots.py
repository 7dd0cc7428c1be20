"""Allowed roots for configs and outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytaaad.errors import PathNotAllowed, ProtocolError
from pytaaad.roots import Roots, absolute_path


def test_paths_inside_a_root_pass_and_others_fail(tmp_path: Path) -> None:
    """A path under a root passes; one outside raises PathNotAllowed."""
    roots = Roots([tmp_path / "configs"], "config")
    assert (
        roots.check(tmp_path / "configs" / "a.json") == tmp_path / "configs" / "a.json"
    )
    with pytest.raises(PathNotAllowed, match="outside the allowed roots"):
        roots.check(tmp_path / "other" / "a.json")


def test_symlinks_cannot_escape_a_root(tmp_path: Path) -> None:
    """A symlink inside a root that points outside it is refused."""
    (tmp_path / "configs").mkdir()
    (tmp_path / "secret.json").write_text("{}")
    link = tmp_path / "configs" / "link.json"
    link.symlink_to(tmp_path / "secret.json")
    with pytest.raises(PathNotAllowed):
        Roots([tmp_path / "configs"], "config").check(link)


def test_no_roots_allow_anything(tmp_path: Path) -> None:
    """Without roots, any path is accepted."""
    assert Roots([], "config").check(tmp_path / "a.json") == tmp_path / "a.json"


def test_client_paths_must_be_absolute() -> None:
    """A relative path from a client is a bad request."""
    with pytest.raises(ProtocolError, match="absolute"):
        absolute_path("configs/a.json", "config")
