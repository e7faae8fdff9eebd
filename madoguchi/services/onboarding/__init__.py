"""Onboarding: connecting WhatsApp numbers the way Meta's guide does, and keeping watch.

``meta_app`` (the operator's Meta app and what the browser needs to launch Embedded
Signup), ``signup`` (the server's half of Embedded Signup: exchange the code, subscribe
the app, register the number, read its details, one retriable step at a time),
``health`` (each number's health at Meta and in our own traffic, with warnings, checked
on demand and periodically) and ``disconnect`` (stop using a number, keep its history).
It sits beside ``configuration`` at the top of the capabilities: it saves numbers through
``channel`` and syncs templates through ``templates``.
"""
