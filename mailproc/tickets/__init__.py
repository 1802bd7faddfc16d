"""Decisions applied to tickets: the per-message pipeline, replies and commands, mail to
the routing areas, and the scheduled upkeep of deadlines.
"""
