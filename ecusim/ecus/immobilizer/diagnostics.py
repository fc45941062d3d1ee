"""DIDs and routines of the transponder key ECU (diagnostics.md §4)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ecusim.car.keys import KeyKind
from ecusim.ecus.identification import (
    LEVEL_EXTENDED_DIAGNOSTICS,
    LEVEL_IMMOBILIZER_RESET,
    active_session_did,
    identification_dids,
    vin_did,
)
from ecusim.ecus.key_ecu.diagnostics import (
    DID_CAPABILITIES,
    DID_IMMOBILIZER_STATE,
    DID_MASTER_KEYS,
    DID_REGISTRATION_MODE,
    DID_SECURITY_INDICATOR,
    DID_SECURITY_STATUS,
    DID_SUB_KEYS,
    DID_WAITING_PERIOD,
    RID_ADDITIONAL_REGISTRATION,
    RID_END_AUTOMATIC_REGISTRATION,
    RID_ERASE_KEYS,
    RID_RESET,
    security_status,
)
from ecusim.ecus.key_ecu.encoding import byte_value, no_option, one_option
from ecusim.ecus.key_ecu.security import key_ecu_security_levels
from protocol.nvm import NvmStore
from protocol.uds.data_identifiers import DataIdentifier, constant
from protocol.uds.pending import ClockedWork, Reply
from protocol.uds.routines import Routine, RoutineStatus
from protocol.uds.server import UdsServer

if TYPE_CHECKING:
    from ecusim.ecus.immobilizer.ecu import TransponderKeyEcu


SYSTEM_TYPE_ECM_INTEGRATED = 1
SYSTEM_TYPE_TRANSPONDER_KEY_ECU = 2

ADDITIONAL_OPTIONS = {0x01: KeyKind.MASTER, 0x02: KeyKind.SUB}
ERASE_ALL_BUT_MASTER = 0x01
ERASE_ALL = 0x02


def build_server(ecu: TransponderKeyEcu, security_nvm: NvmStore) -> UdsServer:
    """The ECU's UDS server: levels 0x01 (lab diagnostic) and 0x11 (pass-code for the VIN)."""
    config = ecu.config
    return UdsServer(
        config=config.server,
        data_identifiers=_data_identifiers(ecu),
        routines=_routines(ecu),
        dtcs=ecu.dtcs,
        security_levels=key_ecu_security_levels(
            diag_key=config.diag_key,
            vin=lambda: ecu.vin,
            master_secret=config.master_secret,
            reset_name=None if config.ecm_integrated else "immobilizer reset",  # no reset there
        ),
        security_policy=config.security_policy,
        seed_source=ecu.seed_source,
        security_nvm=security_nvm,
    )


def _data_identifiers(ecu: TransponderKeyEcu) -> list[DataIdentifier]:
    config = ecu.config

    def indicator() -> bytes:
        ecu.refresh()
        mode, code = ecu.indicator()
        return bytes([int(mode), code & 0xFF])

    return [
        vin_did(lambda: ecu.vin, ecu.store_vin),
        *identification_dids(
            serial_number=ecu.serial_number,
            part_number=config.part_number,
            system_name=config.system_name,
        ),
        active_session_did(lambda: ecu.server),
        DataIdentifier(
            DID_IMMOBILIZER_STATE,
            "immobilizer state",
            # 0x00 "unset (start allowed)" only when a start really is (diagnostics.md §4)
            read=lambda: byte_value(not ecu.refresh().start_permitted()),
        ),
        DataIdentifier(
            DID_MASTER_KEYS,
            "master keys",
            read=lambda: byte_value(ecu.key_count(KeyKind.MASTER)),
        ),
        DataIdentifier(
            DID_SUB_KEYS, "sub keys", read=lambda: byte_value(ecu.key_count(KeyKind.SUB))
        ),
        DataIdentifier(DID_SECURITY_INDICATOR, "security indicator", read=indicator),
        DataIdentifier(
            DID_REGISTRATION_MODE,
            "registration mode",
            read=lambda: byte_value(ecu.refresh().registration_mode),
        ),
        DataIdentifier(
            DID_CAPABILITIES,
            "capabilities",
            read=constant(
                bytes([SYSTEM_TYPE_ECM_INTEGRATED, 0])
                if config.ecm_integrated
                else bytes([SYSTEM_TYPE_TRANSPONDER_KEY_ECU, 1])
            ),
        ),
        DataIdentifier(DID_WAITING_PERIOD, "waiting period", read=constant(bytes(2))),
        DataIdentifier(
            DID_SECURITY_STATUS,
            "security access status",
            read=lambda: security_status(ecu.server),
        ),
    ]


