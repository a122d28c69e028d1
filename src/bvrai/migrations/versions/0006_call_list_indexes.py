"""Indexes for newest-first call lists: (org_id, id) and (org_id, agent_id, id)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 03:20:00+00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_calls_org_id_order", "calls", ["org_id", "id"], unique=False)
    op.create_index("ix_calls_org_agent_id_order", "calls", ["org_id", "agent_id", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_calls_org_agent_id_order", table_name="calls")
    op.drop_index("ix_calls_org_id_order", table_name="calls")
