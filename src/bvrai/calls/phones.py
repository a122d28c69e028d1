"""Callers' and callees' numbers on call records: encrypted, and findable through a blind index.

The ciphertext is bound to its call and field (associated data), so it cannot be moved to another
row; the index is a keyed hash of the E.164 form (or of the raw value when the carrier gives a
``client:``/``sip:`` address or "anonymous"), so a search needs the app secret, not the plaintext.
"""

from __future__ import annotations

from bvrai.calls.models import Call
from bvrai.kit.context import AppContext
from bvrai.kit.crypto import keyed_hash
from bvrai.kit.phone import to_e164

PURPOSE = "call-phone-number"


def normalize(value: str) -> str:
    try:
        return to_e164(value)
    except ValueError:
        return value.strip()


def number_hash(ctx: AppContext, value: str) -> str:
    return keyed_hash(ctx.secret_key, normalize(value), purpose=PURPOSE)


def _context(call: Call, which: str) -> str:
    return f"call|{call.org_id}|{call.id}|{which}"


def set_numbers(ctx: AppContext, call: Call, *, from_number: str, to_number: str) -> None:
    call.from_number = ctx.keyring.encrypt(normalize(from_number), context=_context(call, "from"))
    call.to_number = ctx.keyring.encrypt(normalize(to_number), context=_context(call, "to"))
    call.from_hash = number_hash(ctx, from_number)
    call.to_hash = number_hash(ctx, to_number)


def read_numbers(ctx: AppContext, call: Call) -> tuple[str | None, str | None]:
    """The call's (from, to) in clear; None for a browser call."""
    if call.from_number is None or call.to_number is None:
        return None, None
    return (
        ctx.keyring.decrypt(call.from_number, context=_context(call, "from")),
        ctx.keyring.decrypt(call.to_number, context=_context(call, "to")),
    )
