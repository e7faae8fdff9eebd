"""Who may sign in and what they may do: sign-in, users, API tokens, the workspace."""
