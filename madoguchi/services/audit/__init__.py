"""The audit log: every change a person or an API token makes, with who, when, from
where and what (before → after, secrets never shown). It sits below every other
capability so any of them can record; it imports none of them.

Record with ``madoguchi.services.audit.record.record(session, principal, action, target,
before, after)`` inside the transaction that makes the change.
"""
