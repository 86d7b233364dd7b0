"""A local HTTP server that replays a provider's documented responses (loopback only), for fetches and pollers.

Routes map a path to a queue of responses (the last one repeats), or to a handler that answers from the request
(a token endpoint, an API that checks the caller's signed token). Every request is recorded.
"""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FIXTURES = Path(__file__).parent / "fixtures"


def fixture_bytes(name: str) -> bytes:
    """The raw bytes of a recorded payload."""
    return (FIXTURES / name).read_bytes()


def fixture(name: str) -> Any:
    """A recorded JSON payload."""
    return json.loads(fixture_bytes(name))


@dataclass
class Reply:
    """One scripted answer."""

    status: int = 200
    body: bytes | str | Any = b""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> bytes:
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode("utf-8")
        return json.dumps(self.body).encode("utf-8")


@dataclass
class Seen:
    """A request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes = b""


Handler = Callable[[Seen], Reply]


class ProviderServer:
    """Start with ``with ProviderServer() as server:``; script with ``server.route(path, Reply(...), ...)``."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Reply]] = defaultdict(list)
        self.handlers: dict[str, Handler] = {}
        self.requests: list[Seen] = []
        self._lock = threading.Lock()
        server = self

        class RequestHandler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                self._answer("GET")

            def do_POST(self) -> None:
                self._answer("POST")

            def _answer(self, method: str) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(method, parts.path, parse_qs(parts.query), {k.lower(): v for k, v in self.headers.items()},
                            self.rfile.read(length) if length else b"")
                with server._lock:
                    server.requests.append(seen)
                    handler = server.handlers.get(parts.path)
                    replies = server.routes.get(parts.path)
                    reply = (replies.pop(0) if len(replies) > 1 else replies[0]) if replies else Reply(404, b"{}")
                if handler is not None:
                    reply = handler(seen)
                body = reply.encoded()
                self.send_response(reply.status)
                headers = {"Content-Type": "application/json", **reply.headers}
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                return

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """Base URL of the server."""
        host, port = self._httpd.server_address[:2]
        return f"http://{host!s}:{port}"

    def route(self, path: str, *replies: Reply) -> None:
        """Answer ``path`` with these replies in order (the last repeats)."""
        with self._lock:
            self.routes[path] = list(replies)

    def handle(self, path: str, handler: Handler) -> None:
        """Answer ``path`` by calling ``handler`` with each request."""
        with self._lock:
            self.handlers[path] = handler

    def hits(self, path: str) -> list[Seen]:
        """Requests made to ``path``."""
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def __enter__(self) -> ProviderServer:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def serving() -> Iterator[ProviderServer]:
    """Fixture body: a running server."""
    with ProviderServer() as server:
        yield server
