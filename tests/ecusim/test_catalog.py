"""The support chart (ecusim/catalog/support_chart.json) and its Catalog API."""

from __future__ import annotations

import json
from collections import Counter
from importlib import resources
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ecusim.catalog import (
    Basis,
    BasisKind,
    Catalog,
    CatalogError,
    KeylessEntry,
    ModelYear,
    SystemType,
    normalize_model,
    parse_chart,
)
from protocol.isotp_binding import IsoTpAddressing

BULLETIN_MODELS = (
    "CT200H",
    "ES300",
    "ES300H",
    "ES330",
    "ES350",
    "GS300",
    "GS350",
    "GS400",
    "GS430",
    "GS450H",
    "GS460",
    "GX460",
    "GX470",
    "HS250H",
    "IS F",
    "IS250",
    "IS250C",
    "IS300",
    "IS350",
    "IS350C",
    "LFA",
    "LS400",
    "LS430",
    "LS460",
    "LS600H",
    "LX470",
    "LX570",
    "RX300",
    "RX330",
    "RX350",
    "RX400H",
    "RX450H",
    "SC300",
    "SC400",
    "SC430",
)
"""The applicability list of the reset bulletin (domain.md §7), 1997-2015."""


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.load()


def _chart_document() -> dict[str, Any]:
    text = resources.files("ecusim").joinpath("catalog", "support_chart.json").read_text("utf-8")
    document: dict[str, Any] = json.loads(text)
    return document


def test_chart_loads_and_is_cached(catalog: Catalog) -> None:
    assert Catalog.load() is catalog
    assert len(catalog) == len(list(catalog)) > 200
    assert set(catalog.models()) == set(BULLETIN_MODELS)
    assert list(catalog.models()) == sorted(catalog.models())


@pytest.mark.parametrize("model", BULLETIN_MODELS)
def test_every_bulletin_model_has_a_year_in_1997_2015(catalog: Catalog, model: str) -> None:
    years = catalog.years(model)
    assert any(1997 <= year <= 2015 for year in years)
    assert all(year <= 2015 for year in years)
    assert list(years) == sorted(years)


def test_only_the_sc_goes_back_before_1997(catalog: Catalog) -> None:
    early = {entry.model for entry in catalog if entry.year < 1997}
    assert early == {"SC300", "SC400"}
    for model in ("SC300", "SC400"):
        assert catalog.years(model)[0] == 1992
        for year in range(1992, 1997):
            assert catalog.lookup(model, year).system_type is SystemType.NONE


def test_1992_sc400_has_no_immobilizer_and_a_rom_keyless_entry(catalog: Catalog) -> None:
    entry = catalog.lookup("SC400", 1992)
    assert entry.system_type is SystemType.NONE
    assert entry.system_type.did_code == 0
    assert not entry.reset_supported
    assert entry.keyless_entry is KeylessEntry.ROM
    assert entry.basis["keyless_entry"].kind is BasisKind.PUBLIC
    assert entry.basis["system_type"].kind is BasisKind.PUBLIC
    assert entry.key_limits.describe() == "-"
    assert entry.addresses.immobilizer is None
    assert entry.key_store is None and entry.key_store_addressing() is None
    # The forum owner's car came with two masters and one sub key.
    assert (entry.factory_keys.masters, entry.factory_keys.subs) == (2, 1)


def test_rom_keyless_entry_only_on_1992_1993_sc(catalog: Catalog) -> None:
    rom = {entry.name for entry in catalog if entry.keyless_entry is KeylessEntry.ROM}
    assert rom == {"SC300 1992", "SC300 1993", "SC400 1992", "SC400 1993"}


def test_1997_sc_is_a_lab_decision(catalog: Catalog) -> None:
    for model in ("SC300", "SC400"):
        entry = catalog.lookup(model, 1997)
        assert entry.system_type is SystemType.NONE
        assert entry.basis["system_type"].is_lab


def test_ls430_2004_transponder_key_ecu(catalog: Catalog) -> None:
    entry = catalog.lookup("LS430", 2004)
    assert entry.system_type is SystemType.TRANSPONDER_KEY_ECU
    assert entry.reset_supported
    assert entry.capabilities_did == bytes([0x02, 0x01])
    limits = entry.key_limits
    assert limits.automatic is not None and limits.additional is not None
    assert (limits.automatic.masters, limits.automatic.subs) == (3, 1)
    assert (limits.additional.masters, limits.additional.subs) == (5, 3)
    assert limits.ecm_codes is None and limits.smart_keys is None
    assert (entry.factory_keys.masters, entry.factory_keys.subs) == (2, 1)
    assert entry.waiting_period_s == 0
    for name in ("system_type", "reset_supported", "automatic_registration"):
        assert entry.basis[name].kind is BasisKind.PUBLIC, name
    assert "LS430" in entry.basis["system_type"].note
    assert entry.immobilizer_addressing() == IsoTpAddressing(0x750, 0x758, None, 0x57)
    assert entry.key_store_addressing() == entry.immobilizer_addressing()
    assert entry.ecm_addressing() == IsoTpAddressing(0x7E0, 0x7E8, 0x7DF)


