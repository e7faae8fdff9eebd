"""Supervision's HTTP face: the wallboard, and supervisors' actions on conversations and
agents."""
