"""RAKE-style key phrases."""

from __future__ import annotations

from services.nlp.models.keyphrases import extract_key_phrases


def test_content_phrases_best_first() -> None:
    phrases = extract_key_phrases(
        "The onboarding checklist was confusing and the data import kept failing. Support was slow."
    )
    assert phrases[0] == "data import kept failing"
    assert "onboarding checklist" in phrases
    assert all(p == p.lower() for p in phrases)
    assert not {"the", "and", "was"} & set(phrases)


def test_at_most_five_and_unique() -> None:
    text = "Slow dashboards. Slow dashboards! Broken export, missing legend, bad filters, wrong totals, odd colours."
    phrases = extract_key_phrases(text)
    assert len(phrases) == 5
    assert len(set(phrases)) == 5
    assert phrases.count("slow dashboards") == 1


def test_redaction_placeholders_are_not_phrases() -> None:
    phrases = extract_key_phrases("Contact me at [email] or [phone] about the renewal invoice.")
    assert phrases == ["renewal invoice", "contact"]


def test_uses_the_language_stopwords() -> None:
    assert extract_key_phrases("Le support client est très lent", "fr") == ["support client", "lent"]


def test_nothing_to_extract() -> None:
    assert extract_key_phrases("") == []
    assert extract_key_phrases("it is what it is") == []
