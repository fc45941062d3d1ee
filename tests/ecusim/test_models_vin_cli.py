"""`ecusim models` and `ecusim vin`: output, filters, JSON, exit codes, one-line errors."""

from __future__ import annotations

import json
import uuid

import pytest

from ecusim.cli.main import main

VALID_VIN = "JTHBL5EF0C5000001"


def _run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _table_rows(out: str) -> list[list[str]]:
    lines = out.split("\n\n", 1)[0].splitlines()
    assert lines[0].split()[:4] == ["MODEL", "YEAR", "SYSTEM", "RESET"]
    return [line.split() for line in lines[1:]]


# --- models ----------------------------------------------------------------------------------


def test_models_table_lists_every_entry(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["models"], capsys)
    assert code == 0 and err == ""
    rows = _table_rows(out)
    assert len(rows) == 225
    ls430_2004 = next(row for row in rows if row[:2] == ["LS430", "2004"])
    assert ls430_2004[:6] == ["LS430", "2004", "transponder", "key", "ECU", "yes"]
    assert "225 model-years." in out
    assert "* lab default" in out


def test_models_table_marks_lab_values(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(["models", "--model", "LS430", "--year", "2004"], capsys)
    row = out.splitlines()[1]
    assert "transponder key ECU " in row  # public: unmarked
    assert "auto 3M+1S, add 5M+3S" in row
    assert "2M+1S*" in row  # factory key set: lab
    assert "key ECU 0x750->0x758 ext 0x57*" in row
    _, out, _ = _run(["models", "--model", "RX330", "--year", "2005"], capsys)
    assert "transponder key ECU*" in out.splitlines()[1]  # lab system type


def test_models_model_filter_any_spelling(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["models", "--model", "is-f"], capsys)
    assert code == 0
    rows = _table_rows(out)
    assert {(row[0], row[1]) for row in rows} == {("IS", "F")}
    assert [row[2] for row in rows] == [str(year) for year in range(2008, 2015)]


def test_models_year_filter(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["models", "--year", "1992"], capsys)
    assert code == 0
    rows = _table_rows(out)
    assert [row[:3] for row in rows] == [["SC300", "1992", "none"], ["SC400", "1992", "none"]]
    assert "ROM" in rows[1]


def test_models_single_entry_shows_the_basis(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["models", "--model", "ls460", "--year", "2012"], capsys)
    assert code == 0
    assert "Basis of LS460 2012 (smart key):" in out
    assert "960 s*" in out and "7 smart keys" in out
    basis = out.split("Basis of", 1)[1]
    assert "system_type      public  domain.md [S]: smart key on 2007+" in basis
    assert "waiting_period   lab" in basis


def test_models_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["models", "--model", "LS430", "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert [entry["year"] for entry in data] == list(range(2001, 2007))
    entry = data[3]
    assert entry["model"] == "LS430" and entry["year"] == 2004
    assert entry["system_type"] == "transponder_key_ecu"
    assert entry["reset_supported"] is True
    assert entry["key_limits"]["additional"] == {"masters": 5, "subs": 3}
    assert entry["basis"]["system_type"]["kind"] == "public"
    assert entry["basis"]["factory_keys"]["kind"] == "lab"


def test_models_json_all_entries(capsys: pytest.CaptureFixture[str]) -> None:
    _, out, _ = _run(["models", "--json"], capsys)
    data = json.loads(out)
    assert len(data) == 225
    assert {entry["system_type"] for entry in data} == {
        "none",
        "ecm_integrated",
        "transponder_key_ecu",
        "smart_key",
    }


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["models", "--model", "Camry"], "unknown model 'Camry'; known models: CT200H, "),
        (["models", "--model", "LS430", "--year", "2010"], "LS430 years: 2001-2006"),
        (["models", "--model", "gs350", "--year", "2012", "--json"], "2007-2011, 2013-2015"),
        (["models", "--year", "1980"], "no model in the chart for model year 1980"),
    ],
)
def test_models_unknown_model_or_year_is_one_line_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = _run(argv, capsys)
    assert code == 2
    assert out == ""
    assert err.startswith("ecusim: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_models_bad_year_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["models", "--year", "soon"])
    assert info.value.code == 2
    assert "not a model year: 'soon'" in capsys.readouterr().err


# --- vin -------------------------------------------------------------------------------------


def test_vin_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["vin", VALID_VIN], capsys)
    assert code == 0 and err == ""
    lines = out.splitlines()
    assert lines[0] == "VALID"
    assert "WMI          JTH (a Lexus WMI)" in lines
    assert any(line.startswith("model year   2012 (position 10 'C'") for line in lines)
    assert "check digit  0 (position 9, correct)" in lines


