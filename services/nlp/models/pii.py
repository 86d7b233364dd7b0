"""Redaction of personal data (emails, phone numbers, payment cards, street addresses) from free text."""

from __future__ import annotations

import re
from collections.abc import Callable

EMAIL = "email"
PHONE = "phone"
CARD = "card"
ADDRESS = "address"

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
# 13-19 digits, optionally grouped by single spaces or dashes; Luhn decides whether it is a card.
_CARD = re.compile(r"(?<![\w+-])\d(?:[ -]?\d){12,18}(?![\w-])")
_PHONE = re.compile(
    r"(?<![\w+/.-])"
    r"(?:\+\d{1,3}[ .-]?)?"
    r"(?:\(\d{1,4}\)[ .-]?)?"
    r"\d{2,4}(?:[ .-]?\d{2,4}){1,4}"
    r"(?![\w/-]|\.\d)"
)
_DATE_LIKE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
_STREET_WORDS = (
    "street|st|avenue|ave|road|rd|boulevard|blvd|lane|ln|drive|dr|court|ct|way|place|pl|terrace|"
    "parkway|pkwy|highway|hwy|square|sq|strasse|straße"
)
_ADDRESS = re.compile(
    r"\b\d{1,5}[A-Za-z]?,?\s+"
    r"(?:[A-Z][\w'.-]*\s+){1,4}"
    rf"(?i:{_STREET_WORDS})\b\.?"
    r"(?:,?\s+(?i:suite|ste|apt|unit|floor|fl)\.?\s*#?\w+)?"
)


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn checksum used by payment card numbers."""
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _card(match: re.Match[str]) -> str | None:
    digits = re.sub(r"[ -]", "", match.group())
    return "[card]" if 13 <= len(digits) <= 19 and luhn_valid(digits) else None


def _phone(match: re.Match[str]) -> str | None:
    found = match.group()
    if _DATE_LIKE.fullmatch(found):
        return None
    digits = re.sub(r"\D", "", found)
    grouped = found.startswith(("+", "(")) or bool(re.search(r"[ .()-]", found))
    # An ungrouped run of digits is only a phone number when it is as long as one with an area code.
    if not 7 <= len(digits) <= 15 or (not grouped and len(digits) < 10):
        return None
    return "[phone]"


def redact(text: str) -> tuple[str, list[str]]:
    """Replace personal data in ``text`` with ``[email]``, ``[card]``, ``[phone]``, ``[address]``.

    Returns the redacted text and the sorted kinds that were found. Cards are 13-19 digit runs
    passing Luhn; phone numbers are 7-15 digits (10+ when not grouped), dates excluded; addresses
    are a house number, capitalised street name and a street word ("12 Harbour Road").
    """
    kinds: set[str] = set()
    text = _EMAIL.sub(lambda _: _found(kinds, EMAIL, "[email]"), text)
    text = _replace(_CARD, _card, CARD, text, kinds)
    text = _replace(_PHONE, _phone, PHONE, text, kinds)
    text = _ADDRESS.sub(lambda _: _found(kinds, ADDRESS, "[address]"), text)
    return text, sorted(kinds)


def _found(kinds: set[str], kind: str, placeholder: str) -> str:
    kinds.add(kind)
    return placeholder


def _replace(
    pattern: re.Pattern[str],
    decide: Callable[[re.Match[str]], str | None],
    kind: str,
    text: str,
    kinds: set[str],
) -> str:
    def substitute(match: re.Match[str]) -> str:
        replacement = decide(match)
        if replacement is None:
            return match.group()
        kinds.add(kind)
        return replacement

    return pattern.sub(substitute, text)
