"""A car profile on a built car (docs/car-profiles.md): :func:`fit_profile` sets each node's
transport, timing, security algorithms and extra DIDs before the car first runs, and
:func:`profile_of` reads them back (``ecusim models --export``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence

from ecusim.catalog import ModelYear
from ecusim.catalog.profile import CarProfile, EcuProfile, ProfileError
from ecusim.ecus.base import DiagnosableEcu
from protocol.errors import ConfigurationError
from protocol.security_algorithms import AlgorithmContext, default_registry
from protocol.uds.data_identifiers import DataIdentifier, constant
from protocol.uds.timing import ServerTiming

__all__ = ["fit_profile", "profile_of"]

MAX_PENDING_SHARE = 0.4
"""A shorter P2* brings the 0x78 repeat to at most this share of it (ISO 14229-2 §7.2: the
next 0x78 must come within P2*)."""


def _nodes(
    ecus: Sequence[DiagnosableEcu], profile_roles: Mapping[str, EcuProfile]
) -> dict[str, DiagnosableEcu]:
    """Each role's ECU: the one at the role's addresses (the ECM holds the codes itself on an
    ECM-integrated car)."""
    found: dict[str, DiagnosableEcu] = {}
    for role, ecu_profile in profile_roles.items():
        wanted = ecu_profile.address.isotp_addressing()
        for ecu in ecus:
            if ecu.addressing == wanted:
                found[role] = ecu
                break
        else:
            raise ProfileError(f"ecus.{role}: no node of the car answers at {wanted.describe()}")
    return found


def fit_profile(
    ecus: Sequence[DiagnosableEcu], profile: CarProfile, context: AlgorithmContext
) -> None:
    """Give a built car's ``ecus`` the profile's settings, before the car first runs
    (``context``: the car's VIN and secrets, for the algorithms the profile names). A level a
    node does not have or a DID it already has raises :class:`ProfileError` naming the key."""
    try:
        for role, ecu in _nodes(ecus, profile.ecus).items():
            _fit_node(ecu, role, profile.ecus[role], context)
    except ProfileError as exc:
        raise ProfileError(f"{profile.origin}: {exc}") from exc


def _fit_node(
    ecu: DiagnosableEcu, role: str, wanted: EcuProfile, context: AlgorithmContext
) -> None:
    isotp = ecu.isotp_parameters
    changes: dict[str, object] = {}
    if wanted.padding is not None:
        changes["padding"] = wanted.padding
    if wanted.st_min_ms is not None:
        changes["st_min_s"] = wanted.st_min_ms / 1000
    if wanted.block_size is not None:
        changes["block_size"] = wanted.block_size
    if wanted.n_wft_max is not None:
        changes["n_wft_max"] = wanted.n_wft_max
    ecu.isotp_parameters = dataclasses.replace(isotp, **changes)  # type: ignore[arg-type]
    server = ecu.server
    timing = server.config.timing
    p2_s = timing.p2_s if wanted.p2_ms is None else wanted.p2_ms / 1000
    p2_star_s = timing.p2_star_s if wanted.p2_star_ms is None else wanted.p2_star_ms / 1000
    repeat_s = min(timing.pending_repeat_s, p2_star_s * MAX_PENDING_SHARE)
    new_timing = ServerTiming(p2_s=p2_s, p2_star_s=p2_star_s, s3_s=timing.s3_s,
                              pending_repeat_s=repeat_s)  # fmt: skip
    server.config = dataclasses.replace(server.config, timing=new_timing)
    for level, name in wanted.security.items():
        _fit_level(ecu, role, level, name, context)
    dids = dict(server.dids)
    for did, value in wanted.dids.items():
        if did in dids:
            raise ProfileError(
                f"ecus.{role}.dids.0x{did:04X}: the {ecu.name} already has DID 0x{did:04X} "
                f"({dids[did].name}); extra DIDs must be new"
            )
        # Read-only in every session, no security (read_sessions None: all).
        dids[did] = DataIdentifier(did, f"profile DID 0x{did:04X}", read=constant(value))
    server.dids = dids


def _fit_level(
    ecu: DiagnosableEcu, role: str, level: int, name: str, context: AlgorithmContext
) -> None:
    levels = ecu.server.security.levels
    current = levels.get(level)
    where = f"ecus.{role}.security.0x{level:02X}"
    if current is None:
        have = ", ".join(f"0x{number:02X}" for number in levels) or "none"
        raise ProfileError(f"{where}: the {ecu.name} has no level 0x{level:02X} (it has {have})")
    if current.algorithm.name == name:
        return  # the node's own (e.g. level 0x11's Pass-Code for its write-once VIN)
    registry = default_registry()
    try:
        registry.load_entry_points(replace=True)
        algorithm = registry.create(name, context)
    except ConfigurationError as exc:
        raise ProfileError(f"{where}: {exc}") from exc
    levels[level] = dataclasses.replace(current, algorithm=algorithm)


def profile_of(entry: ModelYear, ecus: Sequence[DiagnosableEcu]) -> CarProfile:
    """The profile of the car built from ``entry`` with ``ecus``: the entry, and each node's
    padding, STmin, block size, N_WFTmax, P2, P2* and algorithm names (a profile that builds it
    again)."""
    roles = CarProfile.from_entry(entry).ecus
    nodes: dict[str, EcuProfile] = {}
    for role, ecu in _nodes(ecus, roles).items():
        isotp, timing = ecu.isotp_parameters, ecu.server.config.timing
        st_min_ms = isotp.st_min_s * 1000
        nodes[role] = EcuProfile(
            address=roles[role].address,
            padding=isotp.padding,
            st_min_ms=int(st_min_ms) if st_min_ms.is_integer() else st_min_ms,
            block_size=isotp.block_size,
            n_wft_max=isotp.n_wft_max,
            p2_ms=round(timing.p2_s * 1000),
            p2_star_ms=round(timing.p2_star_s * 1000),
            security={
                number: level.algorithm.name for number, level in ecu.server.security.levels.items()
            },
        )
    return CarProfile.from_entry(entry, nodes)