def test_vin_lower_case_and_spaces_are_accepted(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["vin", f" {VALID_VIN.lower()} "], capsys)
    assert code == 0
    assert f"VIN          {VALID_VIN}" in out


def test_vin_valid_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["vin", VALID_VIN, "--json"], capsys)
    assert code == 0
    data = json.loads(out)
    assert data["valid"] is True and data["reason"] is None
    assert data["wmi"] == "JTH" and data["lexus_wmi"] is True
    assert data["model_year"] == 2012
    assert data["check_digit"] == {"position": 9, "expected": "0", "found": "0", "ok": True}


def test_vin_not_lexus_is_still_valid(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["vin", "1M8GDM9AXKP042788"], capsys)
    assert code == 0
    assert "1M8 (not a Lexus WMI" in out


def test_vin_wrong_check_digit(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["vin", "JTHBL5EF1C5000001"], capsys)
    assert code == 1 and err == ""
    lines = out.splitlines()
    assert lines[0].startswith("INVALID: wrong check digit")
    assert "check digit  expected '0', found '1' (position 9)" in lines
    assert any(line.startswith("model year   2012") for line in lines)


def test_vin_wrong_check_digit_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["vin", "JTHBL5EF1C5000001", "--json"], capsys)
    assert code == 1
    data = json.loads(out)
    assert data["valid"] is False and data["position"] == 9
    assert data["check_digit"]["expected"] == "0" and data["check_digit"]["found"] == "1"


@pytest.mark.parametrize(
    ("vin", "reason"),
    [
        ("JTHBL5EF0C50000I1", "character 'I' at position 16 is never used in a VIN"),
        ("JTHBL5EF0C5O00001", "character 'O' at position 12 is never used in a VIN"),
        ("JTHBL5EF0C5#00001", "character '#' at position 12 is not allowed in a VIN"),
        ("JTHBL5EF0C50000É1", "character 'É' at position 16 is not allowed in a VIN"),
    ],
)
def test_vin_bad_characters(vin: str, reason: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = _run(["vin", vin], capsys)
    assert code == 1 and err == ""
    assert out.splitlines() == [f"INVALID: {reason} (allowed: A-Z and 0-9 except I, O, Q)"]


@pytest.mark.parametrize("vin", ["JTHBL5EF0C500000", "JTHBL5EF0C50000011", ""])
def test_vin_wrong_length(vin: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["vin", vin], capsys)
    assert code == 1
    assert out.startswith(f"INVALID: a VIN has 17 characters, got {len(vin)}")
    assert "Traceback" not in out


def test_vin_bad_input_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _run(["vin", "JTHBL5EF0C50000I1", "--json"], capsys)
    assert code == 1
    data = json.loads(out)
    assert data["valid"] is False and data["position"] == 16
    assert "check_digit" not in data


def test_vin_missing_argument_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["vin"])
    assert info.value.code == 2
    assert "required: VIN" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("vin", "year", "valid", "reason"),
    [
        ("JTHLSL1S045000001", 2004, True, None),  # lab_vin("LS430", 2004)
        ("JTHBL5EF0C5000001", 2004, False, "is not a 2004 VIN: position 10 'C' reads 2012"),
        ("1HGCM82633A004352", 2004, False, "is not a Lexus VIN: WMI '1HG'"),
    ],
)
def test_vin_with_year_applies_the_rule_of_ecusim_run(
    vin: str, year: int, valid: bool, reason: str | None, capsys: pytest.CaptureFixture[str]
) -> None:
    """`ecusim vin --year` and `ecusim run --vin` give one verdict (check_vin_matches)."""
    assert main(["vin", vin, "--year", str(year), "--json"]) == (0 if valid else 1)
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is valid and report["matches_year"] is valid
    assert (report["reason"] is None) if reason is None else reason in report["reason"]
    assert main(["vin", vin, "--year", str(year)]) == (0 if valid else 1)
    first = capsys.readouterr().out.splitlines()[0]
    assert first == "VALID" if valid else first.startswith("INVALID: ")
    run = ["run", "-i", "virtual", "-c", f"vin-{uuid.uuid4().hex}", "--duration", "0.1"]
    assert main([*run, "--year", str(year), "--vin", vin]) == (0 if valid else 2)
    captured = capsys.readouterr()
    if reason is not None:
        assert reason in captured.err
