"""Flows that greet, ask and branch before a human joins: definitions with drafts,
versions, bindings and validation (``definitions``), the durable runner that moves a
conversation through its flow (``runner``), and testing a draft for one customer
(``draft_tests``). The widget semantics themselves live in ``domain.flows``. Flows may use
``channel``, ``contact_center`` and ``scheduling``; they must not import the web layer.
"""
