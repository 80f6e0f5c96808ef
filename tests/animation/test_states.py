from __future__ import annotations

import pytest

from animation import states as st


def test_states_table() -> None:
    assert st.STATES == ("idle", "listening", "thinking", "speaking")
    assert st.BLINK_RATE[st.IDLE] == 17.0 and st.BLINK_RATE[st.SPEAKING] == 26.0  # Bentivoglio et al. 1997
    assert st.HEAD_SCALE[st.SPEAKING] > st.HEAD_SCALE[st.LISTENING]
    assert st.AWAY_V[st.THINKING, 0] > 0.0  # thinking averts upward
    # Gaze aversion while thinking: away from the first fixation, mostly to the face's own side, held with
    # small saccades; every other state starts on the viewer and has no side of its own.
    assert st.P_ENTER[st.THINKING] == 0.0 and st.P_SIDE[st.THINKING] > 0.5 and st.HOLD_SD[st.THINKING] > 0.0
    others = [s for s in range(len(st.STATES)) if s != st.THINKING]
    assert all(st.P_ENTER[others] == 1.0) and all(st.P_SIDE[others] == 0.5) and all(st.HOLD_SD[others] == 0.0)
    assert st.check_state("thinking") == st.THINKING
    for bad in ("Thinking", "asleep", 1, None):
        with pytest.raises(ValueError):
            st.check_state(bad)
