"""People: recipients, their addresses, preferences, quiet hours and unsubscribe links."""
