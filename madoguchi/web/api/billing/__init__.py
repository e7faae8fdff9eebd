"""Pricing and cost: rate cards, estimates, cost reports, budgets."""
