"""Access tokens (JWT, HS256) and opaque tokens (API keys, refresh and invitation tokens).

Opaque tokens carry a readable prefix so a leaked one is recognisable (secret scanners, logs) and
are stored only as a keyed HMAC, so a database dump cannot be replayed against the API.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta

import jwt

from bvrai.kit.crypto import keyed_hash
from bvrai.kit.db import utcnow
from bvrai.kit.ids import new_id

API_KEY_PREFIX = "bvr_sk_"
REFRESH_PREFIX = "bvr_rt_"
INVITATION_PREFIX = "bvr_inv_"
JWT_ALGORITHM = "HS256"
JWT_ISSUER = "bvrai"


@dataclass(frozen=True)
class AccessClaims:
    user_id: str
    org_id: str


class InvalidToken(Exception):
    pass


def issue_access_token(*, secret: str, user_id: str, org_id: str, ttl_s: int) -> str:
    now = utcnow()
    claims = {
        "sub": user_id,
        "org": org_id,
        "iss": JWT_ISSUER,
        "typ": "access",
        "iat": now,
        "exp": now + timedelta(seconds=ttl_s),
        "jti": new_id("jti"),
    }
    return jwt.encode(claims, secret, algorithm=JWT_ALGORITHM)


def decode_access_token(token: str, *, secret: str) -> AccessClaims:
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=[JWT_ALGORITHM],
            issuer=JWT_ISSUER,
            options={"require": ["exp", "iat", "sub", "iss"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidToken(str(exc)) from exc
    if claims.get("typ") != "access" or not isinstance(claims.get("org"), str):
        raise InvalidToken("not an access token")
    return AccessClaims(user_id=str(claims["sub"]), org_id=claims["org"])


def new_opaque_token(prefix: str) -> str:
    return prefix + secrets.token_urlsafe(32)


def hash_token(secret: str, token: str, *, purpose: str) -> str:
    return keyed_hash(secret, token, purpose=purpose)
