"""Assist: summaries, sentiment and suggested answers for agents and supervisors.

Offline by default — nothing leaves the machine: BM25 retrieval (bm25s) over the
workspace's knowledge base with proper tokenisers (Snowball stemming for English,
SudachiPy's morphological analysis for Japanese), lexicon sentiment (VADER for English,
a curated lexicon over Sudachi's lemmas for Japanese) and extractive summaries built from
the conversation's structure. A workspace may opt in to an OpenAI-compatible endpoint the
operator configured (``llm``); its answers replace the offline ones only when it answers
in time, and what it receives is masked first.

This package sits at the bottom of the capabilities: it reads conversations, messages and
flow runs from the store but imports no other capability, so any of them may use it.
"""
