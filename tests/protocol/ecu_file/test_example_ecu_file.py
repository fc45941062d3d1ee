"""The shipped examples/my-ecu.toml loads, and what docs/own-ecu.md says of it holds."""

from __future__ import annotations

from pathlib import Path

from protocol.clock import FakeClock
from protocol.constants import Addressing
from protocol.ecu_file import load_ecu_file
from protocol.seed_source import ScriptedSeedSource

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "my-ecu.toml"


def test_example_loads_with_its_addresses_padding_and_sessions() -> None:
    ecu = load_ecu_file(EXAMPLE)
    assert ecu.name == "body-gateway"
    assert ecu.describe() == "body-gateway (ECU file): 0x7A0 -> 0x7A8, functional 0x7DF"
    assert ecu.isotp_parameters.padding == 0x00
    assert ecu.server.config.sessions == {0x01, 0x03, 0x60}
    assert set(ecu.server.dids) == {0xF190, 0x0150}
    assert set(ecu.server.routines) == {0x0203}
    assert set(ecu.server.security.levels) == {0x01}
    assert ecu.server.security.levels[0x01].algorithm.name == "lab-diagnostic"


def test_example_level_unlocks_in_its_custom_session() -> None:
    """sessions = ["extended", "engineering"]: level 0x01 answers a seed in 0x60 too."""
    seed = bytes([0xDE, 0xAD, 0xBE, 0xEF])
    ecu = load_ecu_file(EXAMPLE, seed_source=ScriptedSeedSource([seed]))
    clock = FakeClock()
    server = ecu.server
    assert server.handle(bytes([0x10, 0x60]), Addressing.PHYSICAL, clock.now()) is not None
    response = server.handle(bytes([0x27, 0x01]), Addressing.PHYSICAL, clock.now())
    assert response == bytes(
        [
            0x67,  # SecurityAccess positive response
            0x01,  # requestSeed level 0x01
            *seed,  # the scripted seed DE AD BE EF
        ]
    )
    key = server.security.levels[0x01].algorithm.compute_key(seed)
    response = server.handle(bytes([0x27, 0x02, *key]), Addressing.PHYSICAL, clock.now())
    assert response == bytes(
        [
            0x67,  # SecurityAccess positive response
            0x02,  # sendKey: unlocked
        ]
    )


def test_docs_show_the_example_as_it_is() -> None:
    """docs/own-ecu.md embeds examples/my-ecu.toml verbatim: the page cannot drift from it."""
    page = (EXAMPLE.parents[1] / "docs" / "own-ecu.md").read_text(encoding="utf-8")
    assert f"```toml\n{EXAMPLE.read_text(encoding='utf-8')}```" in page
