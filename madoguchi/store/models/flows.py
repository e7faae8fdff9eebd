"""Flows: drafts, immutable published versions, number bindings, runs and their step log.

A ``flows`` row holds the editable draft; publishing copies it into ``flow_versions``
(never changed afterwards) and moves ``published_version`` on. A conversation's run is
pinned to the version it started with. ``flow_bindings`` says which flow a WhatsApp
number starts (unique per number: a number starts at most one flow); it is rewritten from
the Start widget at each publish. ``flow_runs`` is the durable position of a conversation
in a flow (node, variables, what it waits for); ``flow_steps`` logs every widget a run
went through and its result, for supervisors and for reporting where customers leave.

Testing a draft from the editor snapshots it as a ``flow_versions`` row marked ``test``
(numbered -1, -2…, so it never collides with a published number and never becomes the
live version) and records a ``flow_tests`` row: for a short while, that customer's next
new conversation on that number starts the snapshot instead of the published version.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column

from madoguchi.store.models.core import Base, IdType, JSONType, UTCDateTime, utcnow

__all__ = ["Flow", "FlowBinding", "FlowRun", "FlowStep", "FlowTest", "FlowVersion"]


def _pk() -> Mapped[int]:
    return mapped_column(IdType, primary_key=True, autoincrement=True)


def _workspace_fk() -> Mapped[int]:
    return mapped_column(ForeignKey("workspaces.id", ondelete="CASCADE"), index=True)


class Flow(Base):
    __tablename__ = "flows"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    name: Mapped[str] = mapped_column(String(100))
    description: Mapped[str | None] = mapped_column(Text)
    draft: Mapped[dict] = mapped_column(JSONType)
    # The version new conversations start on (null: never published).
    published_version: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class FlowVersion(Base):
    """A published flow document (or a test snapshot of a draft): immutable; runs point
    at it."""

    __tablename__ = "flow_versions"
    __table_args__ = (UniqueConstraint("flow_id", "version"),)

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    definition: Mapped[dict] = mapped_column(JSONType)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    published_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # A snapshot taken to test the draft (negative number): never listed, never live.
    test: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())


class FlowBinding(Base):
    """This number's new conversations start this flow."""

    __tablename__ = "flow_bindings"

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    phone_number_id: Mapped[int] = mapped_column(
        ForeignKey("phone_numbers.id", ondelete="CASCADE"), unique=True
    )
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FlowRun(Base):
    """Where one conversation is in one flow version, and what it waits for."""

    __tablename__ = "flow_runs"
    __table_args__ = (
        Index("ix_flow_runs_conversation", "conversation_id", "id"),
        Index("ix_flow_runs_flow_status", "flow_id", "status"),
    )

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    version_id: Mapped[int] = mapped_column(ForeignKey("flow_versions.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    # The run that routed here (Route To another flow).
    parent_run_id: Mapped[int | None] = mapped_column(
        ForeignKey("flow_runs.id", ondelete="SET NULL")
    )
    node_id: Mapped[str | None] = mapped_column(String(64))
    variables: Mapped[dict] = mapped_column(JSONType, default=dict)
    # running | waiting | routed | handed_off | ended | failed | interrupted
    status: Mapped[str] = mapped_column(String(16), default="running")
    wait_kind: Mapped[str | None] = mapped_column(String(16))  # input | http
    wait_seq: Mapped[int] = mapped_column(Integer, default=0)
    wait_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    retries: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class FlowStep(Base):
    """One widget a run went through, and its result (the exit taken, waiting, error…)."""

    __tablename__ = "flow_steps"
    __table_args__ = (
        Index("ix_flow_steps_conversation", "conversation_id", "id"),
        Index("ix_flow_steps_run", "run_id", "id"),
        Index("ix_flow_steps_workspace_at", "workspace_id", "at"),  # the flow funnel report
    )

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    run_id: Mapped[int] = mapped_column(ForeignKey("flow_runs.id", ondelete="CASCADE"))
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id", ondelete="CASCADE"))
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    node_id: Mapped[str] = mapped_column(String(64))
    widget: Mapped[str] = mapped_column(String(32))
    result: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict | None] = mapped_column(JSONType)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class FlowTest(Base):
    """A short-lived test binding: this customer's next new conversation on this number
    starts this test snapshot (once), instead of the number's published flow."""

    __tablename__ = "flow_tests"
    __table_args__ = (Index("ix_flow_tests_pending", "phone_number_id", "expires_at"),)

    id: Mapped[int] = _pk()
    workspace_id: Mapped[int] = _workspace_fk()
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id", ondelete="CASCADE"), index=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("flow_versions.id", ondelete="CASCADE"))
    phone_number_id: Mapped[int] = mapped_column(ForeignKey("phone_numbers.id", ondelete="CASCADE"))
    # The test customer, as the admin named them: a phone (wa_id) or a BSUID (user_id).
    customer_wa_id: Mapped[str | None] = mapped_column(String(32))
    customer_user_id: Mapped[str | None] = mapped_column(String(160))
    created_by_user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # Set when the customer wrote and the snapshot started (the binding is then used up).
    conversation_id: Mapped[int | None] = mapped_column(
        ForeignKey("conversations.id", ondelete="SET NULL")
    )
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
