"""Calling routes: answer, decline and hang up calls; call out; ask permission to call."""
