"""DIDs and routines of the certification ECU (diagnostics.md §4; docs/smart-key.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    DID_REGISTRATION_REFUSAL,
    DID_SECURITY_INDICATOR,
    DID_SECURITY_STATUS,
    DID_SMART_KEYS,
    DID_SUB_KEYS,
    DID_WAITING_PERIOD,
    RID_RESET,
    RID_SMART_KEY_REGISTRATION,
    security_status,
)
from ecusim.ecus.key_ecu.encoding import byte_value, no_option, seconds_value
from ecusim.ecus.key_ecu.security import key_ecu_security_levels
from protocol.nvm import NvmStore
from protocol.uds.data_identifiers import DataIdentifier, constant
from protocol.uds.pending import ClockedWork, Reply
from protocol.uds.routines import Routine, RoutineStatus
from protocol.uds.server import UdsServer

if TYPE_CHECKING:
    from ecusim.ecus.certification.ecu import CertificationEcu


SYSTEM_TYPE_SMART_KEY = 3
RESET_SUPPORTED = 1


def build_server(ecu: CertificationEcu, security_nvm: NvmStore) -> UdsServer:
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
            reset_name="smart key reset",
        ),
        security_policy=config.security_policy,
        seed_source=ecu.seed_source,
        security_nvm=security_nvm,
    )


def _data_identifiers(ecu: CertificationEcu) -> list[DataIdentifier]:
    config = ecu.config

    def indicator() -> bytes:
        mode, code = ecu.refresh().indicator()
        return bytes([int(mode), code & 0xFF])

    def waiting() -> bytes:
        now = ecu.server_clock_now()
        return seconds_value(ecu.refresh().waiting_remaining(now))

    def refusal() -> bytes:
        reason = ecu.refusal
        return bytes([int(reason)]) + reason.text.encode("ascii")

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
            # 0x00 "unset (start allowed)" only outside registration (diagnostics.md §4)
            read=lambda: byte_value(ecu.refresh().immobilizer_set or ecu.registration_mode != 0),
        ),
        # A smart key system has neither master nor sub keys.
        DataIdentifier(DID_MASTER_KEYS, "master keys", read=constant(bytes(1))),
        DataIdentifier(DID_SUB_KEYS, "sub keys", read=constant(bytes(1))),
        DataIdentifier(DID_SECURITY_INDICATOR, "security indicator", read=indicator),
        DataIdentifier(
            DID_REGISTRATION_MODE,
            "registration mode",
            read=lambda: byte_value(ecu.refresh().registration_mode),
        ),
        DataIdentifier(
            DID_CAPABILITIES,
            "capabilities",
            read=constant(bytes([SYSTEM_TYPE_SMART_KEY, RESET_SUPPORTED])),
        ),
        DataIdentifier(DID_WAITING_PERIOD, "waiting period", read=waiting),
        DataIdentifier(
            DID_SECURITY_STATUS,
            "security access status",
            read=lambda: security_status(ecu.server),
        ),
        DataIdentifier(DID_SMART_KEYS, "smart keys", read=lambda: byte_value(ecu.key_count)),
        DataIdentifier(DID_REGISTRATION_REFUSAL, "last registration refusal", read=refusal),
    ]


def _routines(ecu: CertificationEcu) -> list[Routine]:
    reset_status = [RoutineStatus.DONE]

    def start_reset(option: bytes) -> Reply:
        no_option(option)
        ecu.check_reset_preconditions()
        reset_status[0] = RoutineStatus.RUNNING

        def finish() -> bytes:
            ecu.reset_all_keys(ecu.server_clock_now())
            reset_status[0] = RoutineStatus.DONE
            return bytes([RoutineStatus.DONE])

        return ClockedWork(ecu.clock, ecu.clock.now() + ecu.config.erase_duration_s, finish)

    def registration_record() -> bytes:
        """Status (0 done, 1 running, 2 failed), waiting period remaining (2 bytes, s; 0 once
        registration is open), registered smart keys (1 byte)."""
        now = ecu.server_clock_now()
        ecu.refresh()
        return (
            bytes([ecu.registration_status])
            + seconds_value(ecu.waiting_remaining(now))
            + byte_value(ecu.key_count)
        )

    def start_registration(option: bytes) -> bytes:
        no_option(option)
        ecu.start_registration(ecu.server_clock_now())
        return registration_record()

    def stop_registration(option: bytes) -> bytes:
        no_option(option)
        ecu.stop_registration()
        return registration_record()

    return [
        Routine(
            RID_RESET,
            "smart key reset",
            start=start_reset,
            results=lambda: bytes([reset_status[0]]) + byte_value(ecu.key_count),
            security=frozenset({LEVEL_IMMOBILIZER_RESET}),
        ),
        Routine(
            RID_SMART_KEY_REGISTRATION,
            "smart key code registration",
            start=start_registration,
            stop=stop_registration,
            results=registration_record,
            security=frozenset({LEVEL_EXTENDED_DIAGNOSTICS, LEVEL_IMMOBILIZER_RESET}),
        ),
    ]
