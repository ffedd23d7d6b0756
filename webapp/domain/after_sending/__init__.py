"""After the provider: receipts, bounces, replies, the suppression list and fallbacks."""
