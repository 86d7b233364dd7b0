"""The body guard's JSON depth check against the nesting of the parsed document, and against the plain walk."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from shared.http.bodies import json_depth_exceeds

TRICKY = st.text(alphabet=st.sampled_from(list('ab[]{}"\\/é\n\u2028')), max_size=12)
DOCUMENTS = st.recursive(
    st.none() | st.booleans() | st.integers() | TRICKY,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TRICKY, inner, max_size=4),
    max_leaves=40,
)


def depth(value: Any) -> int:
    """Arrays and objects nested in ``value``, itself included."""
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    return 0


def walk(body: bytes, max_depth: int) -> bool:
    """The check without its shortcuts: cut out strings by splitting at quotes, walk every bracket."""
    unescaped = body.replace(b"\\\\", b"").replace(b'\\"', b"")
    level = 0
    for byte in b"".join(unescaped.split(b'"')[::2]):
        if byte in b"[{":
            level += 1
        elif byte in b"]}":
            level -= 1
        if level > max_depth:
            return True
        if level < 0:
            return False
    return False


@settings(max_examples=400, deadline=None)
@given(document=DOCUMENTS, ascii_only=st.booleans())
def test_the_check_agrees_with_the_parsed_nesting(document: Any, ascii_only: bool) -> None:
    body = json.dumps(document, ensure_ascii=ascii_only).encode()
    nested = depth(document)
    for max_depth in {0, 1, 2, max(nested - 1, 0), nested, nested + 1}:
        assert json_depth_exceeds(body, max_depth) == (nested > max_depth), (body, max_depth)


@settings(max_examples=400, deadline=None)
@given(body=st.binary(max_size=80) | st.text(alphabet=st.sampled_from(list('[]{}"\\ ax')), max_size=80).map(
    str.encode), max_depth=st.integers(0, 6))
def test_on_any_bytes_the_check_answers_as_the_plain_walk(body: bytes, max_depth: int) -> None:
    """Text that is not JSON included: the shortcuts never change the answer."""
    assert json_depth_exceeds(body, max_depth) == walk(body, max_depth)
