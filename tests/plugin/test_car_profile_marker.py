"""``@pytest.mark.ecusim_car(car="my-car.toml")``: the virtual car is the profile's, found
beside the test's file, and the plugin's clients use its addresses and padding
(docs/pytest-plugin.md, docs/car-profiles.md). Run in a fresh pytest so the profile really is a
file next to a test module."""

from __future__ import annotations

import pytest

PROFILE = """\
format = "ecusim-car-profile"
version = 1
model = "LS430"
year = 2004
system_type = "transponder_key_ecu"
reset_supported = true
keyless_entry = "programmable"

[key_limits]
automatic = { masters = 3, subs = 1 }
additional = { masters = 5, subs = 3 }

[factory_keys]
masters = 2
subs = 1
smart_keys = 0

[ecus.ecm]
request = "0x7E0"
response = "0x7E8"
functional = "0x7DF"
padding = 0x00

[ecus.immobilizer]
request = "0x740"
response = "0x748"
extended_address = "0x47"
padding = 0x00
"""

INNER = """
import pytest

@pytest.mark.ecusim_car(car="my-car.toml")
def test_car(virtual_car, uds_client):
    assert virtual_car.vehicle.model_year.name == "LS430 2004"
    assert virtual_car.key_ecu.addressing.request_id == 0x740
    assert virtual_car.key_ecu.addressing.extended_address == 0x47
    assert virtual_car.isotp_params()["tx_padding"] == 0x00
    assert uds_client.read_data_by_identifier_first(0xF190) == virtual_car.vin
    assert virtual_car.requests.last().ecu == "immobilizer"

@pytest.mark.ecusim_car(car="missing.toml")
def test_missing(virtual_car):
    pass
"""


def test_the_marker_takes_a_car_profile_beside_the_test(pytester: pytest.Pytester) -> None:
    (pytester.path / "my-car.toml").write_text(PROFILE, encoding="utf-8")
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "-q", timeout=120.0)
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*@pytest.mark.ecusim_car: *missing.toml: cannot read the car profile: No such file*"]
    )
