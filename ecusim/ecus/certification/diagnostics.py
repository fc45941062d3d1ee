"""DIDs and routines of the certification ECU (diagnostics.md §4; docs/smart-key.md)."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from ecusim.ecus.identification import active_session_did, identification_dids, vin_did
from ecusim.ecus.immobilizer.config import LEVEL_EXTENDED_DIAGNOSTICS, LEVEL_IMMOBILIZER_RESET
from ecusim.ecus.immobilizer.diagnostics import CurrentVinPassCode
from protocol.constants import Nrc
from protocol.errors import NegativeResponseError
from protocol.nvm import NvmStore
from protocol.security_algorithms import LabDiagnosticAlgorithm
from protocol.uds.data_identifiers import DataIdentifier, constant
from protocol.uds.pending import Reply, TimedWork
from protocol.uds.routines import Routine, RoutineStatus
from protocol.uds.security import SecurityLevel
from protocol.uds.server import UdsServer

if TYPE_CHECKING:
    from ecusim.ecus.certification.ecu import CertificationEcu

DID_IMMOBILIZER_STATE = 0x0101
DID_MASTER_KEYS = 0x0106
DID_SUB_KEYS = 0x0107
DID_SECURITY_INDICATOR = 0x0108
DID_REGISTRATION_MODE = 0x0109
DID_CAPABILITIES = 0x010A
DID_WAITING_PERIOD = 0x010B
DID_SECURITY_STATUS = 0x010C
DID_SMART_KEYS = 0x010D
DID_REGISTRATION_REFUSAL = 0x010E
"""[LAB] The last smart key registration refusal: reason code (1 byte) + ASCII text."""

RID_RESET = 0x0201
RID_SMART_KEY_REGISTRATION = 0x0206

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
        security_levels=[
            SecurityLevel(
                LEVEL_EXTENDED_DIAGNOSTICS,
                LabDiagnosticAlgorithm(diag_key=config.diag_key),
                name="extended diagnostics",
            ),
            SecurityLevel(
                LEVEL_IMMOBILIZER_RESET,
                CurrentVinPassCode(lambda: ecu.vin, config.master_secret),
                name="smart key reset",
            ),
        ],
        security_policy=config.security_policy,
        seed_source=ecu.seed_source,
        security_nvm=security_nvm,
    )


def _byte(value: int) -> bytes:
    return bytes([max(0, min(0xFF, value))])


def _seconds(value: float) -> bytes:
    """Seconds rounded up, as 2 bytes big-endian (0xFFFF at most)."""
    return min(math.ceil(value), 0xFFFF).to_bytes(2, "big")


def _data_identifiers(ecu: CertificationEcu) -> list[DataIdentifier]:
    config = ecu.config

    def indicator() -> bytes:
        mode, code = ecu.refresh().indicator()
        return bytes([int(mode), code & 0xFF])

    def waiting() -> bytes:
        now = ecu.server_clock_now()
        return _seconds(ecu.refresh().waiting_remaining(now))

    def security_status() -> bytes:
        now = ecu.server_clock_now()
        security = ecu.server.security
        return _byte(security.failed_attempts) + _seconds(security.delay_remaining(now))

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
            read=lambda: _byte(ecu.refresh().immobilizer_set),
        ),
        # A smart key system has neither master nor sub keys.
        DataIdentifier(DID_MASTER_KEYS, "master keys", read=constant(bytes(1))),
        DataIdentifier(DID_SUB_KEYS, "sub keys", read=constant(bytes(1))),
        DataIdentifier(DID_SECURITY_INDICATOR, "security indicator", read=indicator),
        DataIdentifier(
            DID_REGISTRATION_MODE,
            "registration mode",
            read=lambda: _byte(ecu.refresh().registration_mode),
        ),
        DataIdentifier(
            DID_CAPABILITIES,
            "capabilities",
            read=constant(bytes([SYSTEM_TYPE_SMART_KEY, RESET_SUPPORTED])),
        ),
        DataIdentifier(DID_WAITING_PERIOD, "waiting period", read=waiting),
        DataIdentifier(DID_SECURITY_STATUS, "security access status", read=security_status),
        DataIdentifier(DID_SMART_KEYS, "smart keys", read=lambda: _byte(ecu.key_count)),
        DataIdentifier(DID_REGISTRATION_REFUSAL, "last registration refusal", read=refusal),
    ]


def _no_option(option: bytes) -> None:
    if option:
        raise NegativeResponseError(Nrc.REQUEST_OUT_OF_RANGE, "this routine takes no option")


def _routines(ecu: CertificationEcu) -> list[Routine]:
    reset_status = [RoutineStatus.DONE]

    def start_reset(option: bytes) -> Reply:
        _no_option(option)
        ecu.check_reset_preconditions()
        reset_status[0] = RoutineStatus.RUNNING

        def finish() -> bytes:
            ecu.reset_all_keys(ecu.server_clock_now())
            reset_status[0] = RoutineStatus.DONE
            return bytes([RoutineStatus.DONE])

        return TimedWork(ecu.server_clock_now() + ecu.config.erase_duration_s, finish)

    def registration_record() -> bytes:
        """Status (0 done, 1 running, 2 failed), waiting period remaining (2 bytes, s; 0 once
        registration is open), registered smart keys (1 byte)."""
        now = ecu.server_clock_now()
        ecu.refresh()
        return (
            bytes([ecu.registration_status])
            + _seconds(ecu.waiting_remaining(now))
            + _byte(ecu.key_count)
        )

    def start_registration(option: bytes) -> bytes:
        _no_option(option)
        ecu.start_registration(ecu.server_clock_now())
        return registration_record()

    def stop_registration(option: bytes) -> bytes:
        _no_option(option)
        ecu.stop_registration()
        return registration_record()

    return [
        Routine(
            RID_RESET,
            "smart key reset",
            start=start_reset,
            results=lambda: bytes([reset_status[0]]) + _byte(ecu.key_count),
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
