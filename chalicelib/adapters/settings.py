"""Run-time configuration, read and validated once from the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

from chalicelib import names as names_module
from chalicelib.names import ResourceNames


class ConfigurationError(RuntimeError):
    """A required setting is missing or malformed; the message names it."""


@dataclass(frozen=True)
class Settings:
    names: ResourceNames
    region: str
    sender: str
    public_base_url: str
    jwt_issuer: str
    jwt_audience: str
    jwks_url: str
    download_link_days: int
    confirm_link_hours: int
    # Release files above this size upload as S3 multipart; tests lower both (S3's minimum part is 5 MiB).
    multipart_threshold: int = 100 * 1024**2  # AWS advises parts above 100 MB: resumable, retried per part
    multipart_part_size: int = 64 * 1024**2
    # The fraction of the account's MaxSendRate one delivery invocation may use: ``make package`` sets it
    # per delivery function from their reserved concurrency (docs/delivery.md); unset, 1 over
    # PATCHCAST_DELIVERY_CONCURRENCY (default 4).
    send_share: float = 0.25
    # Emails/s when SES cannot tell its quota and none is known yet: the sandbox's 1/s outside the local
    # stage (whose AWS has no GetAccount: 0 = unpaced there).
    ses_default_rate: float = 1.0
    # The CSM review's period (chalicelib.domain.accounts.periods): month, week, day or <n>min.
    review_period: str = "month"
    # The user pool's managed login (https://<prefix>.auth.<region>.amazoncognito.com): the portal's sign-in
    # in AWS; the local stage signs in on its own page instead.
    cognito_domain: str = ""

    @property
    def stage(self) -> str:
        return self.names.stage

    @property
    def is_local(self) -> bool:
        return self.stage == "local"


def _require(env: dict[str, str] | os._Environ[str], key: str) -> str:
    value = env.get(key, "").strip()
    if not value:
        raise ConfigurationError(f"environment variable {key} is required but not set")
    return value


def _int(env: dict[str, str] | os._Environ[str], key: str, default: int) -> int:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigurationError(f"environment variable {key} must be an integer, got {raw!r}") from exc


def _float(env: dict[str, str] | os._Environ[str], key: str, default: float) -> float:
    raw = env.get(key)
    if raw is None or raw == "":
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value >= 0:  # also NaN
        raise ConfigurationError(f"environment variable {key} must be a number >= 0, got {raw!r}")
    return value


def _review_period(env: dict[str, str] | os._Environ[str]) -> str:
    from chalicelib.domain.accounts.periods import check_period_setting

    try:
        return check_period_setting(env.get("PATCHCAST_REVIEW_PERIOD") or "month")
    except ValueError as exc:
        raise ConfigurationError(f"environment variable {exc}") from exc


def from_env(env: dict[str, str] | os._Environ[str] = os.environ) -> Settings:
    names = names_module.current(env)
    stage = names.stage
    return Settings(
        names=names,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        sender=_require(env, "PATCHCAST_SENDER"),
        public_base_url=_require(env, "PATCHCAST_PUBLIC_URL").rstrip("/"),
        jwt_issuer=_require(env, "PATCHCAST_JWT_ISSUER"),
        jwt_audience=_require(env, "PATCHCAST_JWT_AUDIENCE"),
        jwks_url=_require(env, "PATCHCAST_JWKS_URL"),
        download_link_days=_int(env, "PATCHCAST_DOWNLOAD_LINK_DAYS", 30),
        confirm_link_hours=_int(env, "PATCHCAST_CONFIRM_LINK_HOURS", 72),
        multipart_threshold=_int(env, "PATCHCAST_MULTIPART_THRESHOLD", 100 * 1024**2),
        multipart_part_size=_int(env, "PATCHCAST_MULTIPART_PART_SIZE", 64 * 1024**2),
        send_share=_float(env, "PATCHCAST_SEND_SHARE", 1 / max(1, _int(env, "PATCHCAST_DELIVERY_CONCURRENCY", 4))),
        ses_default_rate=_float(env, "PATCHCAST_SES_DEFAULT_RATE", 0.0 if stage == "local" else 1.0),
        review_period=_review_period(env),
        cognito_domain=env.get("PATCHCAST_COGNITO_DOMAIN", "").rstrip("/"),
    )


def checked_sender(settings: Settings) -> str:
    """``PATCHCAST_SENDER`` as an address, by the same rules as every address the API takes (it becomes the
    From of every message). Checked where the mailer is made, not in ``from_env``: functions that send no
    mail then never load the address library (cold start). The local stage may send from a ``.test`` domain."""
    from chalicelib.domain.core.errors import BadRequest
    from chalicelib.domain.core.validation import email

    try:
        return email(settings.sender, "PATCHCAST_SENDER", test_domain=settings.is_local)
    except BadRequest as exc:
        raise ConfigurationError(
            f"environment variable PATCHCAST_SENDER is not a usable address: {exc.message}"
        ) from exc


@lru_cache(maxsize=1)
def get() -> Settings:
    return from_env()
