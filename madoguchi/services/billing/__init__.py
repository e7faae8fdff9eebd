"""Pricing and cost: rate cards, estimates before a send, actual costs from Meta's status
webhooks, cost reports and monthly budgets."""
