"""Identity from verified bearer JWTs (PyJWT): RS256 only, issuer, audience, exp/nbf, keys from a JWKS.

In AWS the JWKS is the Cognito user pool's; in the local stage it is the local issuer's public key
(a ``file://`` URL), read through the same ``PyJWKClient`` so one code path serves both.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse

from chalicelib.domain.core.errors import Forbidden, Unauthorized
from chalicelib.domain.core.states import Group

if TYPE_CHECKING:  # PyJWT (and cryptography under it) is imported on first use: it is cold-start cost
    import jwt

LEEWAY_SECONDS = 30
ALGORITHMS = ("RS256",)
CUSTOMER = Group.CUSTOMER
RELEASE_ENGINEERS = Group.RELEASE_ENGINEERS
SUPPORT_ADMINS = Group.SUPPORT_ADMINS
STAFF = frozenset({str(RELEASE_ENGINEERS), str(SUPPORT_ADMINS)})


@dataclass(frozen=True)
class Identity:
    subject: str
    email: str | None
    account_id: str | None
    groups: frozenset[str]

    def context(self) -> dict[str, str]:
        """Flat string values, as API Gateway passes an authorizer's context to the route."""
        return {
            "sub": self.subject,
            "email": self.email or "",
            "account_id": self.account_id or "",
            "groups": ",".join(sorted(self.groups)),
        }

    @classmethod
    def from_context(cls, ctx: dict[str, Any]) -> Identity:
        groups = frozenset(g for g in str(ctx.get("groups", "")).split(",") if g)
        return cls(
            subject=str(ctx.get("sub", "")),
            email=str(ctx.get("email") or "") or None,
            account_id=str(ctx.get("account_id") or "") or None,
            groups=groups,
        )

    def require_group(self, group: str) -> None:
        if group not in self.groups:
            raise Forbidden(f"This action needs the {group} role.")

    @property
    def is_customer(self) -> bool:
        """The customer role: an account (``custom:account_id``) and no staff group. A release engineer or
        support admin whose user happens to carry an account id is staff, never that account's customer."""
        return bool(self.account_id) and not self.groups & STAFF

    def require_customer(self) -> str:
        if not self.is_customer or not self.account_id:
            raise Forbidden("This action needs a customer token with an account (custom:account_id).")
        return self.account_id


class _FileJwks:
    """A JWKS on disk (the local issuer's), re-read when it changes; same interface as ``PyJWKClient``."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._stamp = -1.0
        self._set: jwt.PyJWKSet | None = None

    def get_signing_key_from_jwt(self, token: str) -> jwt.PyJWK:
        import jwt

        stamp = self._path.stat().st_mtime
        if self._set is None or stamp != self._stamp:
            self._set, self._stamp = jwt.PyJWKSet.from_json(self._path.read_text()), stamp
        kid = jwt.get_unverified_header(token).get("kid")
        for key in self._set.keys:
            if key.key_id == kid:
                return key
        raise jwt.PyJWKClientError("no such key in the local JWKS")


class Verifier:
    def __init__(self, *, issuer: str, audience: str, jwks_url: str) -> None:
        self._issuer = issuer
        self._audience = audience
        import jwt

        self._jwks: _FileJwks | jwt.PyJWKClient
        if jwks_url.startswith("file://"):
            self._jwks = _FileJwks(
                Path(unquote(urlparse(jwks_url).path))
            )  # urllib.request alone costs ~25 ms of cold start
        else:
            self._jwks = jwt.PyJWKClient(jwks_url, cache_keys=True, lifespan=3600)

    def verify(self, bearer: str | None) -> Identity:
        if not bearer or not bearer.startswith("Bearer "):
            raise Unauthorized("A bearer token is required.")
        import jwt

        token = bearer[len("Bearer ") :].strip()
        try:
            # The algorithm first: a token we would refuse anyway must not make us fetch the JWKS.
            if jwt.get_unverified_header(token).get("alg") not in ALGORITHMS:
                raise jwt.InvalidAlgorithmError
            key = self._jwks.get_signing_key_from_jwt(token)
            claims = jwt.decode(
                token,
                key=key.key,
                algorithms=list(ALGORITHMS),
                audience=self._audience,
                issuer=self._issuer,
                leeway=LEEWAY_SECONDS,
                options={"require": ["exp", "iss", "sub"]},
            )
        except (jwt.PyJWTError, ValueError, OSError) as exc:
            raise Unauthorized(f"The bearer token {_why(exc)}.") from exc
        groups = claims.get("cognito:groups") or []
        if isinstance(groups, str):
            groups = [groups]
        return Identity(
            subject=str(claims["sub"]),
            email=verified_email(claims),
            account_id=claims.get("custom:account_id"),
            groups=frozenset(str(g) for g in groups),
        )


def verified_email(claims: dict[str, Any]) -> str | None:
    """The ``email`` claim only when ``email_verified`` says the user proved it (Cognito writes a boolean; a
    string "true" is read as true too): an unverified address never reaches an audit record or ``lifted_by``."""
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") not in (True, "true"):
        return None
    return email


def _why(exc: Exception) -> str:
    """What is wrong with a token, in our words: PyJWT's messages may quote the token (its kid, claims)."""
    import jwt

    reasons: tuple[tuple[type[Exception], str], ...] = (
        (jwt.ExpiredSignatureError, "has expired"),
        (jwt.ImmatureSignatureError, "is not valid yet"),
        (jwt.InvalidIssuerError, "has the wrong issuer"),
        (jwt.InvalidAudienceError, "has the wrong audience"),
        (jwt.MissingRequiredClaimError, "lacks a required claim (exp, iss and sub are required)"),
        (jwt.InvalidAlgorithmError, f"uses an algorithm that is not allowed (only {', '.join(ALGORITHMS)})"),
        (jwt.PyJWKClientConnectionError, "could not be checked now: the signing keys are unreachable"),
        (jwt.PyJWKClientError, "is signed with an unknown signing key"),
        (jwt.InvalidSignatureError, "has a signature that does not verify"),
    )
    return next((why for kind, why in reasons if isinstance(exc, kind)), "is malformed")
