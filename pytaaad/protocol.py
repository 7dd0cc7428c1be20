"""Protocol version 1: newline-delimited JSON requests and responses over a stream.

A request is one JSON object on one line::

    {"v": 1, "op": "submit", "id": 7, "config": "/srv/pytaaa/naz100.json"}

and gets exactly one response line, echoing ``id``::

    {"v": 1, "id": 7, "ok": true, "result": {...}}
    {"v": 1, "id": 7, "ok": false, "error": {"code": "bad_config", "message": "..."}}
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import orjson

from pytaaad.errors import (
    BadJson,
    FrameTooLarge,
    ProtocolError,
    UnknownOp,
    UnsupportedVersion,
)

if TYPE_CHECKING:
    import asyncio

logger = logging.getLogger(__name__)

PROTOCOL_VERSION = 1
# The daemon closes a connection that sends nothing for this long; clients reconnect.
IDLE_SECONDS = 120.0
MAX_FRAME_BYTES = 1024 * 1024
MAX_ID_CHARS = 128
MAX_STRING_CHARS = 4096
MAX_TRIALS = 10_000
MAX_SEED = 2**64 - 1
MAX_COUNT = 1_000_000
MAX_JOB_ID = 2**63 - 1
HEADER_FIELDS = frozenset({"v", "op", "id"})


@dataclass(frozen=True)
class Field:
    """One argument of an operation: its JSON type, whether it must be present and,
    for integers, the range it must lie in.
    """

    kind: type
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None


JOB_ID = Field(int, minimum=1, maximum=MAX_JOB_ID)


OPERATIONS: Mapping[str, Mapping[str, Field]] = {
    "ping": {},
    "submit": {
        "config": Field(str, required=True),
        "kind": Field(str),
        "force": Field(bool),
        "trials": Field(int, minimum=1, maximum=MAX_TRIALS),
        "seed": Field(int, minimum=0, maximum=MAX_SEED),
    },
    "status": {"job": JOB_ID, "config": Field(str)},
    "cancel": {"job": JOB_ID, "config": Field(str)},
    "logs": {
        "job": JOB_ID,
        "config": Field(str),
        "lines": Field(int, minimum=1, maximum=MAX_COUNT),
    },
    "history": {
        "config": Field(str),
        "limit": Field(int, minimum=1, maximum=MAX_COUNT),
    },
    "shutdown": {},
}


@dataclass(frozen=True)
class Request:
    """A validated request: the operation, the client's id and the typed arguments."""

    op: str
    id: str | int | None
    args: Mapping[str, Any]


async def read_frame(reader: asyncio.StreamReader) -> bytes | None:
    """Return the next line without its newline, or None at the end of the stream.

    The reader's limit must be MAX_FRAME_BYTES. A longer line is read to its end and
    dropped, then FrameTooLarge is raised, so the connection stays usable.
    """
    # Imported here: clients import this module for its constants, and asyncio costs
    # a command-line call tens of milliseconds.
    import asyncio

    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        return exc.partial or None
    except asyncio.LimitOverrunError as exc:
        await _skip_line(reader, exc.consumed)
        raise FrameTooLarge(f"a frame is longer than {MAX_FRAME_BYTES} bytes") from None
    return line[:-1]


async def _skip_line(reader: asyncio.StreamReader, consumed: int) -> None:
    import asyncio

    while True:
        await reader.readexactly(consumed)
        try:
            await reader.readuntil(b"\n")
        except asyncio.LimitOverrunError as exc:
            consumed = exc.consumed
        except asyncio.IncompleteReadError:
            return
        else:
            return


def parse_request(frame: bytes) -> Request:
    """Decode and validate one frame; raise a ProtocolError that names the fault."""
    try:
        message = orjson.loads(frame)
    except orjson.JSONDecodeError as exc:
        raise BadJson(f"not valid JSON: {exc}") from None
    if not isinstance(message, dict):
        raise BadJson(f"a request must be a JSON object, got {_type_name(message)}")
    request_id = _request_id(message)
    try:
        return _validated(message, request_id)
    except ProtocolError as exc:
        exc.request_id = request_id
        raise


