"""The API in several worker processes: uvicorn's multiprocess supervisor on one bound socket.

:func:`serve_workers` sets the environment every worker reads, then runs
:class:`uvicorn.supervisors.Multiprocess`: each worker is a fresh (spawned) process that builds
its own application with :func:`app_from_env` (an import-string factory) and accepts
connections on the socket the parent bound with :func:`~ecusim.portal.api.serving.listen`.

The workers share nothing but the database: the login sessions and the failure throttle live
there (:mod:`ecusim.portal.login_sessions`, :mod:`ecusim.portal.throttle`), so any worker
serves any token and the budgets hold across workers. PostgreSQL is the intended database for
this; an SQLite file works too (WAL, writers take turns), for a small site.

The environment of a worker:

- :data:`~ecusim.portal.db.URL_ENV_VAR` (``ECUSIM_PORTAL_DB``): the database URL (required);
- ``ECUSIM_SECRET_FILE`` (the secret file) or :data:`LAB_SECRET_ENV_VAR` = ``1`` (the public
  lab secret, chosen knowingly); without either a worker refuses to start;
- ``ECUSIM_PORTAL_*``: the settings (:class:`~ecusim.portal.settings.PortalSettings`).

Each worker's log lines carry its process id (``[pid]``), so an operator sees which worker
served which request.
"""

from __future__ import annotations

import copy
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import uvicorn
from fastapi import FastAPI
from uvicorn.config import LOGGING_CONFIG
from uvicorn.supervisors import Multiprocess

from ecusim.portal.api.app import create_app
from ecusim.portal.db import URL_ENV_VAR, make_engine, make_session_factory
from ecusim.portal.service import Portal
from ecusim.portal.settings import PortalSettings
from ecusim.secret_file import ENV_VAR as SECRET_FILE_ENV_VAR
from ecusim.secret_file import load
from protocol.passcode import DEFAULT_MASTER_SECRET

__all__ = [
    "APP_FACTORY",
    "LAB_SECRET_ENV_VAR",
    "WORKER_LOG_CONFIG",
    "WorkerConfigError",
    "app_from_env",
    "serve_workers",
    "worker_environment",
]

APP_FACTORY: Final = "ecusim.portal.api.workers:app_from_env"
"""The import string uvicorn calls (``factory=True``) in each worker."""
LAB_SECRET_ENV_VAR: Final = "ECUSIM_PORTAL_LAB_SECRET"
"""``1``: the workers run on the public lab secret (no secret file), knowingly."""


def _with_pid(config: Mapping[str, Any]) -> dict[str, Any]:
    logging_config = copy.deepcopy(dict(config))
    for formatter in logging_config["formatters"].values():
        formatter["fmt"] = formatter["fmt"].replace(
            "%(levelprefix)s ", "%(levelprefix)s [%(process)d] "
        )
    return logging_config


WORKER_LOG_CONFIG: Final = _with_pid(LOGGING_CONFIG)
"""uvicorn's logging, each line with the worker's process id after the level."""


class WorkerConfigError(RuntimeError):
    """A worker's environment does not say what to serve."""


def worker_environment(db_url: str, secret_file: Path | None) -> dict[str, str]:
    """The variables :func:`app_from_env` reads (the settings' ``ECUSIM_PORTAL_*`` are
    inherited as they are)."""
    environment = {URL_ENV_VAR: db_url}
    if secret_file is None:
        environment[LAB_SECRET_ENV_VAR] = "1"
    else:
        environment[SECRET_FILE_ENV_VAR] = str(secret_file.resolve())
    return environment


def _master_secret() -> bytes:
    path = os.environ.get(SECRET_FILE_ENV_VAR)
    if path:
        return load(Path(path)).master_secret
    if os.environ.get(LAB_SECRET_ENV_VAR) == "1":
        return DEFAULT_MASTER_SECRET
    raise WorkerConfigError(
        f"set ${SECRET_FILE_ENV_VAR} (the secret file) or ${LAB_SECRET_ENV_VAR}=1 (the lab secret)"
    )


def app_from_env() -> FastAPI:
    """The API of the portal the environment describes (see the module docstring); the
    database must already be initialised (``ecusim portal init``)."""
    url = os.environ.get(URL_ENV_VAR)
    if not url:
        raise WorkerConfigError(f"set ${URL_ENV_VAR} to the portal's database URL")
    portal = Portal(
        make_session_factory(make_engine(url)),
        master_secret=_master_secret(),
        settings=PortalSettings.from_env(),
    )
    return create_app(portal)


def serve_workers(
    sock: socket.socket,
    workers: int,
    *,
    db_url: str,
    secret_file: Path | None,
    **options: Any,
) -> None:
    """Serve the API on ``sock`` (from :func:`~ecusim.portal.api.serving.listen`) with
    ``workers`` processes until interrupted (SIGINT/SIGTERM end the workers too). ``options``
    go to :class:`uvicorn.Config`."""
    if workers < 1:
        raise ValueError(f"workers must be at least 1, got {workers}")
    os.environ.update(worker_environment(db_url, secret_file))
    host, port = sock.getsockname()[:2]
    options.setdefault("log_config", WORKER_LOG_CONFIG)
    options.setdefault("proxy_headers", False)  # as make_server: the TCP peer is the client
    config = uvicorn.Config(
        APP_FACTORY, factory=True, host=host, port=port, workers=workers, **options
    )
    Multiprocess(config, sockets=[sock]).run()
