"""Bellhop's background processes: RQ jobs, channels, the scheduler."""