def test_ls460_2012_smart_key(catalog: Catalog) -> None:
    entry = catalog.lookup("LS460", 2012)
    assert entry.system_type is SystemType.SMART_KEY
    assert entry.reset_supported
    assert entry.capabilities_did == bytes([0x03, 0x01])
    assert entry.key_limits.smart_keys == 7
    assert entry.key_limits.automatic is None
    assert entry.factory_keys.smart_keys == 2
    assert entry.waiting_period_s == 960.0
    assert entry.basis["smart_keys"].kind is BasisKind.PUBLIC
    assert entry.basis["waiting_period"].is_lab
    assert entry.immobilizer_addressing() == IsoTpAddressing(0x750, 0x758, None, 0xB5)
    assert entry.key_store == "certification ECU"


def test_2002_es300_ecm_integrated_not_resettable(catalog: Catalog) -> None:
    entry = catalog.lookup("ES300", 2002)
    assert entry.system_type is SystemType.ECM_INTEGRATED
    assert not entry.reset_supported
    assert entry.capabilities_did == bytes([0x01, 0x00])
    assert entry.key_limits.ecm_codes == 3 and entry.key_limits.last_code_is_sub
    assert entry.basis["system_type"].kind is BasisKind.PUBLIC
    assert "SPOC" in entry.basis["reset_supported"].note
    assert entry.addresses.immobilizer is None
    assert entry.key_store == "ecm"
    assert entry.key_store_addressing() == IsoTpAddressing(0x7E0, 0x7E8, 0x7DF)


@pytest.mark.parametrize(
    ("model", "years", "system_type"),
    [
        ("LS430", range(2001, 2007), SystemType.TRANSPONDER_KEY_ECU),
        ("SC430", range(2002, 2011), SystemType.TRANSPONDER_KEY_ECU),
        ("GX470", range(2003, 2010), SystemType.TRANSPONDER_KEY_ECU),
        ("LX470", range(1998, 2008), SystemType.TRANSPONDER_KEY_ECU),
        ("LS460", range(2007, 2016), SystemType.SMART_KEY),
        ("LS600H", range(2008, 2016), SystemType.SMART_KEY),
        ("ES350", range(2007, 2016), SystemType.SMART_KEY),
        ("RX450H", range(2010, 2016), SystemType.SMART_KEY),
        ("CT200H", range(2011, 2016), SystemType.SMART_KEY),
        ("LX570", range(2008, 2016), SystemType.SMART_KEY),
        ("GX460", range(2010, 2016), SystemType.SMART_KEY),
    ],
)
def test_public_facts_are_public_entries(
    catalog: Catalog, model: str, years: range, system_type: SystemType
) -> None:
    for year in years:
        entry = catalog.lookup(model, year)
        assert entry.system_type is system_type, entry.name
        assert entry.basis["system_type"].kind is BasisKind.PUBLIC, entry.name


def test_every_2007_and_later_gs_and_is_is_a_public_smart_key(catalog: Catalog) -> None:
    for entry in catalog:
        if entry.year >= 2007 and entry.model.startswith(("GS", "IS")):
            assert entry.system_type is SystemType.SMART_KEY, entry.name
            assert entry.basis["system_type"].kind is BasisKind.PUBLIC, entry.name


def test_counts_per_system_type(catalog: Catalog) -> None:
    counts = Counter(entry.system_type for entry in catalog)
    assert counts == {
        SystemType.NONE: 12,
        SystemType.ECM_INTEGRATED: 41,
        SystemType.TRANSPONDER_KEY_ECU: 43,
        SystemType.SMART_KEY: 129,
    }


def test_every_entry_is_consistent(catalog: Catalog) -> None:
    for entry in catalog:
        assert entry.basis, entry.name
        assert set(entry.basis) == set(ModelYear.basis_fields(entry.system_type))
        for name, basis in entry.basis.items():
            assert basis.kind in (BasisKind.PUBLIC, BasisKind.LAB), (entry.name, name)
            assert basis.note, (entry.name, name)
        assert entry.reset_supported == entry.system_type.resettable, entry.name
        if entry.system_type in (SystemType.NONE, SystemType.ECM_INTEGRATED):
            assert not entry.reset_supported
        assert entry.model == entry.model.upper()
        assert entry.addresses.ecm.isotp_addressing() == IsoTpAddressing(0x7E0, 0x7E8, 0x7DF)


