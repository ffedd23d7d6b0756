"""Accepting events: the envelope and payloads, and the inbox that keeps them until planned."""
