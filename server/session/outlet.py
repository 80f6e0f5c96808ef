"""A session's way out: what it tells its client (the outbound queue) and shows on its face."""

from __future__ import annotations

import asyncio
from dataclasses import asdict

from pydantic import BaseModel

from server.events import Cue, Gesture, Turn
from server.face import FaceHandle, StepFrame
from server.protocol import EmotionCue, GestureCue, History, HistoryTurn, SpeechMessage, State
from server.protocol.outbound import Frame, Outbound


def cue_message(cue: Cue, reply_id: int | None) -> EmotionCue:
    fields = asdict(cue)
    del fields["hold"]  # how long the face holds it is the face's business
    return EmotionCue(reply_id=reply_id, **fields)


class Outlet:
    def __init__(self, out: Outbound, face: FaceHandle, t_start: float, public: bool) -> None:
        """`t_start`: the session's clock origin (t_ms on the wire counts from it). `public`: the client gets
        plain sentences instead of providers' error details."""
        self.out = out
        self.face = face
        self.t_start = t_start
        self.public = public
        self._hidden = False
        self.visibility = asyncio.Event()  # set when the page is shown or hidden (the idle watchdog waits)
        self._seq = 0

    @property
    def hidden(self) -> bool:
        """The page is hidden: no frames."""
        return self._hidden

    @hidden.setter
    def hidden(self, hidden: bool) -> None:
        self._hidden = hidden
        self.visibility.set()

    async def send(self, message: BaseModel) -> None:
        """In order; waits while the client's queue is full."""
        await self.out.put(message.model_dump_json())

    def send_now(self, message: BaseModel) -> None:
        """For the few messages sent while a reply is being torn down (cannot wait for queue space)."""
        self.out.put_now(message.model_dump_json())

    async def speak(self, message: SpeechMessage, audio: bytes) -> None:
        await self.send(message)
        self.out.put_now(audio)  # right behind its speech message, even when the queue is full

    def frame(self, frame: StepFrame) -> None:
        """The face's newest frame (latest-wins), unless the page is hidden."""
        if not self.hidden:
            self._seq += 1
            t_ms = max(0, round((frame.t - self.t_start) * 1000))
            self.out.offer_frame(Frame(self._seq, t_ms, frame.wire, frame.step, frame.delta))

    async def show(self, cue: Cue, reply_id: int | None, *, on_face: bool = True) -> None:
        """Cue the face (unless the voice will, on the cue's word) and tell the client."""
        if on_face:
            self.face.cue(cue)
        await self.send(cue_message(cue, reply_id))

    async def gesture(self, gesture: Gesture, reply_id: int | None, *, on_face: bool = True) -> None:
        """Make the gesture (unless the voice will, on its word) and tell the client."""
        if on_face:
            self.face.gesture(gesture)
        await self.send(GestureCue(reply_id=reply_id, **asdict(gesture)))

    async def set_state(self, state: str) -> None:
        self.face.set_state(state)
        await self.send(State(state=state))  # type: ignore[arg-type]

    def set_state_now(self, state: str) -> None:
        """Past the queue's bound: for a state that must follow what was just sent (or a reply's end)."""
        self.face.set_state(state)
        self.send_now(State(state=state))  # type: ignore[arg-type]

    def idle(self) -> None:
        self.set_state_now("idle")

    async def history(self, reason: str, turns: list[Turn]) -> None:
        sent = [HistoryTurn.of(t) for t in turns]
        await self.send(History(reason=reason, turns=sent))  # type: ignore[arg-type]

    def public_detail(
        self, detail: str, plain: str = "the service is unavailable right now; please try again soon"
    ) -> str:
        """A provider's error text (or an engine's, naming files), or a plain sentence for public clients."""
        return plain if self.public else detail
