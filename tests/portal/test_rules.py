"""The rules as pure functions (no database)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecusim.portal import passwords, rules
from ecusim.portal.errors import ValidationError


@pytest.mark.parametrize(
    "title", [*rules.APPROVING_JOB_TITLES, "service  MANAGER", " Parts Director "]
)
def test_approving_titles(title: str) -> None:
    assert rules.is_approving_title(title)


@pytest.mark.parametrize("title", ["Technician", "Service Advisor", "Manager", "Shop Foreman", ""])
def test_other_titles_are_technicians(title: str) -> None:
    assert not rules.is_approving_title(title)


@pytest.mark.parametrize(
    ("version", "ok"),
    [
        ("9.10.037", True),
        ("9.10.37", True),
        ("9.10.038", True),
        ("9.11", True),
        ("10.0", True),
        ("10", True),
        ("9.10.036", False),
        ("9.10.36", False),
        ("9.9.999", False),
        ("9.10", False),
        ("9", False),
    ],
)
def test_tool_version_numeric_compare(version: str, ok: bool) -> None:
    assert rules.tool_version_ok(rules.parse_tool_version(version)) is ok


@given(st.lists(st.integers(0, 999), min_size=1, max_size=4))
def test_tool_version_matches_tuple_order(parts: list[int]) -> None:
    text = ".".join(str(part) for part in parts)
    padded = tuple(parts) + (0,) * (3 - len(parts)) if len(parts) < 3 else tuple(parts)
    assert rules.tool_version_ok(rules.parse_tool_version(text)) is (padded >= (9, 10, 37))


@pytest.mark.parametrize("text", ["", " ", "9.10.x", "9,10,37", "v9", "9..1", "\u0661.\u0662"])
def test_tool_version_malformed(text: str) -> None:
    with pytest.raises(ValidationError) as caught:
        rules.parse_tool_version(text)
    assert caught.value.field == "tool_version"


def test_seed_forms() -> None:
    expected = bytes(range(16))
    for text in ("00010203-04050607-08090A0B-0C0D0E0F", "000102030405060708090a0b0c0d0e0f"):
        assert rules.validate_seed(text) == expected


def test_required_text() -> None:
    assert rules.require_text("repair_order", "  RO 1 ") == "RO 1"
    for bad in ("", "   ", None, "a\nb", "x" * 61):
        with pytest.raises(ValidationError, match="repair_order"):
            rules.require_text("repair_order", bad)


def test_confirmations_need_true_not_truthy() -> None:
    sloppy = rules.ApprovalConfirmations(True, 1, True)  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as caught:
        rules.check_confirmations(sloppy, "confirmations")
    assert caught.value.field == "confirmations.nicb_log_acknowledged"


def test_password_hash_round_trip() -> None:
    encoded = passwords.hash_password("correct horse battery", 2**10)
    assert encoded.startswith("scrypt$1024$8$1$")
    assert "correct horse" not in encoded
    assert passwords.verify_password("correct horse battery", encoded)
    assert not passwords.verify_password("correct horse batterY", encoded)
    assert not passwords.verify_password("correct horse battery", None, 2**10)
    assert not passwords.verify_password("x", "bcrypt$whatever")
    assert passwords.hash_password("correct horse battery") != encoded  # fresh salt
