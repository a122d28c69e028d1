"""Standard Webhooks signing: what we sign, any Standard Webhooks library verifies."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from bvrai.voice.tools.signing import RequestSigner, new_signing_secret


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    secret = new_signing_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert new_signing_secret() != secret


def test_signed_bodies_verify_and_tampered_ones_do_not() -> None:
    secret = new_signing_secret()
    body = '{"name":"Zoë"}'.encode()
    headers = RequestSigner(secret).headers(body)

    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(body, headers) == {"name": "Zoë"}
    with pytest.raises(WebhookVerificationError):
        Webhook(secret).verify(body + b" ", headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_signing_secret()).verify(body, headers)


def test_id_and_timestamp_can_be_given() -> None:
    secret = new_signing_secret()
    moment = datetime.now(UTC) - timedelta(minutes=1)
    headers = RequestSigner(secret).headers(b"", msg_id="msg_fixed", timestamp=moment)

    assert headers["webhook-id"] == "msg_fixed"
    assert headers["webhook-timestamp"] == str(int(moment.timestamp()))
    Webhook(secret).verify(b"", headers, json_parse=False)


def test_old_signatures_are_refused_by_receivers() -> None:
    secret = new_signing_secret()
    headers = RequestSigner(secret).headers(b"{}", timestamp=datetime.now(UTC) - timedelta(minutes=10))
    with pytest.raises(WebhookVerificationError, match="too old"):
        Webhook(secret).verify(b"{}", headers)


@pytest.mark.parametrize("secret", ["", "whsec_", "not-a-whsec-secret", "whsec_!!!!"])
def test_bad_secrets_are_refused_up_front(secret: str) -> None:
    with pytest.raises(ValueError):
        RequestSigner(secret)
