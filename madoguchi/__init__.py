"""Madoguchi (窓口): an open-source, self-hosted contact center for WhatsApp Business."""

__version__ = "0.1.0"
