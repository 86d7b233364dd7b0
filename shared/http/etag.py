"""ETags for JSON GET responses: ``If-None-Match`` gets a 304 when nothing changed."""

from __future__ import annotations

import hashlib

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class ETagMiddleware:
    """Hashes each JSON body of a 200 GET into a weak ETag; answers 304 to a matching If-None-Match."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("method") != "GET":
            await self.app(scope, receive, send)
            return
        start: Message | None = None
        chunks: list[bytes] = []
        passthrough = False

        async def capture(message: Message) -> None:
            nonlocal start, passthrough
            if message["type"] not in ("http.response.start", "http.response.body"):
                await send(message)  # e.g. Starlette's http.response.debug for templates
                return
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers") or [])
                json_ok = message["status"] == 200 and headers.get(b"content-type", b"").startswith(b"application/json")
                if not json_ok:
                    passthrough = True
                    await send(message)
                    return
                start = message
                return
            if passthrough:
                await send(message)
                return
            chunks.append(message.get("body", b""))
            if message.get("more_body"):
                return
            body = b"".join(chunks)
            assert start is not None
            etag = f'W/"{hashlib.sha256(body).hexdigest()[:32]}"'.encode()
            wanted = dict(scope.get("headers") or []).get(b"if-none-match", b"")
            kept = [(k, v) for k, v in start.get("headers", []) if k.lower() not in (b"content-length", b"etag")]
            kept += [(b"etag", etag), (b"cache-control", b"private, max-age=0, must-revalidate")]
            if etag in [t.strip() for t in wanted.split(b",")]:
                await send({"type": "http.response.start", "status": 304, "headers": kept})
                await send({"type": "http.response.body", "body": b""})
                return
            kept.append((b"content-length", str(len(body)).encode()))
            await send({**start, "headers": kept})
            await send({"type": "http.response.body", "body": body})

        await self.app(scope, receive, capture)
