"""Physical keys and their transponders (ecusim.car.keys, domain.md "Keys"): the blank kind is the
top nibble of the 32-bit ID, secrets are derived from the ID, the AES-128 challenge-response, the
SILENT and GARBLED faults, and ID validation."""

from __future__ import annotations

import dataclasses
import math
import random

import pytest

from ecusim.car.keys import (
    CHALLENGE_LENGTH,
    InvalidKeyError,
    Key,
    KeyKind,
    TransponderFault,
    aes_response,
    parse_transponder_id,
    transponder_secret,
)

CHALLENGE = bytes(range(16))
OTHER_CHALLENGE = bytes(range(16, 32))


@pytest.mark.parametrize(
    ("transponder_id", "kind"),
    [
        (0x10000000, KeyKind.MASTER),
        (0x1FFFFFFF, KeyKind.MASTER),
        (0x20000000, KeyKind.SUB),
        (0x2A5A5A5A, KeyKind.SUB),
        (0x30000001, KeyKind.SMART),
        (0x3FFFFFFF, KeyKind.SMART),
    ],
)
def test_kind_comes_from_the_top_nibble(transponder_id: int, kind: KeyKind) -> None:
    assert Key(transponder_id).kind is kind


@pytest.mark.parametrize("kind", list(KeyKind))
def test_blanks_carry_their_kind(kind: KeyKind) -> None:
    rng = random.Random(42)
    for _ in range(50):
        key = Key.blank(kind, rng)
        assert key.kind is kind
        assert key.transponder_id >> 28 == {"master": 1, "sub": 2, "smart": 3}[kind.value]


def test_blanks_accept_the_kind_by_name() -> None:
    assert Key.blank("sub", random.Random(1)).kind is KeyKind.SUB


def test_blanks_are_reproducible_from_the_rng_seed() -> None:
    first = [Key.blank(KeyKind.MASTER, random.Random(9)) for _ in range(2)]
    assert first[0] == first[1]
    rng = random.Random(9)
    assert Key.blank(KeyKind.MASTER, rng) != Key.blank(KeyKind.MASTER, rng)


def test_a_master_blank_can_never_become_a_sub() -> None:
    """domain.md: master and sub blanks are fixed at manufacture. The kind is part of the ID,
    and a key cannot be changed after it is made."""
    master = Key.blank(KeyKind.MASTER, random.Random(3))
    with pytest.raises(dataclasses.FrozenInstanceError):
        master.transponder_id = 0x20000000 | (master.transponder_id & 0x0FFFFFFF)  # type: ignore[misc]
    assert master.kind is KeyKind.MASTER
    # The same serial with a sub nibble is a different key with a different secret.
    sub_twin = Key(0x20000000 | (master.transponder_id & 0x0FFFFFFF))
    assert sub_twin.kind is KeyKind.SUB
    assert sub_twin.secret != master.secret
    assert sub_twin != master


def test_derived_keys_are_stable() -> None:
    assert Key.derived(KeyKind.MASTER, "JTHBL5EF0C5000001:0") == Key.derived(
        "master", "JTHBL5EF0C5000001:0"
    )
    assert Key.derived(KeyKind.MASTER, "label").kind is KeyKind.MASTER
    assert Key.derived(KeyKind.SUB, "label").kind is KeyKind.SUB


def test_derived_keys_differ_by_label_and_kind() -> None:
    ids = {
        Key.derived(KeyKind.MASTER, "a").transponder_id,
        Key.derived(KeyKind.MASTER, "b").transponder_id,
        Key.derived(KeyKind.SUB, "a").transponder_id,
    }
    assert len(ids) == 3


def test_secret_is_derived_from_the_id_only() -> None:
    key = Key(0x1234ABCD)
    assert key.secret == transponder_secret(0x1234ABCD)
    assert len(key.secret) == 16  # AES-128
    # Rebuilt from its ID alone (e.g. after travelling over a lab control frame): same secret.
    assert Key(key.transponder_id).secret == key.secret
    assert Key(0x1234ABCE).secret != key.secret


