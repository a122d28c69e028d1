"""Standard Webhooks signatures on the requests BVRAI sends to users' servers.

The receiver checks them with any Standard Webhooks library, e.g. in Python
``standardwebhooks.Webhook(secret).verify(body, headers)``: the signature covers the message id, the
timestamp and the exact body bytes, so it proves the request came from the platform, unaltered, and
recently (receivers refuse timestamps more than five minutes off).
"""

from __future__ import annotations

import base64
import binascii
import secrets
from datetime import UTC, datetime

from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook

from bvrai.kit.ids import new_id

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def new_signing_secret() -> str:
    """A fresh ``whsec_...`` secret: 32 random bytes, base64, as Standard Webhooks libraries expect."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


class RequestSigner:
    """Signs request bodies with one secret (parsed once, so a bad secret fails at construction)."""

    def __init__(self, secret: str) -> None:
        if not secret.startswith(SECRET_PREFIX):
            raise ValueError("a signing secret starts with 'whsec_'")
        try:
            self._webhook = Webhook(secret)
        except (binascii.Error, EmptyWebhookSecretError, RuntimeError) as exc:
            raise ValueError(f"not a valid whsec_ signing secret: {type(exc).__name__}") from None

    def headers(self, body: bytes, *, msg_id: str | None = None, timestamp: datetime | None = None) -> dict[str, str]:
        """The ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` headers for ``body``.

        ``msg_id`` identifies the message for the receiver's de-duplication (a fresh ``msg_...`` id by
        default); ``timestamp`` is now by default.
        """
        msg_id = msg_id or new_id("msg")
        moment = timestamp or datetime.now(UTC)
        # The library signs text; bodies we send are UTF-8 (JSON), and a body that is not fails loudly.
        signature = self._webhook.sign(msg_id, moment.astimezone(UTC), body.decode("utf-8"))
        return {
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(moment.timestamp())),
            "webhook-signature": signature,
        }
