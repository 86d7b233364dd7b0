"""Language identification from function-word profiles."""

from __future__ import annotations

import pytest

from services.nlp.models.language import detect_language, supported_languages


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("The setup was easy but the support team is very slow to answer our questions.", "en"),
        ("La configuración fue fácil, pero el equipo de soporte tarda mucho en responder.", "es"),
        ("La configuration était simple, mais le support met beaucoup de temps à répondre.", "fr"),
        ("Die Einrichtung war einfach, aber der Support antwortet leider sehr langsam.", "de"),
        ("A configuração foi fácil, mas o suporte demora muito para responder.", "pt"),
        ("La configurazione è stata facile, ma il supporto è molto lento a rispondere.", "it"),
        ("De installatie was eenvoudig, maar de klantenservice is erg traag met antwoorden.", "nl"),
        ("Hola, ¿dónde está mi factura?", "es"),
    ],
)
def test_detects_language(text: str, language: str) -> None:
    assert detect_language(text) == language


@pytest.mark.parametrize(
    "text",
    ["", "   ", "ok", "Thanks!", "asdf qwer zxcv", "12345 67890", "\x00\x01\x02\x03 binary \x04\x05\x06\x07\x08"],
)
def test_undetermined_for_short_or_non_text(text: str) -> None:
    assert detect_language(text) == "und"


def test_supported_languages() -> None:
    assert {"en", "es", "fr", "de", "pt", "it", "nl"} <= set(supported_languages())
