"""PII redaction and sensitive categories (domain/privacy.py)."""

from __future__ import annotations

import pytest

from selfmodel.domain.privacy import iban_valid, luhn_valid, redact, sensitive_category


@pytest.mark.parametrize(
    ("text", "planted", "marker"),
    [
        ("write to jane.doe+news@mail.example.co.uk today", "jane.doe+news@mail.example.co.uk",
         "[email]"),
        ("call me on +44 20 7946 0958 after six", "+44 20 7946 0958", "[phone]"),
        ("my cell is (415) 555-2671", "(415) 555-2671", "[phone]"),
        ("office: 415-555-2671", "415-555-2671", "[phone]"),
        ("toll free 1-800-555-0199", "1-800-555-0199", "[phone]"),
        ("whatsapp +14155552671", "+14155552671", "[phone]"),
        ("card 4111 1111 1111 1111 exp 12/29", "4111 1111 1111 1111", "[card]"),
        ("amex 3782-822463-10005 please", "3782-822463-10005", "[card]"),
        ("pay with 5555555555554444", "5555555555554444", "[card]"),
        ("IBAN DE89 3704 0044 0532 0130 00 for rent", "DE89 3704 0044 0532 0130 00", "[account]"),
        ("wire to GB82WEST12345698765432", "GB82WEST12345698765432", "[account]"),
        ("account number: 12345678901", "12345678901", "[account]"),
    ],
)
def test_planted_pii_is_replaced_by_its_marker(text: str, planted: str, marker: str) -> None:
    out = redact(text)
    assert planted not in out
    assert marker in out


def test_a_luhn_invalid_number_is_not_a_card() -> None:
    assert not luhn_valid("4111111111111112")
    out = redact("order 4111 1111 1111 1112 shipped")
    assert "[card]" not in out
    assert "4111 1111 1111 1112" in out


def test_an_iban_with_a_bad_checksum_is_kept() -> None:
    assert not iban_valid("DE88 3704 0044 0532 0130 00")
    assert "[account]" not in redact("ref DE88 3704 0044 0532 0130 00")


@pytest.mark.parametrize(
    "text",
    [
        "the meeting is on 2024-01-15 at 10:30",
        "version 1.2.3 of the library, released in 2023",
        "it costs $1,299.99 or 3 x 433.33",
        "ping 192.168.100.200 from the host",
        "I run 5 km in 25 minutes",
    ],
)
def test_ordinary_numbers_survive(text: str) -> None:
    assert redact(text) == text


def test_several_kinds_in_one_text() -> None:
    out = redact("Mail a@b.io, call 415-555-2671, card 4111111111111111.")
    assert out == "Mail [email], call [phone], card [card]."


@pytest.mark.parametrize(
    ("text", "categories", "expected"),
    [
        ("I pray at the mosque every Friday", ["politics", "religion"], "religion"),
        ("I voted for the Green party", ["religion", "politics"], "politics"),
        ("as a gay man I prefer...", ["sexuality"], "sexuality"),
        ("I was diagnosed with diabetes", ["religion", "health"], "health"),
        ("I'm a trade union member", ["union_membership"], "union_membership"),
        ("I'm Hispanic", ["ethnicity"], "ethnicity"),
        ("I keep kosher", ["religious_beliefs"], "religious_beliefs"),
        ("my political views are left-wing", ["political"], "political"),
        ("I love hiking in the Alps", ["religion", "politics", "sexuality", "health"], None),
        ("I do not like wearing the color black", ["ethnicity"], None),
        ("I avoid motor racing", ["ethnicity"], None),
        ("I drive a Tesla", ["tesla"], "tesla"),
        ("I love jazz", [], None),
    ],
)
def test_sensitive_category(text: str, categories: list[str], expected: str | None) -> None:
    assert sensitive_category(text, categories) == expected


def test_the_first_listed_category_wins() -> None:
    text = "a devout Catholic and a conservative voter"
    assert sensitive_category(text, ["politics", "religion"]) == "politics"
    assert sensitive_category(text, ["religion", "politics"]) == "religion"
