"""The webhooks pages: an endpoint added from the form (its secret shown once), a test event in its
delivery log with the receiver's reply, Redeliver, a viewer without controls, another org's 404."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from bvrai.config import Settings
from tests.conftest import make_settings
from tests.polling import eventually
from tests.web.conftest import WebUser
from tests.webhooks.receiver import Receiver


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """The receiver lives on 127.0.0.1, which the server allow-lists here."""
    return make_settings(database_url, tmp_path, ssrf_allow="127.0.0.1", webhook_retry_scale=0.001, job_poll_s=0.1)


async def add_endpoint(user: WebUser, url: str, events: list[str]) -> tuple[str, str]:
    r = await user.post("/app/webhooks", {"url": url, "description": "CRM", "events": events})
    assert r.status_code == 201, r.text
    secret = re.search(r'id="new-webhook-secret">(whsec_[^<]+)<', r.text)
    hook_id = re.search(r'href="/app/webhooks/(wh_[^"]+)"', r.text)
    assert secret and hook_id, r.text
    return hook_id.group(1), secret.group(1)


async def test_create_see_a_delivery_and_redeliver_it(web_owner: WebUser) -> None:
    empty = await web_owner.get("/app/webhooks")
    assert empty.status_code == 200 and "No webhook endpoints yet" in empty.text
    assert 'href="/app/webhooks" aria-current="page"' in empty.text  # in the nav
    async with Receiver() as receiver:
        hook_id, secret = await add_endpoint(web_owner, receiver.url, ["call.ended", "document.ready"])
        receiver.secret = secret
        listed = await web_owner.get("/app/webhooks")
        assert receiver.url in listed.text and "call.ended, document.ready" in listed.text
        assert secret not in listed.text  # shown once

        page = await web_owner.get(f"/app/webhooks/{hook_id}")
        assert "No deliveries yet" in page.text
        r = await web_owner.post(f"/app/webhooks/{hook_id}/test")
        assert r.status_code == 303 and r.headers["location"] == f"/app/webhooks/{hook_id}?done=tested"

        async def delivered() -> str:
            text = (await web_owner.get(f"/app/webhooks/{hook_id}")).text
            return text if 'class="badge ok">succeeded' in text else ""

        text = await eventually(delivered)
        assert "webhook.test" in text and "200 · " in text and "ms" in text
        assert len(receiver.requests) == 1 and receiver.requests[0].verified
        delivery_id = re.search(r'action="/app/webhooks/[^/]+/deliveries/(whd_[^/]+)/redeliver"', text).group(1)

        # Without the CSRF token the form is refused; with it, a new delivery of the same message.
        bare = await web_owner.client.post(f"/app/webhooks/{hook_id}/deliveries/{delivery_id}/redeliver")
        assert bare.status_code == 403
        r = await web_owner.post(f"/app/webhooks/{hook_id}/deliveries/{delivery_id}/redeliver")
        assert r.status_code == 303
        assert "Redelivery queued" in (await web_owner.get(r.headers["location"])).text

        async def twice() -> bool:
            return len(receiver.requests) == 2

        await eventually(twice)
        assert receiver.requests[1].headers["webhook-id"] == receiver.requests[0].headers["webhook-id"]

        async def two_rows() -> str:
            text = (await web_owner.get(f"/app/webhooks/{hook_id}")).text
            return text if text.count('class="badge ok">succeeded') == 2 else ""

        await eventually(two_rows)

        # Disable, enable, delete.
        assert (await web_owner.post(f"/app/webhooks/{hook_id}/enabled", {"enabled": "false"})).status_code == 303
        off = (await web_owner.get(f"/app/webhooks/{hook_id}")).text
        assert "disabled by a user" in off and "Redeliver" not in off
        assert (await web_owner.post(f"/app/webhooks/{hook_id}/enabled", {"enabled": "true"})).status_code == 303
        assert "Redeliver" in (await web_owner.get(f"/app/webhooks/{hook_id}")).text
        assert (await web_owner.post(f"/app/webhooks/{hook_id}/delete")).status_code == 303
        assert (await web_owner.get(f"/app/webhooks/{hook_id}")).status_code == 404
        assert "No webhook endpoints yet" in (await web_owner.get("/app/webhooks")).text


async def test_bad_urls_are_shown_next_to_the_field(web_owner: WebUser) -> None:
    r = await web_owner.post("/app/webhooks", {"url": "not a url", "events": ["call.ended"]})
    assert r.status_code == 422 and 'id="f-url" name="url" type="url" value="not a url"' in r.text
    assert "valid URL" in r.text.split('id="f-url-error"')[1].split("</p>")[0]
    assert 'value="call.ended" checked' in r.text
    private = await web_owner.post("/app/webhooks", {"url": "http://10.1.2.3/hooks"})
    assert private.status_code == 422 and "the URL is refused" in private.text


async def test_a_viewer_sees_the_log_without_controls_and_other_orgs_get_404(
    web_owner: WebUser, web_signup: Any, web_clients: Any, client: Any
) -> None:
    hook_id, _ = await add_endpoint(web_owner, "http://127.0.0.1:9/hooks", ["call.ended"])
    assert (await web_owner.post(f"/app/webhooks/{hook_id}/test")).status_code == 303
    r = await web_owner.post("/app/team/invitations", {"email": "vic@example.com", "role": "viewer"})
    token = re.search(r"token=(bvr_inv_[^<]+)</code>", r.text).group(1)
    await client.post("/v1/invitations/accept", json={"token": token, "password": "vic password 1"})
    viewer = WebUser(web_clients(), "vic@example.com", "vic password 1")
    await viewer.get("/app/login")
    await viewer.post("/app/login", {"email": viewer.email, "password": viewer.password})
    listed = await viewer.get("/app/webhooks")
    assert listed.status_code == 200 and "127.0.0.1:9" in listed.text and "Add an endpoint" not in listed.text
    page = await viewer.get(f"/app/webhooks/{hook_id}")
    assert page.status_code == 200 and "webhook.test" in page.text
    for control in ("Redeliver", "Send a test event", "Disable", "Delete"):
        assert control not in page.text
    assert (await viewer.post(f"/app/webhooks/{hook_id}/test")).status_code == 403
    assert (await viewer.post("/app/webhooks", {"url": "https://example.com/h"})).status_code == 403

    other = await web_signup("Globex")
    assert (await other.get(f"/app/webhooks/{hook_id}")).status_code == 404
    assert (await other.post(f"/app/webhooks/{hook_id}/test")).status_code == 404
    assert hook_id not in (await other.get("/app/webhooks")).text