def _counts(ecu: TransponderKeyEcu) -> bytes:
    return byte_value(ecu.key_count(KeyKind.MASTER)) + byte_value(ecu.key_count(KeyKind.SUB))


def _routines(ecu: TransponderKeyEcu) -> list[Routine]:
    reset_status = [RoutineStatus.DONE]

    def start_reset(option: bytes) -> Reply:
        no_option(option)
        ecu.check_reset_preconditions()
        reset_status[0] = RoutineStatus.RUNNING

        def finish() -> bytes:
            ecu.reset_all_keys()
            reset_status[0] = RoutineStatus.DONE
            return bytes([RoutineStatus.DONE])

        return ClockedWork(ecu.clock, ecu.clock.now() + ecu.config.erase_duration_s, finish)

    def start_additional(option: bytes) -> bytes:
        kind = ADDITIONAL_OPTIONS[one_option(option, ADDITIONAL_OPTIONS)]
        ecu.open_additional_registration(kind, ecu.server_clock_now())
        return bytes([RoutineStatus.RUNNING])

    def stop_additional(option: bytes) -> bytes:
        no_option(option)
        ecu.close_additional_registration()
        return bytes([ecu.additional_status])

    def additional_results() -> bytes:
        ecu.refresh()
        remaining = math.ceil(ecu.additional_remaining(ecu.server_clock_now()))
        return bytes([ecu.additional_status]) + remaining.to_bytes(2, "big")

    def start_end_automatic(option: bytes) -> bytes:
        no_option(option)
        ecu.end_automatic_registration()
        return bytes([RoutineStatus.DONE])

    def start_erase(option: bytes) -> bytes:
        choice = one_option(option, {ERASE_ALL_BUT_MASTER, ERASE_ALL})
        ecu.erase(keep_present_master=choice == ERASE_ALL_BUT_MASTER)
        return bytes([RoutineStatus.DONE]) + _counts(ecu)

    diag = frozenset({LEVEL_EXTENDED_DIAGNOSTICS})
    end_automatic = Routine(
        RID_END_AUTOMATIC_REGISTRATION,
        "end automatic registration",
        start=start_end_automatic,
        results=lambda: bytes([RoutineStatus.DONE]) + _counts(ecu),
    )
    if ecu.config.ecm_integrated:
        # No scan-tool reset on ECM-integrated immobilizers (bulletin: refer to the SPOC
        # bulletin): 0x0201 is not a routine of this ECU, so it answers 0x31.
        return [end_automatic]
    return [
        Routine(
            RID_RESET,
            "immobilizer reset",
            start=start_reset,
            results=lambda: bytes([reset_status[0]]) + _counts(ecu),
            security=frozenset({LEVEL_IMMOBILIZER_RESET}),
        ),
        Routine(
            RID_ADDITIONAL_REGISTRATION,
            "additional key registration",
            start=start_additional,
            stop=stop_additional,
            results=additional_results,
            security=diag,
        ),
        end_automatic,
        Routine(
            RID_ERASE_KEYS,
            "erase keys",
            start=start_erase,
            results=lambda: bytes([RoutineStatus.DONE]) + _counts(ecu),
            security=diag,
        ),
    ]
