"""An ECU of your own, described by a TOML file (docs/own-ecu.md): addresses, sessions, DIDs,
routines, DTCs and security levels, served by the generic :class:`~protocol.uds.server.UdsServer`.
"""

from protocol.ecu_file.build import DeclarativeEcu, EcuFileValueError, build_ecu
from protocol.ecu_file.collisions import address_conflict
from protocol.ecu_file.loader import EcuFileError, load_ecu_file, read_ecu_file

__all__ = [
    "DeclarativeEcu",
    "EcuFileError",
    "EcuFileValueError",
    "address_conflict",
    "build_ecu",
    "load_ecu_file",
    "read_ecu_file",
]
