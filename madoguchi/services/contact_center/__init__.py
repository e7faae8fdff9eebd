"""The contact center: queues and their settings, agent presence, conversations and
contacts, offering and assigning conversations (``assignment``) and the worker that drives
it from events and timers (``dispatcher``), read markers, the audience of live events,
and business-initiated contact (``outreach``). It may use ``channel`` (to queue a
message) and ``scheduling``; it must not import ``flows`` or the web layer.
"""
