"""What the request-body guard costs: the JSON nesting check against parsing the same body, and a whole
request through the guard against the same app without it.

1. ``json_depth_exceeds`` on bodies from 1 KB to 5 MB (ordinary feedback batches, and hostile shapes: 5 MB of
   ``[]``, 5 MB of ``[``, brackets inside strings), next to ``json.loads`` of the same bytes - the parse every
   JSON endpoint does anyway, so the baseline of this run.
2. Requests per second of a small JSON POST straight into an ASGI app (no network), with ``RequestBodyGuard``
   in front and without it.

    python bench/http_guard.py [--repeat 5] [--requests 3000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Callable
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from starlette.types import ASGIApp

from shared.http.bodies import DEFAULT_MAX_JSON_DEPTH, RequestBodyGuard, json_depth_exceeds


def _item(n: int) -> dict[str, Any]:
    return {"provider": "web", "external_id": f"r-{n}", "text": "The invite [email] never came {again} " * 5,
            "customer": {"id": f"C-{n}"}, "scores": {"nps": n % 11}, "metadata": {"form": {"id": "f", "tags": [1]}}}


BODIES: dict[str, bytes] = {
    "one item (300 B)": json.dumps(_item(1)).encode(),
    "batch of 1,000 items (300 KB)": json.dumps({"items": [_item(n) for n in range(1000)]}).encode(),
    "batch of 15,000 items (5 MB)": json.dumps({"items": [_item(n) for n in range(15_000)]}).encode(),
    "hostile: 5 MB of []": b"[" + b"[]," * 1_666_665 + b"[]]",
    "hostile: 5 MB of [": b"[" * 5_000_000,
    "hostile: 4 MB of escaped quotes": b'"' + b'\\"' * 2_000_000 + b'"',
}


def _best(repeat: int, call: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        try:
            call()
        except (ValueError, RecursionError):
            pass  # json.loads refuses some hostile bodies; the time to refuse is what counts
        times.append(time.perf_counter() - started)
    return min(times)


def check_vs_parse(repeat: int) -> None:
    print(f"{'body':34s} {'bytes':>10s} {'depth check':>12s} {'json.loads':>12s}  refused")
    for name, body in BODIES.items():
        check = _best(repeat, lambda b=body: json_depth_exceeds(b, DEFAULT_MAX_JSON_DEPTH))  # type: ignore[misc]
        parse = _best(repeat, lambda b=body: json.loads(b))  # type: ignore[misc]
        refused = json_depth_exceeds(body, DEFAULT_MAX_JSON_DEPTH)
        print(f"{name:34s} {len(body):>10,d} {check * 1000:>10.2f}ms {parse * 1000:>10.2f}ms  {refused}")


async def _echo(request: Request) -> JSONResponse:
    return JSONResponse({"size": len(await request.body())})


def _requests_per_s(app: ASGIApp, body: bytes, count: int) -> float:
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "http",
             "path": "/", "raw_path": b"/", "query_string": b"", "root_path": "", "server": ("b", 80),
             "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]}

    async def run() -> float:
        async def receive() -> dict[str, Any]:
            return {"type": "http.request", "body": body, "more_body": False}

        async def send(_message: dict[str, Any]) -> None:
            return None

        started = time.perf_counter()
        for _ in range(count):
            await app(dict(scope), receive, send)
        return count / (time.perf_counter() - started)

    return asyncio.run(run())


def request_overhead(count: int, repeat: int) -> None:
    bare = Starlette(routes=[Route("/", _echo, methods=["POST"])])
    guarded = RequestBodyGuard(bare, max_bytes=5_000_000)
    body = BODIES["one item (300 B)"]
    without = statistics.median(_requests_per_s(bare, body, count) for _ in range(repeat))
    with_guard = statistics.median(_requests_per_s(guarded, body, count) for _ in range(repeat))
    print(f"\nsmall JSON POST, in process: {without:,.0f} req/s without the guard (baseline), "
          f"{with_guard:,.0f} req/s with it ({(without / with_guard - 1) * 100:+.1f}% time per request)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--requests", type=int, default=3000)
    args = parser.parse_args()
    check_vs_parse(args.repeat)
    request_overhead(args.requests, args.repeat)


if __name__ == "__main__":
    main()
