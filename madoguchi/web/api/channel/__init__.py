"""The WhatsApp channel as the API shows it: numbers, the service window, marketing opt-out."""
