"""Who may open a session and what it may spend: embed keys (keys.py) and the gatekeeper that admits
sessions and counts their messages and tokens (gate.py, in-process)."""

from server.limits.gate import Admission, Gatekeeper, Refusal
from server.limits.keys import EmbedKey, load_keys

__all__ = ["Admission", "EmbedKey", "Gatekeeper", "Refusal", "load_keys"]