def test_response_is_aes_of_the_challenge_under_the_secret() -> None:
    key = Key(0x1ABCDEF0)
    answer = key.respond(CHALLENGE)
    assert answer == aes_response(key.secret, CHALLENGE)
    assert answer is not None and len(answer) == CHALLENGE_LENGTH
    assert answer != CHALLENGE
    assert key.respond(OTHER_CHALLENGE) != answer


def test_aes_response_matches_a_known_aes_128_vector() -> None:
    # FIPS-197 Appendix C.1: AES-128, key 000102…0F, plaintext 00112233…FF
    secret = bytes(range(16))
    plaintext = bytes.fromhex("00112233445566778899aabbccddeeff")
    assert aes_response(secret, plaintext) == bytes.fromhex("69c4e0d86a7b0430d8cdb78070b4c55a")


def test_responses_differ_per_key() -> None:
    rng = random.Random(5)
    keys = [Key.blank(KeyKind.MASTER, rng) for _ in range(5)]
    answers = {key.respond(CHALLENGE) for key in keys}
    assert len(answers) == len(keys)


def test_a_silent_transponder_does_not_answer() -> None:
    key = Key(0x1ABCDEF0, fault=TransponderFault.SILENT)
    assert key.respond(CHALLENGE) is None


def test_a_garbled_transponder_answers_wrongly() -> None:
    good = Key(0x1ABCDEF0)
    garbled = dataclasses.replace(good, fault=TransponderFault.GARBLED)
    answer = garbled.respond(CHALLENGE)
    assert answer is not None
    assert len(answer) == CHALLENGE_LENGTH
    assert answer != aes_response(good.secret, CHALLENGE)


def test_faults_do_not_change_the_identity_or_kind() -> None:
    for fault in TransponderFault:
        key = Key(0x2ABCDEF0, fault=fault)
        assert key.kind is KeyKind.SUB
        assert key.secret == transponder_secret(0x2ABCDEF0)


@pytest.mark.parametrize("length", [0, 15, 17, 32])
def test_challenge_must_be_16_bytes(length: int) -> None:
    with pytest.raises(InvalidKeyError, match="16 bytes"):
        Key(0x1ABCDEF0).respond(bytes(length))


@pytest.mark.parametrize(
    "transponder_id",
    [0x00000000, 0x0FFFFFFF, 0x40000000, 0x7ABCDEF0, 0xF0000000, 0xFFFFFFFF, -1, 0x100000000],
)
def test_invalid_ids_are_refused(transponder_id: int) -> None:
    with pytest.raises(InvalidKeyError):
        Key(transponder_id)


@pytest.mark.parametrize("response_time_s", [-0.1, -math.inf, math.nan])
def test_invalid_response_times_are_refused(response_time_s: float) -> None:
    with pytest.raises(InvalidKeyError, match="response time"):
        Key(0x1ABCDEF0, response_time_s=response_time_s)


def test_invalid_key_error_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        Key(0x40000000)


def test_str_names_kind_and_id() -> None:
    assert str(Key(0x1ABCDEF0)) == "master key 1ABCDEF0"
    assert str(Key(0x20000001)) == "sub key 20000001"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1A2B3C4D", 0x1A2B3C4D),
        ("0x1A2B3C4D", 0x1A2B3C4D),
        ("0X1A2B3C4D", 0x1A2B3C4D),
        ("2a2b3c4d", 0x2A2B3C4D),
        ("3FFFFFFF", 0x3FFFFFFF),
    ],
)
def test_parse_transponder_id(text: str, expected: int) -> None:
    assert parse_transponder_id(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "xyz",
        "0x",
        "1A2B3C4G",
        "4A2B3C4D",
        "0A2B3C4D",
        "1A2B3C4D0",
        "1A2B_3C4D",  # int(..., 16) would accept the underscore
        "+1A2B3C4D",
        " 1A2B3C4D",
    ],
)
def test_parse_transponder_id_refuses_bad_text(text: str) -> None:
    with pytest.raises(InvalidKeyError):
        parse_transponder_id(text)
