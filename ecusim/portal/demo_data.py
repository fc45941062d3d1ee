"""A demo dealer to try the portal with: two approving managers and a technician [LAB].

``ecusim portal init --demo`` adds it and prints the usernames and passwords. Passwords are
random (:func:`secrets.token_urlsafe`, 16 characters) unless one is given for all three; a
given one must pass the portal's password policy for each of the three usernames
(:func:`~ecusim.portal.passwords.check_new_password`).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Final

from ecusim.portal.passwords import check_new_password
from ecusim.portal.service import Portal

__all__ = [
    "DEMO_DEALER_CODE",
    "DEMO_DEALER_NAME",
    "DemoDealer",
    "DemoUser",
    "add_demo_dealer",
    "check_new_demo_password",
]

DEMO_DEALER_CODE: Final = "63123"
DEMO_DEALER_NAME: Final = "Lexus of Lab City (demo)"
_DEMO_STAFF: Final = (
    ("demo-manager1", "Dana Manager", "Service Manager"),
    ("demo-manager2", "Gale Manager", "General Manager"),
    ("demo-technician", "Toni Technician", "Technician"),
)
_PASSWORD_BYTES: Final = 12
"""16 URL-safe characters."""


@dataclass(frozen=True)
class DemoUser:
    username: str
    name: str
    job_title: str
    password: str


@dataclass(frozen=True)
class DemoDealer:
    code: str
    name: str
    users: tuple[DemoUser, ...]
    """The two managers, then the technician."""

    @property
    def managers(self) -> tuple[DemoUser, ...]:
        return self.users[:2]

    @property
    def technician(self) -> DemoUser:
        return self.users[2]


def check_new_demo_password(password: str) -> None:
    """Refuse (:class:`~ecusim.portal.errors.ValidationError`, field ``password``) a demo
    password that breaks the policy for any of the demo usernames."""
    for username, _, _ in _DEMO_STAFF:
        check_new_password(password, username)


def add_demo_dealer(
    portal: Portal,
    password: str | None = None,
    *,
    code: str = DEMO_DEALER_CODE,
    name: str = DEMO_DEALER_NAME,
) -> DemoDealer:
    """Enroll the demo dealer and its staff; each gets ``password`` or a random one.

    Raises :class:`~ecusim.portal.errors.ConflictError` if the dealer or a username exists,
    :class:`~ecusim.portal.errors.ValidationError` (field ``password``) if ``password`` breaks
    the policy, before anything is added.
    """
    if password is not None:
        check_new_demo_password(password)
    portal.enroll_dealer(code, name, actor="demo")
    users: list[DemoUser] = []
    for username, full_name, title in _DEMO_STAFF:
        secret = password if password is not None else secrets.token_urlsafe(_PASSWORD_BYTES)
        portal.add_staff(code, username, full_name, title, secret, actor="demo")
        users.append(DemoUser(username, full_name, title, secret))
    return DemoDealer(code, name, tuple(users))
