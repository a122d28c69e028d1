from __future__ import annotations

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from bvrai.kit.db import Base, IdMixin, SoftDeleteMixin, TimestampMixin


class PhoneNumber(IdMixin, TimestampMixin, SoftDeleteMixin, Base):
    """A number the org owns at a carrier, reached with one of the org's vault credentials.

    The org's own number is shown to its users and matched against the carrier's webhooks, so it is
    kept in clear (E.164); callers' and callees' numbers live encrypted on the call records.
    """

    __tablename__ = "phone_numbers"
    __table_args__ = (Index("ix_phone_numbers_carrier_number", "carrier", "number"),)

    org_id: Mapped[str] = mapped_column(ForeignKey("organizations.id"), index=True)
    number: Mapped[str] = mapped_column(String(20))
    carrier: Mapped[str] = mapped_column(String(20))  # twilio | telnyx | plivo | vonage
    credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.id"))
    carrier_number_id: Mapped[str | None] = mapped_column(String(80), default=None)  # Twilio PN..., when known
    name: Mapped[str | None] = mapped_column(String(200), default=None)
    inbound_agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.id"), default=None)
