"""Tenant scoping: the one helper every repository uses to confine a query to one organization.

Scoped queries also hide soft-deleted rows. A row of another org is then indistinguishable from a
missing one, which is what makes cross-tenant access a 404 everywhere.
"""

from __future__ import annotations

from typing import Any, TypeVar

from sqlalchemy import Select, select

from bvrai.kit.errors import NotFound

M = TypeVar("M")


def scoped(model: type[M], org_id: str, *, include_deleted: bool = False) -> Select[M]:
    stmt = select(model).where(model.org_id == org_id)  # type: ignore[attr-defined]
    if not include_deleted and hasattr(model, "deleted_at"):
        stmt = stmt.where(model.deleted_at.is_(None))  # type: ignore[attr-defined]
    return stmt


def restrict(stmt: Select[Any], model: type[Any], org_id: str) -> Select[Any]:
    """Add the same org (and not-deleted) conditions to an existing select."""
    stmt = stmt.where(model.org_id == org_id)
    if hasattr(model, "deleted_at"):
        stmt = stmt.where(model.deleted_at.is_(None))
    return stmt


def found(row: M | None, what: str) -> M:
    if row is None:
        raise NotFound(f"{what} not found")
    return row
