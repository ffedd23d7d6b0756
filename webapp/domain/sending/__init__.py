"""Sending: claiming due messages, rendering them, throttling, and recording each attempt."""
