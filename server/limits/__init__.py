"""Who may open a session and what it may spend: embed keys (keys.py), the gatekeeper that admits sessions
and counts their messages and tokens (gate.py), where the counts live (counters.py: this process; shared.py:
Redis, across processes), and the moderation gate (moderation.py)."""

from server.limits.counters import Counters, CountersUnavailable, LocalCounters, MinuteWindow
from server.limits.gate import Admission, Denial, Gatekeeper, Limits, Refusal, visitor_of
from server.limits.keys import EmbedKey, allowed_personas, load_keys
from server.limits.moderation import Moderation, Refused, read_words
from server.limits.shared import RedisCounters

__all__ = [
    "Admission",
    "Counters",
    "CountersUnavailable",
    "Denial",
    "EmbedKey",
    "Gatekeeper",
    "Limits",
    "LocalCounters",
    "MinuteWindow",
    "Moderation",
    "RedisCounters",
    "Refusal",
    "Refused",
    "allowed_personas",
    "load_keys",
    "read_words",
    "visitor_of",
]
