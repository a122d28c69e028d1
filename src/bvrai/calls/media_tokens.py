"""Short-lived, single-use tokens that let one media connection attach to one call.

The token is a JWT naming the call and carrying a random id; the call row stores that id, and
attaching spends it atomically, so a token replayed (or leaked in a log) after the first connection
is refused, as is any token past its minute of life.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from bvrai.kit.db import utcnow
from bvrai.kit.ids import new_id

MEDIA_TOKEN_TTL = timedelta(seconds=60)
_TYP = "media"


@dataclass(frozen=True)
class MediaToken:
    token: str
    token_id: str
    expires_at: datetime


@dataclass(frozen=True)
class MediaClaims:
    call_id: str
    token_id: str


class InvalidMediaToken(Exception):
    pass


def issue(*, secret: str, call_id: str) -> MediaToken:
    token_id = new_id("mtk")
    expires_at = utcnow() + MEDIA_TOKEN_TTL
    claims = {"typ": _TYP, "call": call_id, "jti": token_id, "exp": expires_at, "iss": "bvrai"}
    return MediaToken(jwt.encode(claims, secret, algorithm="HS256"), token_id, expires_at)


def verify(*, secret: str, token: str) -> MediaClaims:
    try:
        claims = jwt.decode(token, secret, algorithms=["HS256"], issuer="bvrai", options={"require": ["exp"]})
    except jwt.PyJWTError as exc:
        raise InvalidMediaToken(str(exc)) from exc
    if claims.get("typ") != _TYP or not isinstance(claims.get("call"), str):
        raise InvalidMediaToken("not a media token")
    return MediaClaims(call_id=claims["call"], token_id=str(claims["jti"]))
