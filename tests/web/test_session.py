"""Signing up, logging in and out, staying logged in, switching organization, and the CSRF guard."""

from __future__ import annotations

from typing import Any

from tests.web.conftest import WebUser


async def test_a_new_user_signs_up_and_lands_on_an_empty_agent_list(web_signup: Any) -> None:
    user: WebUser = await web_signup("Bella Pizza")
    cookies = {c.name: c for c in user.client.cookies.jar}
    for name in ("bvrai_access", "bvrai_refresh"):
        assert cookies[name].path == "/app"
        assert cookies[name].has_nonstandard_attr("HttpOnly")
        assert (cookies[name].get_nonstandard_attr("SameSite") or "").lower() == "lax"
    page = await user.get("/app/agents")
    assert page.status_code == 200
    assert "No agents yet" in page.text and "Create your first agent" in page.text
    assert "Bella Pizza" in page.text  # the organization switcher


async def test_pages_send_a_visitor_without_a_session_to_the_login_page(client: Any) -> None:
    r = await client.get("/app/calls?status=failed")
    assert r.status_code == 303
    assert r.headers["location"] == "/app/login?next=/app/calls%3Fstatus%3Dfailed"
    htmx = await client.get("/app/calls", headers={"HX-Request": "true"})
    assert htmx.headers["HX-Redirect"].startswith("/app/login")


async def test_sign_up_mistakes_are_shown_next_to_their_fields(web_clients: Any) -> None:
    user = WebUser(web_clients(), "", "")
    await user.get("/app/signup")
    r = await user.post(
        "/app/signup", {"name": "", "email": "not-an-email", "password": "short", "organization_name": "X"}
    )
    assert r.status_code == 422
    assert 'id="f-email" name="email"' in r.text and 'aria-invalid="true"' in r.text
    assert "at least 10 characters" in r.text
    assert "not-an-email" in r.text  # what was typed is kept
    assert "short" not in r.text.split('id="f-password"')[1].split(">")[0]  # the password is not echoed


async def test_logging_in_with_a_wrong_password_says_so_and_a_good_one_follows_next(
    web_owner: WebUser, web_clients: Any
) -> None:
    other = WebUser(web_clients(), web_owner.email, web_owner.password)
    await other.get("/app/login")
    bad = await other.post("/app/login", {"email": web_owner.email, "password": "wrong password!"})
    assert bad.status_code == 422 and "wrong email or password" in bad.text
    good = await other.post(
        "/app/login", {"email": web_owner.email, "password": web_owner.password, "next": "/app/calls"}
    )
    assert good.status_code == 303 and good.headers["location"] == "/app/calls"
    evil = await other.post(
        "/app/login", {"email": web_owner.email, "password": web_owner.password, "next": "//evil.example/"}
    )
    assert evil.headers["location"] == "/app"


async def test_a_form_without_the_csrf_token_is_refused(web_owner: WebUser) -> None:
    r = await web_owner.client.post("/app/agents/new", data={"name": "X", "system_prompt": "Y"})
    assert r.status_code == 403 and "expired" in r.text
    forged = await web_owner.client.post(
        "/app/agents/new", data={"csrf_token": "guess", "name": "X", "system_prompt": "Y"}
    )
    assert forged.status_code == 403
    cross = await web_owner.post(
        "/app/agents/new", {"name": "X", "system_prompt": "Y"}, headers={"Origin": "https://evil.example"}
    )
    assert cross.status_code == 403
    agents = await web_owner.get("/app/agents")
    assert "No agents yet" in agents.text


async def test_an_expired_access_token_is_renewed_from_the_refresh_cookie(web_owner: WebUser) -> None:
    old_refresh = web_owner.client.cookies.get("bvrai_refresh", path="/app")
    web_owner.client.cookies.delete("bvrai_access", path="/app")
    r = await web_owner.get("/app/agents")
    assert r.status_code == 200
    assert web_owner.client.cookies.get("bvrai_access", path="/app")
    assert web_owner.client.cookies.get("bvrai_refresh", path="/app") != old_refresh  # rotated
    web_owner.client.cookies.set("bvrai_access", "garbage", path="/app", domain="testserver.local")
    assert (await web_owner.get("/app/agents")).status_code == 200


async def test_logging_out_ends_the_session_for_good(web_owner: WebUser) -> None:
    refresh = web_owner.client.cookies.get("bvrai_refresh", path="/app")
    r = await web_owner.post("/app/logout")
    assert r.status_code == 303 and r.headers["location"] == "/app/login"
    assert (await web_owner.get("/app/agents")).status_code == 303
    # The refresh token was revoked on the server, not just forgotten by the browser.
    again = await web_owner.client.post("/v1/auth/refresh", json={"refresh_token": refresh})
    assert again.status_code == 401


async def test_a_member_of_two_organizations_switches_between_them(web_owner: WebUser, client: Any) -> None:
    api = await web_owner.api()
    other = await client.post(
        "/v1/auth/signup",
        json={
            "email": "boss@example.com",
            "password": "long password 1",
            "name": "Boss",
            "organization_name": "Globex",
        },
    )
    boss = {"Authorization": f"Bearer {other.json()['access_token']}"}
    invite = (
        await client.post("/v1/invitations", headers=boss, json={"email": web_owner.email, "role": "viewer"})
    ).json()
    assert (
        await client.post("/v1/invitations/accept", json={"token": invite["token"], "password": web_owner.password})
    ).status_code == 201
    await api.aclose()
    page = await web_owner.get("/app/agents")
    assert "Globex (viewer)" in page.text
    globex = other.json()["organization"]["id"]
    r = await web_owner.post("/app/switch-org", {"organization_id": globex})
    assert r.status_code == 303
    page = await web_owner.get("/app/agents")
    assert f'value="{globex}" selected' in page.text
    assert "Create your first agent" not in page.text  # a viewer cannot create agents
    stranger = await web_owner.post("/app/switch-org", {"organization_id": "org_notmine"})
    assert stranger.status_code == 404
