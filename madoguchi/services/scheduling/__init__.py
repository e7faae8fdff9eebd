"""Durable timers: rows that fire once when due, after any number of restarts. Used by
routing (offer timeouts, overflow, auto-close) and flows (Collect Input timeouts). It
imports no other capability.
"""
