"""Who may do what: workspaces (the tenant boundary), users and roles, browser sessions
and the sign-in rate limit, API tokens and the ``Principal`` every request acts as. It
imports no other capability and must not import the web layer.
"""
