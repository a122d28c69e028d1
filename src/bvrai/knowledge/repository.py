"""Every knowledge-base query, each confined to one organization through ``kit.tenancy.scoped``.

The ingestion claim (``claim``) is the one query that is not per org: a worker takes any document
whose turn it is, and the document row then names the org for everything after.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import or_, select, update

from bvrai.kit.pagination import PageParams, paginate
from bvrai.kit.repository import Repository
from bvrai.kit.tenancy import scoped
from bvrai.knowledge.models import KnowledgeBase, KnowledgeDocument

PENDING = ("queued", "processing")


class KnowledgeRepository(Repository):
    async def knowledge_base(self, org_id: str, kb_id: str) -> KnowledgeBase | None:
        return (await self.session.scalars(scoped(KnowledgeBase, org_id).where(KnowledgeBase.id == kb_id))).first()

    async def knowledge_bases_by_ids(self, org_id: str, kb_ids: Sequence[str]) -> list[KnowledgeBase]:
        if not kb_ids:
            return []
        stmt = scoped(KnowledgeBase, org_id).where(KnowledgeBase.id.in_(list(kb_ids)))
        return list((await self.session.scalars(stmt)).all())

    async def knowledge_bases(self, org_id: str, params: PageParams) -> tuple[list[KnowledgeBase], str | None]:
        return await paginate(self.session, scoped(KnowledgeBase, org_id), KnowledgeBase.id, params)

    async def document(self, org_id: str, kb_id: str, doc_id: str) -> KnowledgeDocument | None:
        stmt = scoped(KnowledgeDocument, org_id).where(
            KnowledgeDocument.knowledge_base_id == kb_id, KnowledgeDocument.id == doc_id
        )
        return (await self.session.scalars(stmt)).first()

    async def documents(
        self, org_id: str, kb_id: str, params: PageParams
    ) -> tuple[list[KnowledgeDocument], str | None]:
        stmt = scoped(KnowledgeDocument, org_id).where(KnowledgeDocument.knowledge_base_id == kb_id)
        return await paginate(self.session, stmt, KnowledgeDocument.id, params)

    async def all_documents(self, org_id: str, kb_id: str) -> list[KnowledgeDocument]:
        stmt = scoped(KnowledgeDocument, org_id).where(KnowledgeDocument.knowledge_base_id == kb_id)
        return list((await self.session.scalars(stmt)).all())

    async def document_by_id(self, doc_id: str) -> KnowledgeDocument | None:
        """For the ingestion worker, which learns the org from the row; not for request handlers."""
        stmt = select(KnowledgeDocument).where(KnowledgeDocument.id == doc_id, KnowledgeDocument.deleted_at.is_(None))
        return (await self.session.scalars(stmt)).first()

    async def knowledge_base_any_org(self, kb_id: str) -> KnowledgeBase | None:
        """The knowledge base of a document the worker claimed (the document names its org)."""
        stmt = select(KnowledgeBase).where(KnowledgeBase.id == kb_id)
        return (await self.session.scalars(stmt)).first()

    async def due_documents(self, now: datetime, limit: int = 100) -> list[str]:
        """Ids of documents waiting for a worker: queued or processing, with no live claim."""
        stmt = (
            select(KnowledgeDocument.id)
            .where(
                KnowledgeDocument.status.in_(PENDING),
                KnowledgeDocument.deleted_at.is_(None),
                or_(KnowledgeDocument.lease_expires_at.is_(None), KnowledgeDocument.lease_expires_at < now),
            )
            .order_by(KnowledgeDocument.id)
            .limit(limit)
        )
        return list((await self.session.scalars(stmt)).all())

    async def claim(self, doc_id: str, *, now: datetime, until: datetime) -> bool:
        """Take the document for one worker until ``until``; false if another worker holds it."""
        stmt = (
            update(KnowledgeDocument)
            .where(
                KnowledgeDocument.id == doc_id,
                KnowledgeDocument.status.in_(PENDING),
                KnowledgeDocument.deleted_at.is_(None),
                or_(KnowledgeDocument.lease_expires_at.is_(None), KnowledgeDocument.lease_expires_at < now),
            )
            .values(status="processing", lease_expires_at=until, attempts=KnowledgeDocument.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(stmt)
        return bool(result.rowcount)  # type: ignore[attr-defined]

    async def renew(self, doc_id: str, *, until: datetime) -> None:
        stmt = (
            update(KnowledgeDocument)
            .where(KnowledgeDocument.id == doc_id, KnowledgeDocument.status == "processing")
            .values(lease_expires_at=until)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(stmt)

    async def progress(self, doc_id: str, *, done: int, total: int, until: datetime) -> bool:
        """Record progress and renew the claim; false when the document was deleted or re-queued meanwhile."""
        stmt = (
            update(KnowledgeDocument)
            .where(
                KnowledgeDocument.id == doc_id,
                KnowledgeDocument.status == "processing",
                KnowledgeDocument.deleted_at.is_(None),
            )
            .values(chunks_done=done, chunks_total=total, lease_expires_at=until)
            .execution_options(synchronize_session=False)
        )
        result = await self.session.execute(stmt)
        return bool(result.rowcount)  # type: ignore[attr-defined]
