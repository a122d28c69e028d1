"""An org connects its phone numbers: imports one it owns, or finds and buys one at Twilio, and says
which agent answers it."""

from __future__ import annotations

from tests.telephony.conftest import OUR_NUMBER


async def test_import_a_number_assign_its_agent_and_disconnect_it(phone):
    agent_id = await phone.agent({"name": "Front desk", "system_prompt": "Be brief."})
    body = {"number": "+1 (415) 555-0100", "carrier": "twilio", "credential_id": phone.credential_id, "name": "Main"}
    r = await phone.http.post("/v1/phone-numbers", json=body)
    assert r.status_code == 201, r.text
    number = r.json()
    assert number["number"] == OUR_NUMBER and number["id"].startswith("pn_") and number["inbound_agent_id"] is None
    assert number["voice_url"] == phone.url("/telephony/twilio/voice")
    assert number["status_url"] == phone.url("/telephony/twilio/status")

    r = await phone.http.patch(f"/v1/phone-numbers/{number['id']}", json={"inbound_agent_id": agent_id})
    assert r.status_code == 200 and r.json()["inbound_agent_id"] == agent_id
    listed = (await phone.http.get("/v1/phone-numbers")).json()["data"]
    assert [n["id"] for n in listed] == [number["id"]]

    again = await phone.http.post("/v1/phone-numbers", json=body)
    assert again.status_code == 409 and again.headers["content-type"] == "application/problem+json"

    assert (await phone.http.delete(f"/v1/phone-numbers/{number['id']}")).status_code == 204
    assert (await phone.http.get(f"/v1/phone-numbers/{number['id']}")).status_code == 404
    assert (await phone.http.post("/v1/phone-numbers", json=body)).status_code == 201  # free to connect again


async def test_bad_numbers_and_mismatched_credentials_are_refused(phone):
    base = {"carrier": "twilio", "credential_id": phone.credential_id}
    r = await phone.http.post("/v1/phone-numbers", json={**base, "number": "+1 555"})
    assert r.status_code == 422 and r.json()["errors"][0]["loc"][-1] == "number"
    openai_cred = next(
        c["id"] for c in (await phone.http.get("/v1/credentials")).json()["data"] if c["provider"] == "openai"
    )
    r = await phone.http.post("/v1/phone-numbers", json={**base, "number": OUR_NUMBER, "credential_id": openai_cred})
    assert r.status_code == 422 and "openai" in r.json()["detail"]
    r = await phone.http.post("/v1/phone-numbers", json={**base, "number": OUR_NUMBER, "inbound_agent_id": "agt_nope"})
    assert r.status_code == 404


async def test_search_and_buy_a_twilio_number_pointed_at_this_deployment(phone):
    r = await phone.http.get(
        "/v1/phone-numbers/available", params={"credential_id": phone.credential_id, "area_code": "415"}
    )
    assert r.status_code == 200, r.text
    offered = [n["number"] for n in r.json()]
    assert offered == phone.twilio.available
    search = phone.twilio.requests[-1]
    assert search.path.endswith("/AvailablePhoneNumbers/US/Local.json") and search.query["AreaCode"] == "415"

    body = {"number": offered[0], "carrier": "twilio", "credential_id": phone.credential_id, "buy": True}
    r = await phone.http.post("/v1/phone-numbers", json=body)
    assert r.status_code == 201, r.text
    assert r.json()["carrier_number_id"].startswith("PN")
    bought = phone.twilio.requests[-1].body
    assert bought["PhoneNumber"] == offered[0]
    assert bought["VoiceUrl"] == phone.url("/telephony/twilio/voice")
    assert bought["StatusCallback"] == phone.url("/telephony/twilio/status")

    taken = await phone.http.post("/v1/phone-numbers", json={**body, "number": "+14155550188"})
    assert taken.status_code == 422 and "not available" in taken.json()["detail"]


async def test_a_wrong_twilio_token_in_the_vault_is_a_clear_error(phone):
    cred = {
        "provider": "twilio",
        "name": "bad",
        "secret": "wrong-token",
        "extra": {"account_sid": phone.twilio.account_sid},
    }
    bad = (await phone.http.post("/v1/credentials", json=cred)).json()["id"]
    r = await phone.http.get("/v1/phone-numbers/available", params={"credential_id": bad})
    assert r.status_code == 502 and "401" in r.json()["detail"]
