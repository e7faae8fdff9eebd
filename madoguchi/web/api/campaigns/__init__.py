"""``/api/v1/campaigns``: template broadcasts."""
