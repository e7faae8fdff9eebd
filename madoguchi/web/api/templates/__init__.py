"""Message templates at Meta: list, create, sync, delete, preview."""
