"""Reading an uploaded contact list: a CSV with a ``phone`` column and any others.

Other columns become the call's variables (``{{first_name}}`` in the agent's prompt); a
``timezone`` column (IANA name, e.g. ``America/New_York``) sets the contact's calling-window zone.
Each row is accepted or rejected with its line number and why; the file as a whole is refused
(a 422 problem) when it is not UTF-8, is empty, or has no phone column.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field

from bvrai.campaigns.window import zone
from bvrai.kit.errors import ValidationFailed
from bvrai.kit.phone import to_e164

PHONE_COLUMNS = ("phone", "phone_number", "number", "to")
TIMEZONE_COLUMNS = ("timezone", "time_zone", "tz")
MAX_COLUMNS = 50
MAX_VALUE = 2000


@dataclass
class ParsedRow:
    line: int
    phone: str  # E.164
    timezone: str | None
    variables: dict[str, str]


@dataclass
class Rejected:
    line: int
    phone: str
    reason: str  # invalid_number | invalid_timezone | duplicate | do_not_call | too_many_contacts


@dataclass
class ParsedFile:
    rows: list[ParsedRow] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)


def _refuse(msg: str) -> ValidationFailed:
    return ValidationFailed(msg, errors=[{"loc": ["body", "file"], "msg": msg, "type": "value_error"}])


def variable_name(header: str) -> str:
    name = re.sub(r"[^A-Za-z0-9_.]", "_", header.strip())[:64] or "_"
    return name if re.match(r"[A-Za-z_]", name) else f"_{name}"[:64]


def parse(data: bytes, *, max_rows: int) -> ParsedFile:
    """Each row's number in E.164, its zone and variables, or why it was rejected (duplicates within
    the file included; duplicates of earlier uploads and do-not-call numbers are the caller's to check)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _refuse(f"the file is not UTF-8 text (byte {exc.start})") from None
    if not text.strip():
        raise _refuse("the file is empty")
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader)
    except (StopIteration, csv.Error) as exc:
        raise _refuse(f"the header row cannot be read: {exc}") from None
    names = [h.strip().lower() for h in header]
    if len(names) > MAX_COLUMNS:
        raise _refuse(f"the file has {len(names)} columns; at most {MAX_COLUMNS}")
    phone_at = next((names.index(c) for c in PHONE_COLUMNS if c in names), None)
    if phone_at is None:
        raise _refuse("the header row has no phone column (name one of: " + ", ".join(PHONE_COLUMNS) + ")")
    tz_at = next((names.index(c) for c in TIMEZONE_COLUMNS if c in names), None)
    variables_at = [(i, variable_name(h)) for i, h in enumerate(header) if i not in (phone_at, tz_at) and h.strip()]
    parsed = ParsedFile()
    seen: set[str] = set()
    line = reader.line_num
    try:
        for record in reader:
            start, line = line + 1, reader.line_num
            if not any(cell.strip() for cell in record):
                continue
            raw = record[phone_at].strip() if phone_at < len(record) else ""
            shown = raw[:40]
            try:
                phone = to_e164(raw)
            except ValueError:
                parsed.rejected.append(Rejected(start, shown, "invalid_number"))
                continue
            tz = record[tz_at].strip() if tz_at is not None and tz_at < len(record) else ""
            if tz and zone(tz) is None:
                parsed.rejected.append(Rejected(start, phone, "invalid_timezone"))
                continue
            if phone in seen:
                parsed.rejected.append(Rejected(start, phone, "duplicate"))
                continue
            if len(parsed.rows) >= max_rows:
                parsed.rejected.append(Rejected(start, phone, "too_many_contacts"))
                continue
            seen.add(phone)
            values = {name: record[i].strip()[:MAX_VALUE] for i, name in variables_at if i < len(record)}
            parsed.rows.append(ParsedRow(start, phone, tz or None, values))
    except csv.Error as exc:
        raise _refuse(f"line {reader.line_num}: {exc}") from None
    return parsed
