"""Who may open a session and what it may spend: embed keys (keys.py) and the gatekeeper that admits
sessions and counts their messages and tokens (gate.py, in-process)."""

from server.limits.gate import Admission, Gatekeeper, Limits, MinuteWindow, Refusal, visitor_of
from server.limits.keys import EmbedKey, allowed_personas, load_keys
from server.limits.moderation import Moderation, Refused, read_words

__all__ = [
    "Admission",
    "EmbedKey",
    "Gatekeeper",
    "Limits",
    "MinuteWindow",
    "Moderation",
    "Refusal",
    "Refused",
    "allowed_personas",
    "load_keys",
    "read_words",
    "visitor_of",
]
