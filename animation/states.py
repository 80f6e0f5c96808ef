"""Conversation states (idle, listening, thinking, speaking) and the idle-life parameters they select.

data/states.toml holds the table (sources cited there); this module loads it into arrays indexed by
state code, so a step looks up every face's parameters with one fancy index.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from animation.emotions import load_table

_TABLE = load_table("states.toml")

STATES: tuple[str, ...] = tuple(str(s["name"]) for s in _TABLE["state"])
STATE_INDEX: dict[str, int] = {name: i for i, name in enumerate(STATES)}
IDLE, LISTENING, THINKING, SPEAKING = (STATE_INDEX[n] for n in ("idle", "listening", "thinking", "speaking"))
assert STATES == ("idle", "listening", "thinking", "speaking"), "states.toml must list the four states"


def _column(key: str) -> np.ndarray:
    col = np.array([s[key] for s in _TABLE["state"]], dtype=np.float64)
    col.setflags(write=False)
    return col


BLINK_RATE = _column("blink_rate")
P_VIEWER = _column("p_viewer")
P_BACK = _column("p_back")
FIX_VIEWER = _column("fix_viewer")
FIX_AWAY = _column("fix_away")
AWAY_H = _column("away_h")  # [n_states, 2]
AWAY_V = _column("away_v")
HEAD_SCALE = _column("head")
P_ENTER = _column("p_enter")  # first fixation in a new state on the viewer
P_SIDE = _column("p_side")  # an aversion to the face's preferred side
HOLD_SD = _column("hold_sd")  # small saccades within a held aversion, degrees

GAZE: dict[str, Any] = dict(_TABLE["gaze"])
HEAD: dict[str, Any] = dict(_TABLE["head"])

if not (np.all(BLINK_RATE > 0) and np.all((P_VIEWER >= 0) & (P_VIEWER <= 1)) and np.all(P_BACK <= 1)):
    raise ValueError("states.toml: rates must be positive and probabilities in [0, 1]")
if not all(np.all((p >= 0) & (p <= 1)) for p in (P_BACK, P_ENTER, P_SIDE)) or np.any(HOLD_SD < 0):
    raise ValueError("states.toml: p_back, p_enter and p_side must be in [0, 1], hold_sd >= 0")
if np.any(GAZE["fix_min"] >= FIX_VIEWER) or np.any(GAZE["fix_min"] >= FIX_AWAY):
    raise ValueError("states.toml: mean fixations must exceed fix_min")
if np.any(AWAY_H[:, 0] > AWAY_H[:, 1]) or np.any(AWAY_V[:, 0] > AWAY_V[:, 1]):
    raise ValueError("states.toml: away ranges must be [low, high]")


def check_state(state: object) -> int:
    if not isinstance(state, str) or state not in STATE_INDEX:
        raise ValueError(f"unknown state {state!r}; expected one of {', '.join(STATES)}")
    return STATE_INDEX[state]
