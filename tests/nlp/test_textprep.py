"""What the encoder sees: emoji named, entities decoded, whitespace folded."""

from __future__ import annotations

import pytest

from services.nlp.models.textprep import prepare


@pytest.mark.parametrize(
    ("text", "prepared"),
    [
        ("lost my bag AGAIN 😡", "lost my bag AGAIN pouting face"),
        ("Love it ❤️👍🏽", "Love it heavy black heart thumbs up sign"),
        ("fish &amp; chips", "fish & chips"),
        ("🇺🇸 flights", "flights"),
        ("  spaced \n\t out  ", "spaced out"),
        ("café, ñandú, 日本語", "café, ñandú, 日本語"),
        ("", ""),
    ],
)
def test_prepare(text: str, prepared: str) -> None:
    assert prepare(text) == prepared


def test_plain_ascii_is_only_whitespace_folded() -> None:
    text = "The invoice was wrong, call 415-555-0132. [email] @user http://x.example"
    assert prepare(text) == text
