"""Telephony: phone numbers; carrier, numbers and idempotency on calls

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28 02:19:41.496678+00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    op.create_table(
        "phone_numbers",
        sa.Column("org_id", sa.String(length=40), nullable=False),
        sa.Column("number", sa.String(length=20), nullable=False),
        sa.Column("carrier", sa.String(length=20), nullable=False),
        sa.Column("credential_id", sa.String(length=40), nullable=False),
        sa.Column("carrier_number_id", sa.String(length=80), nullable=True),
        sa.Column("name", sa.String(length=200), nullable=True),
        sa.Column("inbound_agent_id", sa.String(length=40), nullable=True),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["credential_id"], ["credentials.id"], name=op.f("fk_phone_numbers_credential_id_credentials")
        ),
        sa.ForeignKeyConstraint(
            ["inbound_agent_id"], ["agents.id"], name=op.f("fk_phone_numbers_inbound_agent_id_agents")
        ),
        sa.ForeignKeyConstraint(["org_id"], ["organizations.id"], name=op.f("fk_phone_numbers_org_id_organizations")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_numbers")),
    )
    with op.batch_alter_table("phone_numbers", schema=None) as batch_op:
        batch_op.create_index("ix_phone_numbers_carrier_number", ["carrier", "number"], unique=False)
        batch_op.create_index(batch_op.f("ix_phone_numbers_org_id"), ["org_id"], unique=False)

    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone_number_id", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("carrier", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("carrier_call_id", sa.String(length=120), nullable=True))
        batch_op.add_column(sa.Column("from_number", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("to_number", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("from_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("to_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("answered_by", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("idempotency_key", sa.String(length=120), nullable=True))
        batch_op.create_index(batch_op.f("ix_calls_carrier_call_id"), ["carrier_call_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_calls_from_hash"), ["from_hash"], unique=False)
        batch_op.create_index(batch_op.f("ix_calls_to_hash"), ["to_hash"], unique=False)
        batch_op.create_unique_constraint(batch_op.f("uq_calls_org_id_idempotency_key"), ["org_id", "idempotency_key"])
        batch_op.create_foreign_key(
            batch_op.f("fk_calls_phone_number_id_phone_numbers"), "phone_numbers", ["phone_number_id"], ["id"]
        )


def downgrade() -> None:

    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_calls_phone_number_id_phone_numbers"), type_="foreignkey")
        batch_op.drop_constraint(batch_op.f("uq_calls_org_id_idempotency_key"), type_="unique")
        batch_op.drop_index(batch_op.f("ix_calls_to_hash"))
        batch_op.drop_index(batch_op.f("ix_calls_from_hash"))
        batch_op.drop_index(batch_op.f("ix_calls_carrier_call_id"))
        batch_op.drop_column("idempotency_key")
        batch_op.drop_column("answered_by")
        batch_op.drop_column("to_hash")
        batch_op.drop_column("from_hash")
        batch_op.drop_column("to_number")
        batch_op.drop_column("from_number")
        batch_op.drop_column("carrier_call_id")
        batch_op.drop_column("carrier")
        batch_op.drop_column("phone_number_id")

    with op.batch_alter_table("phone_numbers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_phone_numbers_org_id"))
        batch_op.drop_index("ix_phone_numbers_carrier_number")

    op.drop_table("phone_numbers")
