"""Phone numbers are E.164 everywhere; ``phonenumbers`` (libphonenumber's metadata) decides validity."""

from __future__ import annotations

import phonenumbers


def to_e164(value: str) -> str:
    """The E.164 form of a valid number written in international format; ValueError otherwise."""
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"{value!r} is not a phone number in international format (+country code)") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{value!r} is not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
