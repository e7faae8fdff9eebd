"""Calling: WhatsApp voice calls answered and placed in the agent's browser.

The browser is the business's WebRTC endpoint; this package relays its session
descriptions to Meta's Calling API and back (``calls``), decides whose desktop rings
(``ringing``), keeps the call in the conversation's timeline (``timeline``) and asks
customers for permission to be called (``permissions``).
"""
