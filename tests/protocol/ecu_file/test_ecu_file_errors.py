"""A malformed ECU file is refused with ONE line: ``<file>: <key path>: <what is wrong>``."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocol.ecu_file import EcuFileError, load_ecu_file
from tests.protocol.ecu_file.conftest import write_file

MINIMAL = """
name = "bad-ecu"

[addressing]
request_id = 0x7A0
response_id = 0x7A8
"""

LEVEL = """
[security.levels.0x01]
algorithm = "weak-xor"
"""


def refusal(tmp_path: Path, text: str) -> str:
    path = write_file(tmp_path, text, "bad.toml")
    with pytest.raises(EcuFileError) as info:
        load_ecu_file(path)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{path}: ")
    return message.removeprefix(f"{path}: ")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param(
            MINIMAL + '[dids.0xF190]\nvalue = "4A5Z"\n',
            "dids.0xF190.value: not hex",
            id="value-not-hex",
        ),
        pytest.param(
            MINIMAL + '[dids.0xF190]\nvalue = "4A5"\n',
            "dids.0xF190.value: odd number of hex digits",
            id="value-odd-digits",
        ),
        pytest.param(
            MINIMAL + '[dids.0xF190]\nvalue = "00"\ntext = "A"\n',
            "dids.0xF190: give its value as value (hex) or as text, one of the two",
            id="value-and-text",
        ),
        pytest.param(
            MINIMAL + '[dids.0xF190]\nvalu = "00"\n',
            "dids.0xF190.valu: unknown key",
            id="unknown-key",
        ),
        pytest.param(
            MINIMAL + '[dids.F190]\nvalue = "00"\n',
            "dids.F190: not a DID (hex 0x0000..0xFFFF)",
            id="did-key-not-hex",
        ),
        pytest.param(
            MINIMAL + '[dids.0xF190]\nvalue = "00"\nwrite_security = 0x01\n',
            "dids.0xF190.write_security: the DID is not writable (writable = true)",
            id="write-rule-on-read-only",
        ),
        pytest.param(
            MINIMAL + '[dids.0xF190]\nvalue = "00"\nread_sessions = ["programming"]\n',
            "dids.0xF190.read_sessions.0: session 'programming' is not in sessions.supported",
            id="session-not-supported",
        ),
        pytest.param(
            MINIMAL + '[dids.0xF190]\nvalue = "00"\nread_sessions = ["extnded"]\n',
            "dids.0xF190.read_sessions.0: unknown session 'extnded' "
            "(known: default, programming, extended)",
            id="session-unknown",
        ),
        pytest.param(
            MINIMAL.replace("0x7A0", "0x800"),
            "addressing.request_id: must be ≤ 2047 (0x7FF), got 2048 (0x800)",
            id="can-id-too-big",
        ),
        pytest.param(
            MINIMAL.replace("0x7A0", '"0x7A0"'),
            "addressing.request_id: must be an integer, got '0x7A0'",
            id="can-id-as-text",
        ),
        pytest.param(
            MINIMAL.replace("0x7A8", "0x7A0"),
            "addressing: request and response IDs must differ",
            id="same-ids",
        ),
        pytest.param(
            'name = "x"\n',
            "addressing: missing",
            id="addressing-missing",
        ),
        pytest.param(
            MINIMAL + "[isotp]\npadding = 256\n",
            "isotp.padding: must be ≤ 255 (0xFF), got 256 (0x100)",
            id="padding-not-a-byte",
        ),
        pytest.param(
            MINIMAL + '[sessions]\nsupported = ["extended"]\n',
            'sessions.supported: must include "default"',
            id="no-default-session",
        ),
        pytest.param(
            MINIMAL + "[timing]\np2_star_ms = 1000\npending_repeat_ms = 1500\n",
            "timing: the 0x78 repeat interval (1.5 s) must be > 0 and below P2*server (1.0 s)",
            id="pending-repeat-above-p2-star",
        ),
        pytest.param(
            MINIMAL + '[routines.0x0203]\nstart_result = "00"\nsecurity = 0x05\n' + LEVEL,
            "routines.0x0203.security.0: level 0x05 is not defined in security.levels",
            id="routine-level-undefined",
        ),
        pytest.param(
            MINIMAL + '[security.levels.0x02]\nalgorithm = "weak-xor"\n',
            "security.levels.0x02: a requestSeed level must be odd and within 0x01..0x7D",
            id="level-even",
        ),
        pytest.param(
            MINIMAL + LEVEL.replace("weak-xor", "rot13"),
            "security.levels.0x01.algorithm: unknown security algorithm 'rot13' "
            "(known: lab-diagnostic, lab-passcode, weak-xor)",
            id="algorithm-unknown",
        ),
        pytest.param(
            MINIMAL + LEVEL.replace("weak-xor", "lab-passcode"),
            "security.levels.0x01: lab-passcode needs the ECU's VIN (AlgorithmContext.vin)",
            id="algorithm-parameter-missing",
        ),
        pytest.param(
            MINIMAL + LEVEL + 'diag_key = "01 0"\n',
            "security.levels.0x01.diag_key: odd number of hex digits",
            id="secret-not-hex",
        ),
        pytest.param(
            MINIMAL + "[security]\nattempt_limit = 0\n",
            "security.attempt_limit: must be ≥ 1, got 0",
            id="attempt-limit-zero",
        ),
        pytest.param(
            MINIMAL + "[dtcs]\nX1234 = 0x09\n",
            "dtcs.X1234: not a DTC: DTC must look like B2796, got 'X1234'",
            id="dtc-code",
        ),
        pytest.param(
            MINIMAL + "[dtcs]\nB1234 = 0x109\n",
            "dtcs.B1234: must be ≤ 255 (0xFF), got 265 (0x109)",
            id="dtc-status-not-a-byte",
        ),
        pytest.param(
            MINIMAL.replace('"bad-ecu"', '"bad\\u001b[31m-ecu"'),
            "name: must be at most 80 printable characters, got 'bad\\x1b[31m-ecu'",
            id="escape-in-the-name",
        ),
        pytest.param(
            MINIMAL + '[dids.0xF190]\nname = "VIN\\n"\nvalue = "00"\n',
            "dids.0xF190.name: must be at most 80 printable characters, got 'VIN\\n'",
            id="newline-in-a-did-name",
        ),
        pytest.param(
            MINIMAL + '[sessions.custom]\n"eol\\u0000" = 0x40\n',
            "sessions.custom.'eol\\x00': must be at most 80 printable characters, got 'eol\\x00'",
            id="nul-in-a-session-name",
        ),
        pytest.param(
            MINIMAL + "[timing]\np2_star_ms = 1\n",
            "timing.p2_star_ms: must be ≥ 10.0, got 1",
            id="p2-star-below-its-10-ms-unit",
        ),
        pytest.param(
            MINIMAL + "[timing]\np2_star_ms = 2005\n",
            "timing.p2_star_ms: must be a multiple of 10 ms (it is sent in 10 ms units), got 2005",
            id="p2-star-not-a-multiple-of-10",
        ),
        pytest.param(
            MINIMAL + "[timing]\np2_ms = 50.5\n",
            "timing.p2_ms: must be a whole number of ms (it is sent in 1 ms units), got 50.5",
            id="p2-fraction-of-a-ms",
        ),
        pytest.param(
            MINIMAL + "[sessions]\ns3_s = inf\n",
            "sessions.s3_s: must be a finite number, got inf",
            id="s3-infinite",
        ),
        pytest.param(
            MINIMAL + "[security]\ndelay_s = nan\n",
            "security.delay_s: must be a finite number, got nan",
            id="delay-nan",
        ),
        pytest.param(
            MINIMAL + '[dids.0xF190]\nvalue = "' + "00" * 4093 + '"\n',
            "dids.0xF190.value: 4093 bytes do not fit one response (at most 4092: 4095 bytes "
            "of an ISO-TP message minus 62 and the DID)",
            id="did-value-too-long",
        ),
        pytest.param(
            MINIMAL + '[routines.0x0203]\nstart_result = "' + "00" * 4092 + '"\n',
            "routines.0x0203.start_result: 4092 bytes do not fit one response (at most 4091: "
            "4095 bytes of an ISO-TP message minus 71, the type and the RID)",
            id="routine-record-too-long",
        ),
        pytest.param(
            MINIMAL + '[dids.0xF190]\nvalue = "00"\nread_sessions = []\n',
            "dids.0xF190.read_sessions: empty: no session could read the DID (leave it out for "
            "every session; [] makes sense only for a write-only DID, writable = true)",
            id="did-no-one-can-read",
        ),
        pytest.param(
            MINIMAL + "[dids.0xF190\n",
            "not valid TOML: ",
            id="toml-syntax",
        ),
    ],
)
def test_malformed_file_is_one_line_naming_the_key(
    tmp_path: Path, text: str, expected: str
) -> None:
    message = refusal(tmp_path, text)
    if expected.endswith(": "):
        assert message.startswith(expected)
        assert "line" in message  # tomllib says where
    else:
        assert message == expected


def test_the_same_did_twice_in_two_spellings_is_refused(tmp_path: Path) -> None:
    text = MINIMAL + '[dids.0xF190]\nvalue = "00"\n[dids.0xf190]\nvalue = "01"\n'
    assert refusal(tmp_path, text) == "dids.0xf190: the same DID as dids.0xF190"


def test_a_missing_file_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "absent.toml"
    with pytest.raises(EcuFileError, match=r"absent\.toml: cannot read: No such file"):
        load_ecu_file(path)


def test_a_minimal_file_loads(tmp_path: Path) -> None:
    """The control case of the refusals: the file they start from is valid."""
    ecu = load_ecu_file(write_file(tmp_path, MINIMAL))
    assert ecu.describe() == "bad-ecu (ECU file): 0x7A0 -> 0x7A8"
