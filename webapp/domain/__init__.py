"""Bellhop's rules: ingest, planning, state transitions and rendering."""
