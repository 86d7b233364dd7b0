"""What a request body must be before any endpoint sees it: small enough, and - when it says it is JSON -
UTF-8 and not nested deeper than the limit.

``RequestBodyGuard`` answers 413 before reading more than ``max_bytes`` (a declared ``Content-Length`` is
refused without reading anything; a chunked body is counted as it streams). A JSON body is read whole (it is
bounded by the same limit), checked, and handed on; an invalid one gets 400 ``invalid_encoding`` or
``json_too_deep`` instead of a parser's ``UnicodeDecodeError`` or ``RecursionError``. Every refusal uses the
one error body of ``shared.http.errors``.
"""

from __future__ import annotations

import json
import re
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.http.errors import error_body

DEFAULT_MAX_JSON_DEPTH = 64
"""Arrays and objects nested deeper than this are refused (provider payloads nest fewer than ten levels)."""

_NOT_MARKS = bytes(b for b in range(256) if b not in b'[]{}"')
_OPEN = frozenset(b"[{")
_PARENS = bytes.maketrans(b"[{]}", b"(())")
_SHALLOW_PASSES = 8
"""Nesting levels ``json_depth_exceeds`` settles with bytes operations before it walks the brackets one by one."""
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:0000|d[89a-f])", re.IGNORECASE)
"""``\\u0000`` or a UTF-16 surrogate escape: text PostgreSQL cannot store, or not text at all when unpaired."""


def media_type(content_type: str | None) -> str:
    """``type/subtype`` of a Content-Type header, lower-case, without parameters ('' when absent)."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def is_json(media: str) -> bool:
    """``application/json`` or any ``application/*+json`` (SurveyMonkey sends a vendor type)."""
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def json_depth_exceeds(body: bytes, max_depth: int) -> bool:
    """Whether the JSON text nests arrays/objects deeper than ``max_depth`` (brackets in strings do not count).

    Escaped backslashes and quotes are dropped and the text between quote pairs (string contents) is cut out,
    with bytes operations that run at C speed; only the brackets left are walked, so the check costs about
    what parsing the same body costs, and far less for hostile shapes (``bench/http_guard.py``). Text that is
    not JSON is left to the parser.

    Most strings hold no bracket: with every character but quotes and brackets dropped, each of them is an
    adjacent pair of quotes, and taking those pairs away leaves the structure's brackets only. Splitting the body
    at every quote (a bytes object per string) is needed only when a quote is left over.
    """
    if body.count(b"[") + body.count(b"{") <= max_depth:
        return False
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"") if b"\\" in body else body
    marks = unescaped.translate(None, _NOT_MARKS)
    skeleton = marks.replace(b'""', b"")
    if b'"' in skeleton:  # a string holds brackets
        skeleton = b"".join(marks.split(b'"')[::2])
    # Most bodies nest a few levels: each pass takes away the innermost pairs, one level of every branch, so
    # brackets that vanish within ``passes`` passes were balanced and nested no deeper than that.
    pairs = skeleton.translate(_PARENS)
    for _ in range(min(_SHALLOW_PASSES, max_depth)):
        inner = pairs.replace(b"()", b"")
        if not inner:
            return False
        if len(inner) > 1024 and len(pairs) - len(inner) < len(pairs) // 4:
            break  # few pairs a pass (deep nesting, as hostile bodies have) or none (unbalanced): walked below
        pairs = inner
    depth = 0
    for byte in skeleton:
        depth += 1 if byte in _OPEN else -1
        if depth > max_depth:
            return True
        if depth < 0:
            return False  # unbalanced: not JSON, for the parser to refuse
    return False


def json_has_unstorable_text(body: bytes) -> bool:
    """Whether a JSON string (key or value) holds U+0000 or a lone surrogate: not storable, not real text.

    Only bodies with such an escape are parsed (a cheap regex first); text that is not JSON is left to the parser.
    """
    if not _SUSPECT_ESCAPE.search(body):
        return False
    try:
        document = json.loads(body)
    except (ValueError, RecursionError):
        return False
    stack: list[Any] = [document]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item or any("\ud800" <= ch <= "\udfff" for ch in item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class RequestBodyGuard:
    """ASGI middleware: size limit for every body; encoding and nesting checks for JSON bodies."""

    def __init__(self, app: ASGIApp, max_bytes: int, max_json_depth: int = DEFAULT_MAX_JSON_DEPTH) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.max_json_depth = max_json_depth

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > self.max_bytes:
            await self._too_large(send)
            return
        if is_json(media_type(headers.get(b"content-type", b"").decode("latin-1"))):
            await self._json(scope, receive, send)
        else:
            await self._streamed(scope, receive, send)

    async def _json(self, scope: Scope, receive: Receive, send: Send) -> None:
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending the whole body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                await self._too_large(send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        refusal = self._json_refusal(body)
        if refusal is not None:
            await _reply(send, 400, *refusal)
            return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _json_refusal(self, body: bytes) -> tuple[str, str] | None:
        try:
            body.decode("utf-8")
        except UnicodeDecodeError as exc:
            return "invalid_encoding", f"the JSON body is not valid UTF-8 (byte {exc.start})"
        if json_depth_exceeds(body, self.max_json_depth):
            return "json_too_deep", f"the JSON body nests arrays or objects deeper than {self.max_json_depth} levels"
        if json_has_unstorable_text(body):
            return "invalid_text", "the JSON body holds a NUL character or an unpaired UTF-16 surrogate"
        return None

    async def _streamed(self, scope: Scope, receive: Receive, send: Send) -> None:
        seen = 0
        answered = False
        started = False

        async def counted_receive() -> Message:
            nonlocal seen, answered
            if answered:
                return {"type": "http.disconnect"}
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    # Answer now and tell the app the client is gone: it stops reading, and whatever it tries
                    # to answer itself is dropped.
                    if not started:
                        await self._too_large(send)
                    answered = True
                    return {"type": "http.disconnect"}
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if answered:
                return
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        await self.app(scope, counted_receive, guarded_send)

    async def _too_large(self, send: Send) -> None:
        await _reply(send, 413, "payload_too_large", f"the request body is over {self.max_bytes} bytes")


async def _reply(send: Send, status: int, code: str, message: str) -> None:
    body = json.dumps(error_body(code, message)).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
