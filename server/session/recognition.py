"""One session's speech recognition: Whisper in a worker thread, one call at a time per session.

The final transcript of a turn starts on a guess (turns.py `Guess`): after a short silence the turn's
audio so far is transcribed while the end-of-turn judge and the silence still decide. If the turn then
ends with no speech after the guess, its audio is exactly the guess's, and so is its transcript: the
guess's is used, and the user waits for Whisper only as long as it still has to run. If the user goes on,
the guess is thrown away (a newer guess replaces it; a guess not yet started never runs). A partial
transcript cut right where the user then stops is that guess already, and is not run again. A guess runs
only on a spare core: with as many recognitions running in the process as it has cores, it is skipped
(a busy server spends nothing on guesses that may be wasted) and the turn's end is transcribed as before.

What the user waits for (a guess, a final) runs on `FINAL_THREADS` cores: Whisper's encoder, which reads
30 s of (padded) audio whatever the turn's length, is most of its time and splits across cores (for about
the same CPU time in all: measured 0.55 vs 0.57 s of CPU on one and two threads). Partial transcripts,
which nobody waits for, take one.
"""

from __future__ import annotations

import asyncio
import os

import numpy as np

from server import metrics
from server.hearing import asr
from server.hearing.turns import Guess, TurnEnded
from server.session.dialogue import Spawn

CORES = os.cpu_count() or 1
FINAL_THREADS = min(2, CORES)
_running = 0  # recognitions running in this process (every session's): a guess needs a core to spare
Span = tuple[int, int]  # (start, end) of a recognition's audio, in the microphone stream's samples


class Recognition:
    def __init__(self, model: str, spawn: Spawn) -> None:
        self.model = model
        self._spawn = spawn
        self._lock = asyncio.Lock()  # one recognition at a time per session
        self._guess: tuple[Guess, asyncio.Task[asr.Transcript | None]] | None = None
        self._partial: tuple[Span, asyncio.Task[asr.Transcript]] | None = None  # the latest

    def load(self) -> None:
        """Load the model for both uses (blocking: in a worker thread); AsrUnavailable says why not."""
        asr.load(self.model)
        asr.load(self.model, FINAL_THREADS)

    @property
    def busy(self) -> bool:
        """A recognition is running or waiting: a partial transcript is not worth queueing behind it."""
        return self._lock.locked()

    async def transcribe(self, audio: np.ndarray, threads: int = 1) -> asr.Transcript:
        global _running
        async with self._lock:
            _running += 1
            try:
                return await asyncio.to_thread(asr.transcribe, audio, self.model, threads)
            finally:
                _running -= 1

    def partial(self, audio: np.ndarray, span: Span) -> asyncio.Task[asr.Transcript]:
        """What the user has said so far (`audio`, `span` in the stream), in the background."""
        task: asyncio.Task[asr.Transcript] = self._spawn(self.transcribe(audio))  # type: ignore[arg-type]
        self._partial = span, task
        return task

    def guess(self, guess: Guess) -> asyncio.Task[asr.Transcript | None]:
        """The user paused: start the turn's final transcript on this audio (the latest guess wins); its
        transcript, or None if it did not run (stale before its turn came, or no core to spare)."""
        self.forget()
        partial = self._partial
        if partial is not None and partial[0] == (guess.start, guess.speech_end):
            task: asyncio.Task[asr.Transcript | None] = partial[1]  # type: ignore[assignment]
        else:
            task = self._spawn(self._run(guess))  # type: ignore[arg-type]
        self._guess = guess, task
        return task

    def forget(self) -> None:
        """The guess (if any) will not be the turn's end: new speech, or a new turn."""
        if self._guess is not None:
            metrics.GUESSES.labels("stale").inc()
            self._guess = None

    async def final(self, end: TurnEnded) -> asr.Transcript:
        """The turn's final transcript: its guess's when the guess heard the same audio, else a new one."""
        guess = self._guess
        if guess is not None and (guess[0].start, guess[0].speech_end) == (end.start, end.speech_end):
            heard = await guess[1]  # still the latest guess while it waits its turn: it runs (or skips)
            self._guess = None
            if heard is not None:
                metrics.GUESSES.labels("used").inc()
                return heard
        self.forget()
        return await self.transcribe(end.audio, FINAL_THREADS)

    async def _run(self, guess: Guess) -> asr.Transcript | None:
        global _running
        async with self._lock:
            if self._guess is None or self._guess[0] is not guess:  # stale before it began: not run
                return None
            if _running >= CORES:  # no core to spare for a guess: the turn's end is transcribed instead
                metrics.GUESSES.labels("skipped").inc()
                return None
            _running += 1
            try:
                return await asyncio.to_thread(asr.transcribe, guess.audio, self.model, FINAL_THREADS)
            finally:
                _running -= 1
