"""Supervision: the live wallboard, and what a supervisor does to a conversation
(monitor, whisper, barge, take over) or to an agent (presence, offers, queues)."""