def test_chart_file_basis_kinds_are_public_or_lab() -> None:
    document = _chart_document()
    kinds = {basis["kind"] for entry in document["entries"] for basis in entry["basis"].values()}
    assert kinds == {"public", "lab"}
    public_sources = {
        basis["source"]
        for entry in document["entries"]
        for basis in entry["basis"].values()
        if basis["kind"] == "public"
    }
    assert all(not source.startswith("lab-") for source in public_sources)


def test_did_codes() -> None:
    assert [t.did_code for t in SystemType] == [0, 1, 2, 3]
    for system_type in SystemType:
        assert SystemType.from_did_code(system_type.did_code) is system_type
    with pytest.raises(CatalogError):
        SystemType.from_did_code(9)


@pytest.mark.parametrize(
    ("spelling", "model"),
    [
        ("LS430", "LS430"),
        ("ls430", "LS430"),
        (" Ls 430 ", "LS430"),
        ("IS F", "IS F"),
        ("IS-F", "IS F"),
        ("ISF", "IS F"),
        ("is_f", "IS F"),
        ("isf", "IS F"),
        ("rx450h", "RX450H"),
        ("LS600h", "LS600H"),
        ("is-250c", "IS250C"),
    ],
)
def test_lookup_accepts_case_and_separator_variants(
    catalog: Catalog, spelling: str, model: str
) -> None:
    year = catalog.years(model)[0]
    assert catalog.lookup(spelling, year).model == model
    assert catalog.canonical_model(spelling) == model


@given(st.sampled_from(BULLETIN_MODELS), st.booleans(), st.sampled_from(["", " ", "-", "_"]))
def test_normalize_model_ignores_case_and_separators(model: str, lower: bool, sep: str) -> None:
    spelled = model.replace(" ", sep)
    spelled = spelled.lower() if lower else spelled
    assert normalize_model(spelled) == normalize_model(model)


def test_unknown_model_lists_known_models(catalog: Catalog) -> None:
    with pytest.raises(CatalogError) as info:
        catalog.lookup("LS999", 2004)
    message = str(info.value)
    assert "LS999" in message and "LS430" in message and "IS F" in message
    assert isinstance(info.value, ValueError)


def test_year_out_of_range_lists_the_models_years(catalog: Catalog) -> None:
    with pytest.raises(CatalogError, match=r"no LS430 for model year 2010; LS430 years: 2001-2006"):
        catalog.lookup("ls430", 2010)
    # The GS skipped model year 2012 in the US.
    with pytest.raises(CatalogError, match=r"GS350 years: 2007-2011, 2013-2015"):
        catalog.lookup("GS350", 2012)


def test_entries_filters(catalog: Catalog) -> None:
    assert catalog.entries() == list(catalog)
    ls430 = catalog.entries(model="ls430")
    assert [entry.year for entry in ls430] == list(range(2001, 2007))
    assert catalog.entries(model="LS430", year=2004) == [catalog.lookup("LS430", 2004)]
    in_1992 = catalog.entries(year=1992)
    assert {entry.name for entry in in_1992} == {"SC300 1992", "SC400 1992"}
    assert all(entry.year == 2012 for entry in catalog.entries(year=2012))
    with pytest.raises(CatalogError, match="unknown model"):
        catalog.entries(model="Camry")
    with pytest.raises(CatalogError, match="LS430 years"):
        catalog.entries(model="LS430", year=1999)
    with pytest.raises(CatalogError, match="1992-2015"):
        catalog.entries(year=1985)


def test_to_dict_is_json_with_notes(catalog: Catalog) -> None:
    data = json.loads(json.dumps(catalog.lookup("LS430", 2004).to_dict()))
    assert data["system_type"] == "transponder_key_ecu"
    assert data["did_0x010a_code"] == 2
    assert data["key_limits"]["automatic"] == {"masters": 3, "subs": 1}
    assert data["addresses"]["immobilizer"]["extended_address"] == "0x57"
    assert data["basis"]["system_type"]["kind"] == "public"
    assert "LS430" in data["basis"]["system_type"]["note"]


def test_entries_are_hashable_values(catalog: Catalog) -> None:
    entry = catalog.lookup("LS460", 2012)
    assert {entry: 1}[entry] == 1
    with pytest.raises(AttributeError):
        entry.year = 2013  # type: ignore[misc]
    with pytest.raises(TypeError):
        entry.basis["years"] = Basis(BasisKind.LAB, "x", "y")  # type: ignore[index]


# --- malformed charts ----------------------------------------------------------------------


def _mutated(mutate: Any) -> str:
    document = _chart_document()
    mutate(document)
    return json.dumps(document)


