"""What a text looks like to the encoder: emoji spelled out, HTML entities decoded, whitespace folded.

MiniLM's vocabulary has no emoji (they become ``[UNK]``), yet in social posts they often carry the
sentiment ("lost my bag again 😡"). Each emoji or other symbol becomes its Unicode name in words
("pouting face"); skin-tone modifiers, variation selectors, joiners and flag letters are dropped.
Training and inference both go through ``prepare``.
"""

from __future__ import annotations

import html
import re
import unicodedata
from functools import lru_cache

_SPACE = re.compile(r"\s+")
_HIGH = re.compile(r"[^\x00-\u1fff]")
_DROPPED = frozenset({"\u200d", "\ufe0e", "\ufe0f", "\u20e3"})


@lru_cache(maxsize=4096)
def _symbol_words(char: str) -> str:
    code = ord(char)
    if char in _DROPPED or 0x1F3FB <= code <= 0x1F3FF or 0x1F1E6 <= code <= 0x1F1FF or 0xE0020 <= code <= 0xE007F:
        return " "
    name = unicodedata.name(char, "")
    return f" {name.lower()} " if name else " "


def _is_symbol(char: str) -> bool:
    code = ord(char)
    return code >= 0x2000 and (
        char in _DROPPED or 0xE0020 <= code <= 0xE007F or unicodedata.category(char) in {"So", "Sk"}
    )


def prepare(text: str) -> str:
    """``text`` with emoji and symbols named, ``&amp;``-style entities decoded and runs of whitespace folded."""
    if "&" in text:
        text = html.unescape(text)
    if _HIGH.search(text):
        text = "".join(_symbol_words(c) if _is_symbol(c) else c for c in text)
    return _SPACE.sub(" ", text).strip()
