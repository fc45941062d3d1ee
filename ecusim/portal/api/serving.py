"""Serving the API with uvicorn: in the foreground (:func:`serve`) or on a thread
(:class:`BackgroundServer`), on a socket bound first (:func:`listen`)."""

from __future__ import annotations

import os
import socket
import threading
import time
from typing import Any

import uvicorn

from ecusim.errors import EcusimError
from ecusim.portal.api.app import create_app
from ecusim.portal.api_models import DEFAULT_PORT
from ecusim.portal.service import Portal

__all__ = [
    "DEFAULT_PORT",
    "LISTEN_BACKLOG",
    "BackgroundServer",
    "ServerStartError",
    "listen",
    "make_server",
    "serve",
    "url_host",
]

LISTEN_BACKLOG = 2048
"""uvicorn's default backlog."""


def make_server(
    portal: Portal, host: str = "127.0.0.1", port: int = DEFAULT_PORT, **options: Any
) -> uvicorn.Server:
    """A uvicorn server for the API (not started). ``options`` go to :class:`uvicorn.Config`
    (``ssl_keyfile``, ``log_level`` …). Plain HTTP unless given TLS files: put it on a trusted
    network or behind a TLS proxy.

    ``X-Forwarded-For`` is not trusted unless ``options`` say so (uvicorn would trust it from
    127.0.0.1): the failure throttle counts the TCP peer. Behind a proxy pass
    ``proxy_headers=True, forwarded_allow_ips="<the proxy>"``."""
    options.setdefault("proxy_headers", False)
    config = uvicorn.Config(create_app(portal), host=host, port=port, **options)
    return uvicorn.Server(config)


def listen(host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> socket.socket:
    """A TCP socket listening on ``host:port`` (``port=0``: a free one), for :func:`serve`.

    Binding here, before uvicorn starts, makes a taken port or an unknown host an ``OSError``
    the caller can report, and tells the real address before anything is announced.
    """
    # As uvicorn does: IPv6 only for an IPv6 address, "" for every IPv4 address. The protocol is
    # named: asyncio sets TCP_NODELAY on accepted sockets only when ``sock.proto`` is
    # IPPROTO_TCP (accepted sockets inherit it); with 0 every kept-alive answer waited ~40 ms
    # for Nagle's algorithm and the client's delayed ACK (RFC 896, RFC 1122 §4.2.3.2).
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        if os.name == "posix":  # rebind at once after a restart (uvicorn does the same)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except BaseException:
        sock.close()
        raise
    return sock


def url_host(host: str) -> str:
    """``host`` as written in a URL (an IPv6 address in brackets)."""
    return f"[{host}]" if ":" in host else host


def serve(
    portal: Portal,
    host: str = "127.0.0.1",
    port: int = DEFAULT_PORT,
    *,
    sock: socket.socket | None = None,
    **options: Any,
) -> None:
    """Run the API with uvicorn until interrupted; loopback only unless ``host`` says otherwise.

    ``sock``: a socket from :func:`listen` to serve on (the caller closes it); else one is bound
    to ``host:port`` here (``OSError`` if that fails)."""
    server = make_server(portal, host, port, **options)
    if sock is not None:
        server.run(sockets=[sock])
        return
    with listen(host, port) as own:
        server.run(sockets=[own])


class ServerStartError(EcusimError, RuntimeError):
    """The API did not come up (the port is taken, or it did not listen in time)."""


class BackgroundServer:
    """The API served by uvicorn on a thread of this process (demos, tests).

    :meth:`start` returns ``http://host:port`` once it listens (``port=0``: a free port);
    :meth:`stop` ends it. Both are bounded in time. As a context manager it yields the URL.
    """

    def __init__(
        self,
        portal: Portal,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        start_timeout_s: float = 20.0,
        stop_timeout_s: float = 10.0,
        **options: Any,
    ) -> None:
        options.setdefault("log_level", "warning")
        self._server = make_server(portal, host, port, **options)
        self._socket: socket.socket | None = None
        self._thread = threading.Thread(target=self._run, name="portal-http", daemon=True)
        self.start_timeout_s = start_timeout_s
        self.stop_timeout_s = stop_timeout_s

    def _run(self) -> None:
        assert self._socket is not None
        with self._socket:
            self._server.run(sockets=[self._socket])

    def start(self) -> str:
        host, port = self._server.config.host, self._server.config.port
        try:
            self._socket = listen(host, port)
        except OSError as exc:
            raise ServerStartError(
                f"the portal's API cannot listen on {url_host(host)}:{port}: {exc}"
            ) from exc
        bound_host, bound_port = self._socket.getsockname()[:2]
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout_s
        while not self._server.started:
            if not self._thread.is_alive():
                raise ServerStartError("the portal's API stopped while starting (see its log)")
            if time.monotonic() > deadline:
                self._server.should_exit = True
                raise ServerStartError(
                    f"the portal's API did not start within {self.start_timeout_s:g} s"
                )
            time.sleep(0.01)
        return f"http://{url_host(bound_host)}:{bound_port}"

    @property
    def running(self) -> bool:
        """Whether the server's thread still runs."""
        return self._thread.is_alive()

    def stop(self) -> bool:
        """Ask the server to end and wait for it; whether it ended in time."""
        self._server.should_exit = True
        if self.running:
            self._thread.join(timeout=self.stop_timeout_s)
        return not self.running

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
