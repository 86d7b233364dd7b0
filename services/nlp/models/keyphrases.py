"""RAKE-style key phrases: runs of content words between stopwords and punctuation, scored by degree."""

from __future__ import annotations

import re
from collections import defaultdict

from services.nlp.models.stopwords import STOPWORDS

MAX_PHRASES = 5
MAX_WORDS = 4
MAX_CHARS = 5000

# Boundaries: punctuation, emoji, redaction placeholders like "[email]", and dashes between spaces.
_FRAGMENT_BREAK = re.compile(
    r"\[[a-z]+\]|[.,;:!?()\[\]{}\"\u201c\u201d\u00ab\u00bb\u2026|/\\<>=*#~^\u2600-\u27bf\U0001f000-\U0001faff]+"
    r"|\s[-\u2013\u2014]+\s|\n"
)
_WORD = re.compile(r"[^\W_]+(?:['-][^\W_]+)*")

# Words that carry no topic in customer feedback but are not classic function words.
_FILLER = frozenset(
    """
    really actually please thanks thank thx like just lot lots much many even since us way things thing
    something anything everything nothing one ones would could also still get got getting make made every
    always never ever quite pretty bit able maybe etc ok okay yes hi hello guys anyone someone
    """.split()
)
_STOP = {language: words | _FILLER for language, words in STOPWORDS.items()}


def extract_key_phrases(text: str, language: str = "en", *, limit: int = MAX_PHRASES) -> list[str]:
    """Up to ``limit`` lowercased, de-duplicated key phrases of ``text``, best first.

    Phrases are maximal runs of words that are not stopwords of ``language`` (English for
    unknown languages) nor filler words, at most four words long. Each word scores its degree
    over its frequency; a phrase scores the sum of its words, ties broken by first occurrence.
    """
    stop = _STOP.get(language, _STOP["en"])
    candidates: list[tuple[str, ...]] = []
    for fragment in _FRAGMENT_BREAK.split(text[:MAX_CHARS].lower()):
        run: list[str] = []
        for word in _WORD.findall(fragment.replace("\u2019", "'")):
            if word in stop or word.isdigit() or len(word) < 2:
                _flush(run, candidates)
                run = []
            else:
                run.append(word)
        _flush(run, candidates)
    if not candidates:
        return []

    frequency: dict[str, int] = defaultdict(int)
    degree: dict[str, int] = defaultdict(int)
    for phrase in candidates:
        for word in phrase:
            frequency[word] += 1
            degree[word] += len(phrase)
    scored: dict[str, tuple[float, int]] = {}
    for position, phrase in enumerate(candidates):
        key = " ".join(phrase)
        if key not in scored:
            score = sum(degree[w] / frequency[w] for w in phrase)
            scored[key] = (score, position)
    ranked = sorted(scored.items(), key=lambda kv: (-kv[1][0], kv[1][1]))
    return [phrase for phrase, _ in ranked[:limit]]


def _flush(run: list[str], candidates: list[tuple[str, ...]]) -> None:
    for start in range(0, len(run), MAX_WORDS):
        candidates.append(tuple(run[start : start + MAX_WORDS]))
