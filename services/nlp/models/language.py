"""Language identification from function-word profiles, without a downloaded model."""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

from services.nlp.models.stopwords import STOPWORDS

UNDETERMINED = "und"
MIN_WORDS = 3
MIN_SCORE = 1.0
MIN_HIT_SHARE = 0.1
MAX_CHARS = 5000

_TOKEN = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")


def _word_weights() -> dict[str, dict[str, float]]:
    # A word shared by several languages ("de", "a", "en") says less about which one it is.
    owners = Counter(word for words in STOPWORDS.values() for word in words)
    return {lang: {w: 1.0 / owners[w] for w in words} for lang, words in STOPWORDS.items()}


_WEIGHTS = _word_weights()

# Letters that only some of the supported languages use; a small nudge for short texts.
_LETTER_HINTS: dict[str, tuple[str, ...]] = {
    "ñ": ("es",),
    "¿": ("es",),
    "¡": ("es",),
    "ã": ("pt",),
    "õ": ("pt",),
    "ç": ("pt", "fr"),
    "ß": ("de",),
    "ä": ("de",),
    "ö": ("de",),
    "ü": ("de",),
    "œ": ("fr",),
    "ê": ("fr", "pt"),
    "è": ("fr", "it"),
    "ò": ("it",),
    "ì": ("it",),
    "ĳ": ("nl",),
}
_LETTER_HINT_WEIGHT = 0.5


_ASCII_ODD = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def looks_binary(text: str) -> bool:
    """True when over a tenth of ``text`` is control, replacement, private-use or unassigned characters."""
    if not text:
        return False
    if text.isascii():  # the common case, without a per-character Unicode lookup
        return len(_ASCII_ODD.findall(text)) * 10 > len(text)
    odd = sum(
        1
        for ch in text
        if ch not in "\t\n\r" and (ch == "\ufffd" or unicodedata.category(ch) in {"Cc", "Co", "Cn", "Cs"})
    )
    return odd * 10 > len(text)


def supported_languages() -> list[str]:
    """ISO 639-1 codes this detector can return (besides ``"und"``)."""
    return sorted(STOPWORDS)


def detect_language(text: str) -> str:
    """Best-guess ISO 639-1 code of ``text``, or ``"und"`` when it is too short, not text, or unknown.

    Scores each language by how many of its function words occur, each word weighted by how
    many languages share it. Only the first 5,000 characters are read.
    """
    sample = text[:MAX_CHARS].replace("\u2019", "'")
    if looks_binary(sample):
        return UNDETERMINED
    tokens = [t.lower() for t in _TOKEN.findall(sample)]
    if len(tokens) < MIN_WORDS:
        return UNDETERMINED
    scores = dict.fromkeys(STOPWORDS, 0.0)
    hits = 0
    for token in tokens:
        hit = False
        for lang, weights in _WEIGHTS.items():
            weight = weights.get(token)
            if weight is None and "'" in token:
                weight = sum(weights.get(part, 0.0) for part in token.split("'")) or None
            if weight is not None:
                scores[lang] += weight
                hit = True
        hits += hit
    lowered = sample.lower()
    for letter, langs in _LETTER_HINTS.items():
        if letter in lowered:
            for lang in langs:
                scores[lang] += _LETTER_HINT_WEIGHT / len(langs)
    ranked = sorted(scores.items(), key=lambda kv: kv[1], reverse=True)
    (best, best_score), (_, runner_up) = ranked[0], ranked[1]
    if best_score < MIN_SCORE or hits < MIN_HIT_SHARE * len(tokens) or best_score == runner_up:
        return UNDETERMINED
    return best
