"""The statuses an outbox mail goes through: pending -> sending -> sent | failed | uncertain.

A module of its own, importing nothing, so that the command line can offer them as choices
without loading SQLAlchemy (see service/cli/).
"""

STATUSES = ("pending", "sending", "sent", "failed", "uncertain")
