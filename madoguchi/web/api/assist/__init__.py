"""``/api/v1`` assist: sentiment, summaries, knowledge and suggestions, settings."""
