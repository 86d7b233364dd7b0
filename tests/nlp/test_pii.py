"""PII redaction: each kind, and numbers that must survive."""

from __future__ import annotations

import pytest

from services.nlp.models.pii import luhn_valid, redact


def test_email_is_replaced() -> None:
    text, kinds = redact("Write to ana.lopez+cx@lumenlogistics.example about it.")
    assert text == "Write to [email] about it."
    assert kinds == ["email"]


@pytest.mark.parametrize(
    "number",
    ["+1 (415) 555-0132", "415-555-0132", "020 7946 0958", "+44 20 7946 0958", "0612345678", "+34 612 345 678"],
)
def test_phone_numbers_are_replaced(number: str) -> None:
    text, kinds = redact(f"Call me on {number} after 5.")
    assert text == "Call me on [phone] after 5."
    assert kinds == ["phone"]


@pytest.mark.parametrize("card", ["4111 1111 1111 1111", "4242-4242-4242-4242", "5555555555554444", "378282246310005"])
def test_luhn_valid_card_numbers_are_replaced(card: str) -> None:
    text, kinds = redact(f"Charge {card} please")
    assert text == "Charge [card] please"
    assert kinds == ["card"]


def test_card_number_failing_luhn_is_kept() -> None:
    text, kinds = redact("Reference 4111 1111 1111 1112 on the form")
    assert text == "Reference 4111 1111 1111 1112 on the form"
    assert "card" not in kinds


def test_luhn() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert not luhn_valid("4111-1111")


@pytest.mark.parametrize(
    "address", ["221B Baker Street", "1600 Amphitheatre Pkwy, Suite 300", "12 Harbour Road", "9 Elm St."]
)
def test_street_addresses_are_replaced(address: str) -> None:
    text, kinds = redact(f"Ship it to {address} by Friday")
    assert "[address]" in text
    assert address.split()[1] not in text
    assert kinds == ["address"]


@pytest.mark.parametrize(
    "text",
    [
        "On 2026-10-01 at 09:30 we paid $1,200.00",
        "Ticket #48213 and invoice INV-2026-00417 are open",
        "We run version 2.3.1 with 1234567 users",
        "There are 3 big roads near our office",
        "Score 10/10, would recommend",
    ],
)
def test_ordinary_numbers_are_not_redacted(text: str) -> None:
    assert redact(text) == (text, [])


def test_kinds_are_sorted_and_unique() -> None:
    text, kinds = redact("a@b.example, c@d.example, 415-555-0132, 4111 1111 1111 1111, 12 Harbour Road")
    assert kinds == ["address", "card", "email", "phone"]
    assert text == "[email], [email], [phone], [card], [address]"
