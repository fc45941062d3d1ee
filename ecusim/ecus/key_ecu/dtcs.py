"""The immobilizer DTCs every key-code ECU reports (domain.md)."""

from __future__ import annotations

from protocol.uds.dtc import dtc_number

DTC_NO_COMMUNICATION = dtc_number("B2796")
"""B2796: no communication (key code not received)."""
DTC_COMMUNICATION_MALFUNCTION = dtc_number("B2797")
"""B2797: communication malfunction 1."""
DTC_KEY_NOT_IDENTIFIED = dtc_number("B2798")
"""B2798: key code not identified within 0.15-0.5 s."""
DTC_ECM_ID_MISMATCH = dtc_number("B2799")
"""B2799: engine immobilizer malfunction (ECU-ECM communication ID mismatch)."""

IMMOBILIZER_DTCS = (
    DTC_NO_COMMUNICATION,
    DTC_COMMUNICATION_MALFUNCTION,
    DTC_KEY_NOT_IDENTIFIED,
    DTC_ECM_ID_MISMATCH,
)
"""The DTCs a key-code ECU supports, in the order it reports them."""
