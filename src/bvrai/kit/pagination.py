"""Cursor pagination over prefixed, time-sortable ids (newest first).

The cursor is the opaque base64 of the last id seen; since ids sort by creation time, ``id < cursor``
continues the listing without offsets and stays stable while rows are inserted.
"""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import Select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from bvrai.kit.errors import BadRequest

MAX_LIMIT = 100


class PageParams(BaseModel):
    limit: int = 20
    cursor: str | None = None


def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page")] = 20,
    cursor: Annotated[str | None, Query(max_length=200, description="next_cursor of the previous page")] = None,
) -> PageParams:
    return PageParams(limit=limit, cursor=cursor)


def encode_cursor(last_id: str) -> str:
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> str:
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = base64.urlsafe_b64decode(padded.encode("ascii")).decode("ascii")
    except (binascii.Error, UnicodeError, ValueError) as exc:
        raise BadRequest("cursor is not a cursor returned by this API") from exc
    if not value or len(value) > 64 or not value.isprintable():
        raise BadRequest("cursor is not a cursor returned by this API")
    return value


async def paginate(
    session: AsyncSession, stmt: Select[Any], id_column: InstrumentedAttribute[str], params: PageParams
) -> tuple[list[Any], str | None]:
    if params.cursor:
        stmt = stmt.where(id_column < decode_cursor(params.cursor))
    stmt = stmt.order_by(id_column.desc()).limit(params.limit + 1)
    rows = list((await session.scalars(stmt)).all())
    has_more = len(rows) > params.limit
    rows = rows[: params.limit]
    next_cursor = encode_cursor(getattr(rows[-1], "id")) if has_more and rows else None  # noqa: B009
    return rows, next_cursor


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(default=None, description="Pass as ?cursor= for the next page")
