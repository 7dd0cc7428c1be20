"""Protocol version 1: framing, request validation, replies."""

from __future__ import annotations

import asyncio

import orjson
import pytest

from pytaaad.errors import (
    BadJson,
    FrameTooLarge,
    ProtocolError,
    UnknownOp,
    UnsupportedVersion,
)
from pytaaad.protocol import (
    MAX_FRAME_BYTES,
    encode_error,
    encode_result,
    parse_request,
    read_frame,
)


def _frame(**message: object) -> bytes:
    return orjson.dumps(message)


def test_valid_submit_is_parsed_with_typed_arguments() -> None:
    """A well-formed submit yields its op, id and arguments."""
    request = parse_request(
        _frame(v=1, op="submit", id="a", config="/c.json", force=True, trials=3)
    )
    assert request.op == "submit"
    assert request.id == "a"
    assert dict(request.args) == {"config": "/c.json", "force": True, "trials": 3}


def test_null_optional_arguments_are_dropped() -> None:
    """An optional argument sent as null counts as absent."""
    request = parse_request(_frame(v=1, op="status", job=None))
    assert dict(request.args) == {}


@pytest.mark.parametrize(
    ("frame", "error"),
    [
        (b"{not json", BadJson),
        (b"[1]", BadJson),
        (_frame(op="ping"), UnsupportedVersion),
        (_frame(v=True, op="ping"), UnsupportedVersion),
        (_frame(v=1), ProtocolError),
        (_frame(v=1, op="fly"), UnknownOp),
        (_frame(v=1, op="submit"), ProtocolError),
        (_frame(v=1, op="submit", config=1), ProtocolError),
        (_frame(v=1, op="submit", config="/c", trials=True), ProtocolError),
        (_frame(v=1, op="submit", config="/c", trials=1.5), ProtocolError),
        (_frame(v=1, op="ping", colour="red"), ProtocolError),
        (_frame(v=1, op="ping", id=[1]), ProtocolError),
    ],
)
def test_invalid_requests_raise_the_matching_error(
    frame: bytes, error: type[ProtocolError]
) -> None:
    """Every malformed request raises a ProtocolError of the right kind."""
    with pytest.raises(error):
        parse_request(frame)


def test_error_keeps_the_request_id_when_it_was_readable() -> None:
    """An error about a readable request carries its id for the reply."""
    with pytest.raises(UnknownOp) as raised:
        parse_request(_frame(v=1, op="fly", id=9))
    assert raised.value.request_id == 9


def test_replies_are_single_json_lines() -> None:
    """Results and errors encode as one JSON object followed by a newline."""
    ok = encode_result(3, {"pong": True})
    bad = encode_error(None, "bad_json", "nope")
    assert ok.endswith(b"\n")
    assert ok.count(b"\n") == 1
    assert orjson.loads(ok) == {"v": 1, "id": 3, "ok": True, "result": {"pong": True}}
    assert orjson.loads(bad)["error"] == {"code": "bad_json", "message": "nope"}


async def test_oversized_frame_is_skipped_and_the_next_one_read() -> None:
    """A line over the limit raises FrameTooLarge and leaves the stream usable."""
    reader = asyncio.StreamReader(limit=MAX_FRAME_BYTES)
    reader.feed_data(b"y" * (MAX_FRAME_BYTES + 10) + b"\n" + b"next\n")
    reader.feed_eof()
    with pytest.raises(FrameTooLarge):
        await read_frame(reader)
    assert await read_frame(reader) == b"next"
    assert await read_frame(reader) is None


async def test_unterminated_last_frame_is_still_read() -> None:
    """Data before EOF without a newline is returned as a last frame."""
    reader = asyncio.StreamReader(limit=MAX_FRAME_BYTES)
    reader.feed_data(b"one\ntwo")
    reader.feed_eof()
    assert await read_frame(reader) == b"one"
    assert await read_frame(reader) == b"two"
    assert await read_frame(reader) is None