def _request_id(message: Mapping[str, Any]) -> str | int | None:
    value = message.get("id")
    if isinstance(value, bool) or not isinstance(value, str | int | None):
        return None
    if isinstance(value, str) and len(value) > MAX_ID_CHARS:
        return None
    return value


def _validated(message: Mapping[str, Any], request_id: str | int | None) -> Request:
    version = message.get("v")
    if type(version) is not int or version != PROTOCOL_VERSION:
        raise UnsupportedVersion(
            f"protocol version {version!r} is not supported; "
            f'send "v": {PROTOCOL_VERSION}'
        )
    if "id" in message and request_id is None and message["id"] is not None:
        raise ProtocolError(
            f"'id' must be an integer or a string of at most {MAX_ID_CHARS} characters"
        )
    op = message.get("op")
    if not isinstance(op, str):
        raise ProtocolError(f"'op' must be a string, got {_type_name(op)}")
    fields = OPERATIONS.get(op)
    if fields is None:
        raise UnknownOp(f"unknown op {op[:40]!r}; known: {', '.join(OPERATIONS)}")
    return Request(op=op, id=request_id, args=_arguments(op, fields, message))


def _arguments(
    op: str, fields: Mapping[str, Field], message: Mapping[str, Any]
) -> dict[str, Any]:
    args: dict[str, Any] = {}
    for name, value in message.items():
        if name in HEADER_FIELDS:
            continue
        field = fields.get(name)
        if field is None:
            raise ProtocolError(f"op {op!r} has no argument {name[:40]!r}")
        if value is None and not field.required:
            continue
        args[name] = _checked(op, name, field, value)
    for name, field in fields.items():
        if field.required and name not in args:
            raise ProtocolError(f"op {op!r} needs argument {name!r}")
    return args


def _checked(op: str, name: str, field: Field, value: Any) -> Any:
    # bool is a subclass of int in Python, but true is not a trial count in JSON.
    wrong_bool = isinstance(value, bool) and field.kind is not bool
    if wrong_bool or not isinstance(value, field.kind):
        raise ProtocolError(
            f"op {op!r}: {name!r} must be {_json_type(field)}, got {_type_name(value)}"
        )
    if isinstance(value, str) and len(value) > MAX_STRING_CHARS:
        raise ProtocolError(f"op {op!r}: {name!r} is longer than {MAX_STRING_CHARS}")
    if isinstance(value, int) and not _in_range(value, field):
        raise ProtocolError(
            f"op {op!r}: {name!r} must be {_json_type(field)}, got {_short(value)}"
        )
    return value


def _in_range(value: int, field: Field) -> bool:
    low_ok = field.minimum is None or value >= field.minimum
    return low_ok and (field.maximum is None or value <= field.maximum)


def _short(value: int) -> str:
    text = str(value)
    return text if len(text) <= 24 else f"{text[:10]}...({len(text)} digits)"


def _json_type(field: Field) -> str:
    name = {str: "a string", int: "an integer", bool: "true or false"}[field.kind]
    if field.minimum is not None and field.maximum is not None:
        name += f" from {field.minimum} to {field.maximum}"
    return name


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, float) and value.is_integer():
        return f"{value:g}, a number out of the integer range"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"


def encode_result(request_id: str | int | None, result: Mapping[str, Any]) -> bytes:
    """One success response line."""
    return _encode(
        {"v": PROTOCOL_VERSION, "id": request_id, "ok": True, "result": result}
    )


def encode_error(request_id: str | int | None, code: str, message: str) -> bytes:
    """One error response line."""
    error = {"code": code, "message": message}
    return _encode(
        {"v": PROTOCOL_VERSION, "id": request_id, "ok": False, "error": error}
    )


def _encode(response: Mapping[str, Any]) -> bytes:
    return orjson.dumps(response, default=str, option=orjson.OPT_APPEND_NEWLINE)
