from __future__ import annotations

import pytest

from animation import states as st


def test_states_table() -> None:
    assert st.STATES == ("idle", "listening", "thinking", "speaking")
    assert st.BLINK_RATE[st.IDLE] == 17.0 and st.BLINK_RATE[st.SPEAKING] == 26.0  # Bentivoglio et al. 1997
    assert st.HEAD_SCALE[st.SPEAKING] > st.HEAD_SCALE[st.LISTENING]
    assert st.AWAY_V[st.THINKING, 0] > 0.0  # thinking averts upward
    assert st.check_state("thinking") == st.THINKING
    for bad in ("Thinking", "asleep", 1, None):
        with pytest.raises(ValueError):
            st.check_state(bad)
