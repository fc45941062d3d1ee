"""The portal's tunable limits (pydantic-settings): every budget, window and cost in one place.

Read from the environment (``ECUSIM_PORTAL_<FIELD>``, e.g. ``ECUSIM_PORTAL_LOGIN_FAILURE_BUDGET=5``
or ``ECUSIM_PORTAL_FAILURE_WINDOW=PT15M``) when built with :meth:`PortalSettings.from_env`, so
every worker process of one portal reads the same values; or passed to
:class:`~ecusim.portal.service.Portal` directly. Durations are ISO 8601 (``PT15M``) or seconds,
each with an upper bound (``MAX_*``); a bad value is a :class:`SettingsError` naming the variable.
The defaults follow OWASP ASVS 4.0.3 where it names a number (docs/portal-security.md).
"""

from __future__ import annotations

from datetime import timedelta

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ecusim.portal.errors import SettingsError

__all__ = [
    "ENV_PREFIX",
    "MAX_FAILURE_WINDOW",
    "MAX_ISSUE_RATE_WINDOW",
    "MAX_SESSION_LIFETIME",
    "MAX_STEP_UP_WINDOW",
    "PortalSettings",
]

ENV_PREFIX = "ECUSIM_PORTAL_"
MAX_SESSION_LIFETIME = timedelta(days=30)
"""Longest ``session_lifetime``. Every duration has a bound: a huge one would overflow the
date arithmetic (``now + lifetime``) and answer every call with 500."""
MAX_STEP_UP_WINDOW = timedelta(days=1)
MAX_FAILURE_WINDOW = timedelta(days=1)
MAX_ISSUE_RATE_WINDOW = timedelta(days=31)


class PortalSettings(BaseSettings):
    """Limits of one portal; immutable. Unknown ``ECUSIM_PORTAL_*`` variables are ignored (the
    database URL ``ECUSIM_PORTAL_DB`` lives there too)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True, extra="ignore")

    session_lifetime: timedelta = Field(
        default=timedelta(hours=8),
        gt=timedelta(0),
        le=MAX_SESSION_LIFETIME,
        description="How long a login token works.",
    )
    step_up_window: timedelta = Field(
        default=timedelta(minutes=5),
        gt=timedelta(0),
        le=MAX_STEP_UP_WINDOW,
        description="How long a password re-entry lets the session obtain Pass-Codes.",
    )
    failure_window: timedelta = Field(
        default=timedelta(minutes=15),
        gt=timedelta(0),
        le=MAX_FAILURE_WINDOW,
        description="Failed logins and re-entries count this long (ASVS V2.2.1).",
    )
    login_failure_budget: int = Field(
        default=5, ge=1, le=1000, description="Failures per account within the window before 429."
    )
    address_failure_budget: int = Field(
        default=20, ge=1, le=100000, description="Failures per client address within the window."
    )
    issue_rate_limit: int = Field(
        default=20, ge=1, le=100000, description="Pass-Codes per approval within the issue window."
    )
    issue_rate_window: timedelta = Field(
        default=timedelta(hours=1),
        gt=timedelta(0),
        le=MAX_ISSUE_RATE_WINDOW,
        description="The window of ``issue_rate_limit``.",
    )
    refused_issue_budget: int = Field(
        default=20,
        ge=1,
        le=100000,
        description="Audited refused Pass-Code attempts per user within the failure window.",
    )
    max_body_bytes: int = Field(
        default=64 * 1024, ge=1024, le=16 * 1024 * 1024, description="Largest HTTP request body."
    )
    scrypt_n: int = Field(
        default=2**17,
        ge=2**10,
        le=2**22,
        description="scrypt cost N of new hashes (OWASP: ≥ 2^17).",
    )

    @field_validator("scrypt_n")
    @classmethod
    def _power_of_two(cls, value: int) -> int:
        if value & (value - 1):
            raise ValueError(f"must be a power of two, got {value}")
        return value

    @classmethod
    def from_env(cls) -> PortalSettings:
        """The settings from ``ECUSIM_PORTAL_*``; :class:`SettingsError` names a bad one."""
        try:
            return cls()
        except ValidationError as exc:
            first = exc.errors()[0]
            name = ENV_PREFIX + "_".join(str(part) for part in first["loc"]).upper()
            raise SettingsError(f"{name}: {first['msg']}") from None
