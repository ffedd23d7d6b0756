"""Bellhop's rules, one package per stage an event goes through (see docs/design.md, Layout)."""
