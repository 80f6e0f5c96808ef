"""How much microphone audio a session may still send: metered in seconds, never counted as messages.

Two allowances: the session's own (`listen_seconds`), and under an embed key the key's seconds a day and
each visitor's (`listen_seconds_per_day`, `visitor_listen_seconds_per_day`), in the gate's counters (this
process's, or Redis's shared by every process). Audio is counted against the key `METER_S` at a time and
checked in the background, so no piece waits for a counter: past the allowance, the audio after it is
refused with `rate_limited` (at most about a second late, plus a shared store's round trip).
"""

from __future__ import annotations

from collections.abc import Callable

from server.limits import Denial
from server.protocol import Error, ProtocolError
from server.session.dialogue import Dialogue

METER_S = 1.0  # audio is counted against an embed key's daily seconds this much at a time


class Allowance:
    def __init__(self, dialogue: Dialogue, budget_s: float, stop: Callable[[], None]) -> None:
        """`budget_s`: the audio the session may send in all; `stop()`: the allowance is used up (the turn
        in progress ends)."""
        self.dialogue, self.budget_s, self._stop = dialogue, budget_s, stop
        self.received_s = 0.0  # every second of audio this session has sent
        self.refused: Denial | None = None  # why no more audio is heard
        self._unmetered = 0.0  # seconds received, not yet counted against the key
        self._checking = False

    async def check(self) -> None:
        """Before the microphone opens: ProtocolError if no more audio may be sent."""
        gate, admission = self.dialogue.services.gate, self.dialogue.admission
        if denial := self.refused or await gate.allow_listening(admission):
            raise ProtocolError(*denial)

    def take(self, seconds: float) -> None:
        """A piece of audio arrived: counted, or ProtocolError (`rate_limited`) if past an allowance."""
        if self.refused is None and self.received_s + seconds > self.budget_s:
            self._refuse(("rate_limited", f"this session has sent its {self.budget_s:g} s of audio"))
        if self.refused is not None:
            raise ProtocolError(*self.refused)
        self.received_s += seconds
        self._unmetered += seconds
        if self._unmetered >= METER_S:
            self.meter()

    def meter(self) -> None:
        """Count the audio received so far against the key's seconds, and check them in the background."""
        dialogue = self.dialogue
        if self._unmetered > 0:
            dialogue.services.gate.listened(dialogue.admission, self._unmetered)
            self._unmetered = 0.0
        if not self._checking and dialogue.admission.key is not None:
            self._checking = True
            dialogue.spawn(self._check())

    async def _check(self) -> None:
        try:
            denial = await self.dialogue.services.gate.allow_listening(self.dialogue.admission)
        finally:
            self._checking = False
        if denial is not None and self.refused is None:
            self._refuse(denial)
            await self.dialogue.outlet.send(Error(code=denial[0], message=denial[1]))

    def _refuse(self, denial: Denial) -> None:
        self.refused = denial
        self._stop()
