"""The contact center's work: conversations and messages, queues, presence, the
conversation lifecycle, canned responses and business-initiated contact."""
