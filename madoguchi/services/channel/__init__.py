"""The WhatsApp channel: webhook deliveries journaled and ingested into contacts,
conversations, messages and statuses; outbound messages queued in the outbox and sent
within Meta's limits; inbound media downloaded; the customer service window; marketing
opt-out; connecting numbers. It owns what crosses the wire to Meta and back, and knows
nothing of queues or agents beyond storing which conversation a message belongs to. It
must not import ``contact_center``, ``flows`` or the web layer.
"""
