"""Masking before anything leaves for a language model: phone numbers, e-mail addresses
and long digit runs (card, account and membership numbers) become placeholders.

Full-width characters are folded first (０９０-１２３４-５６７８ is a phone number too).
Short numbers stay: an order number or a price is what the model needs to help.
"""

from __future__ import annotations

import re
import unicodedata

EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
# Digits with the separators people type in phone numbers, at least 9 digits in all.
PHONE = re.compile(r"(?<![\d+])\+?\(?\d(?:[\s().\-]*\d){8,14}(?!\d)")
LONG_DIGITS = re.compile(r"\d{6,}")


def mask(text: str) -> str:
    text = unicodedata.normalize("NFKC", text or "")
    text = EMAIL.sub("[email]", text)
    text = PHONE.sub("[phone]", text)
    return LONG_DIGITS.sub("[number]", text)
