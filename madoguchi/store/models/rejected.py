"""Updates of a signed webhook delivery that did not parse, kept rather than refused.

Meta retries a refused delivery for days and then drops it with every other update in
it; so the delivery is acknowledged, what parses is stored, and each update that does
not is kept here with its raw JSON and the reason, for an operator to read (``madoguchi
deliveries rejected``) and to retry once the parser knows it (``madoguchi deliveries
retry``: the delivery's exact bytes are in ``webhook_deliveries``).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.store.models.core import Base, IdType, UTCDateTime, utcnow

__all__ = ["RejectedUpdateRecord"]


class RejectedUpdateRecord(Base):
    __tablename__ = "rejected_updates"

    id: Mapped[int] = mapped_column(IdType, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    workspace_id: Mapped[int | None] = mapped_column(
        ForeignKey("workspaces.id", ondelete="CASCADE"), index=True
    )
    path: Mapped[str] = mapped_column(String(200))  # entry[0].changes[0].value.messages[1]
    reason: Mapped[str] = mapped_column(Text)
    raw: Mapped[bytes] = mapped_column(LargeBinary)  # the update's JSON, as Meta sent it
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
