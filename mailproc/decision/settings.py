"""Settings of ticket conversations (strangers, urgency, deadlines), with their defaults.

Read from ``[desk]`` by mailproc.config (keys ``stranger_reply``, ``remind_before_hours``,
``escalation_address``, ``urgent_deadline_percent``: see config.example.toml).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

StrangerReply = Literal["new_ticket", "notice"]
STRANGER_REPLIES: tuple[StrangerReply, ...] = ("new_ticket", "notice")


@dataclass(frozen=True)
class ConversationSettings:
    """How conversations behave."""

    # "new_ticket": the stranger's message opens their own ticket, which references the
    # quoted one (the safe default: nobody's question is lost). "notice": no ticket, a
    # notice saying that the code belongs to a ticket they do not take part in.
    stranger_reply: StrangerReply = "new_ticket"
    remind_before: timedelta = timedelta(hours=24)
    escalation_address: str | None = None
    # The seed's servants phone 0800 for urgency; by e-mail, half the time left.
    urgent_deadline_percent: int = 50