def _entry(document: dict[str, Any], model: str, year: int) -> dict[str, Any]:
    for entry in document["entries"]:
        if (entry["model"], entry["year"]) == (model, year):
            result: dict[str, Any] = entry
            return result
    raise AssertionError((model, year))


def test_packaged_text_parses_to_the_same_chart(catalog: Catalog) -> None:
    assert list(parse_chart(json.dumps(_chart_document()))) == list(catalog)


def test_not_json_is_a_clear_error() -> None:
    with pytest.raises(CatalogError, match=r"^chart\.json: not valid JSON \(line 1 column"):
        parse_chart('{"format": "ecusim-support-chart", ', origin="chart.json")


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: _entry(d, "LS430", 2004).update(system_type="bogus"),
            r"entry #\d+ \(LS430 2004\): system_type must be one of none, ecm_integrated",
        ),
        (
            lambda d: _entry(d, "LS430", 2004).pop("reset_supported"),
            r"\(LS430 2004\): reset_supported: missing",
        ),
        (
            lambda d: _entry(d, "ES300", 2002).update(reset_supported=True),
            r"\(ES300 2002\): reset_supported is true but system_type ecm_integrated cannot be",
        ),
        (
            lambda d: _entry(d, "LS460", 2012)["key_limits"].update(smart_keys="seven"),
            r"\(LS460 2012\): key_limits\.smart_keys must be an integer",
        ),
        (
            lambda d: _entry(d, "LS460", 2012)["key_limits"].pop("smart_keys"),
            r"\(LS460 2012\): key_limits for system_type smart_key must have \['smart_keys'\]",
        ),
        (
            lambda d: _entry(d, "LS430", 2004)["basis"]["system_type"].update(kind="rumour"),
            r"\(LS430 2004\): basis\.system_type\.kind must be one of public, lab",
        ),
        (
            lambda d: _entry(d, "LS430", 2004)["basis"].pop("addresses"),
            r"\(LS430 2004\): basis: missing \['addresses'\]",
        ),
        (
            lambda d: _entry(d, "LS430", 2004)["basis"].update(
                waiting_period={"kind": "lab", "source": "lab-waiting"}
            ),
            r"basis: unexpected \['waiting_period'\] for system_type transponder_key_ecu",
        ),
        (
            lambda d: _entry(d, "LS430", 2004)["basis"]["years"].update(source="nowhere"),
            r"\(LS430 2004\): basis\.years\.source 'nowhere' is not in the chart's sources",
        ),
        (
            lambda d: _entry(d, "LS430", 2004)["addresses"]["immobilizer"].update(request="750"),
            r"\(LS430 2004\): addresses\.immobilizer\.request must be a hex string",
        ),
        (
            lambda d: _entry(d, "LS430", 2004)["addresses"].update(immobilizer=None),
            r"\(LS430 2004\): addresses\.immobilizer is required for system_type transponder",
        ),
        (
            lambda d: _entry(d, "LS430", 2004).update(waiting_period_s=960),
            r"\(LS430 2004\): waiting_period_s must be > 0 for smart_key and 0 otherwise; got 960",
        ),
        (
            lambda d: _entry(d, "LS430", 2004).update(colour="red"),
            r"\(LS430 2004\): entry: unknown field\(s\) \['colour'\]",
        ),
        (
            lambda d: d["entries"].append(dict(_entry(d, "LS430", 2004))),
            r"LS430 2004 appears twice",
        ),
        (lambda d: d["entries"].append(42), r"entry #225: entry must be an object, got a number"),
        (
            lambda d: _entry(d, "LS430", 2004)["key_limits"].update(automatic=3),
            r"\(LS430 2004\): key_limits\.automatic must be an object, got a number",
        ),
        (
            lambda d: _entry(d, "LS430", 2004)["addresses"]["ecm"].update(bus=1, alt=2),
            r"\(LS430 2004\): addresses\.ecm: unknown field\(s\) \['alt', 'bus'\]",
        ),
        (
            lambda d: _entry(d, "LS430", 2004).update(waiting_period_s=True),
            r"\(LS430 2004\): waiting_period_s must be a number ≥ 0, got True",
        ),
        (lambda d: d["sources"].update(empty=""), r"sources\.empty must be a non-empty string"),
        (lambda d: d.update(version=2), r"version 2 is not supported"),
        (lambda d: d.update(format="other"), r"format must be 'ecusim-support-chart'"),
        (lambda d: d.pop("entries"), r"entries: missing"),
    ],
)
def test_corrupted_chart_names_the_entry(mutate: Any, message: str) -> None:
    with pytest.raises(CatalogError, match=message) as info:
        parse_chart(_mutated(mutate), origin="support_chart.json")
    assert str(info.value).startswith("support_chart.json: ")
