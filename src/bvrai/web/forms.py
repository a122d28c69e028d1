"""Reading HTML forms and turning validation errors into messages next to their fields."""

from __future__ import annotations

from typing import Any, TypeVar

from fastapi import Request
from pydantic import BaseModel, ValidationError

from bvrai.kit.errors import Problem

M = TypeVar("M", bound=BaseModel)

# Field values a form may send: anything longer is refused before it reaches a model.
MAX_FIELD_CHARS = 64_000


class FormErrors(dict[str, str]):
    """Field name (dotted, as in the form) → the message shown under that field; "" is the whole form."""

    def add(self, field: str, message: str) -> None:
        self.setdefault(field, message)


async def read_form(request: Request) -> dict[str, str]:
    """The submitted fields as strings (the last value of a repeated name; files are ignored)."""
    form = await request.form()
    out: dict[str, str] = {}
    for key, value in form.multi_items():
        if isinstance(value, str) and key != "csrf_token":
            out[key] = value[:MAX_FIELD_CHARS]
    return out


async def read_multi(request: Request, name: str) -> list[str]:
    form = await request.form()
    return [v for v in form.getlist(name) if isinstance(v, str)]


def _message(err: dict[str, Any]) -> str:
    msg = str(err.get("msg", "invalid value"))
    return msg.removeprefix("Value error, ")


def errors_from_validation(exc: ValidationError, known: set[str] | None = None) -> FormErrors:
    """Map each error's location to the deepest form field it falls under."""
    return errors_from_list(exc.errors(), known)


def errors_from_list(errors: list[dict[str, Any]] | Any, known: set[str] | None = None) -> FormErrors:
    out = FormErrors()
    for err in errors or []:
        loc = [str(p) for p in err.get("loc", ()) if str(p) != "body"]
        field = ""
        for depth in range(len(loc), 0, -1):
            candidate = ".".join(loc[:depth])
            if known is None or candidate in known:
                field = candidate
                break
        message = _message(err)
        if field and known is not None and field != ".".join(loc):
            inner = ".".join(loc[len(field.split(".")) :])
            message = f"{inner}: {message}" if inner else message
        out.add(field, message)
    return out


def validate(model: type[M], data: dict[str, Any], known: set[str] | None = None) -> tuple[M | None, FormErrors]:
    try:
        return model.model_validate(data), FormErrors()
    except ValidationError as exc:
        return None, errors_from_validation(exc, known)


def problem_errors(exc: Problem, known: set[str] | None = None) -> FormErrors:
    """A service's refusal as form errors: its field errors when it has them, else one form-level message."""
    if exc.errors:
        out = errors_from_list(exc.errors, known)
        if out:
            return out
    out = FormErrors()
    out.add("", exc.detail)
    return out
