"""Where the user's turns begin and end, from the voice activity of each 32 ms chunk.

Hysteresis, as Silero's own streaming iterator does it: speech starts when the probability reaches
`start` for `onset_ms`, and only a fall below the lower `end` counts as silence, so a breathy syllable
does not flicker. The turn keeps `preroll_ms` of audio from before the onset, because the detector needs
a few chunks to be sure and the first consonant is quieter than the vowel after it (AIRI #2092 lost
150-500 ms without it). A pause of `pause_ms` is reported (the listening face nods there); a silence of
`end_ms` ends the turn. With an end-of-turn judge, it is asked after `judge_ms` of silence (and again at
`end_ms`): a finished sentence ends the turn then, a user mid-thought is waited for up to `hold_ms`.
A turn longer than `max_s` ends where it is. After `guess_ms` of silence the turn's audio so far is offered
as a `Guess`: the final transcript can start there, before the judge or the silence has decided, and is
used if the turn ends with no speech after it (the same audio), else thrown away.

Pure: time is the sample count, nothing reads a clock, so a file and a microphone give the same turns.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from server.hearing.vad import CHUNK, SAMPLE_RATE


@dataclass(frozen=True)
class TurnRules:
    start: float = 0.5  # Silero's default threshold
    end: float = 0.35  # Silero's default: threshold - 0.15
    onset_ms: int = 64  # two chunks at or above `start`: a click is one
    pause_ms: int = 300  # a pause worth a listener's nod (Maynard 1987: backchannels at pauses)
    judge_ms: int = 200  # silence after which the judge is first asked (pipecat asks at its VAD's 0.2 s)
    end_ms: int = 700  # silence that ends a turn without a judge; with one, it is asked again here
    hold_ms: int = 2_000  # silence that ends any turn: the longest thinking pause waited for
    guess_ms: int = 64  # silence after which the final transcript may start on a guess (before the judge)
    preroll_ms: int = 500
    max_s: float = 30.0
    min_speech_ms: int = 160  # shorter bursts (a cough, a click) are not a turn

    def chunks(self, ms: float) -> int:
        return max(1, round(ms / 1000 * SAMPLE_RATE / CHUNK))


@dataclass(frozen=True)
class SpeechStarted:
    sample: int  # where the speech began (the first chunk at `start`), in the stream's samples


@dataclass(frozen=True)
class Paused:
    sample: int  # where the silence began


@dataclass(frozen=True)
class TurnEnded:
    audio: np.ndarray  # float32 16 kHz, from the pre-roll to the end of the last voiced chunk
    start: int  # the stream sample `audio` starts at
    speech_start: int
    speech_end: int  # the end of the last voiced chunk
    reason: str  # "silence", "judged" (the judge agreed early), "hold" (the longest wait), "max"


@dataclass(frozen=True)
class Guess:
    """The user has been silent `guess_ms`: the turn may be ending here. Its audio so far, exactly the
    audio of the TurnEnded that follows if no speech comes first (same `start` and `speech_end`)."""

    audio: np.ndarray
    start: int
    speech_end: int


@dataclass(frozen=True)
class Discarded:
    """Speech too short to be a turn (a cough, a click): the face may have started listening."""

    sample: int


TurnEvent = SpeechStarted | Paused | Guess | TurnEnded | Discarded
# The end-of-turn judge: the turn's audio so far -> probability that the user has finished.
Judge = Callable[[np.ndarray], float]


class Turns:
    def __init__(self, rules: TurnRules | None = None, judge: Judge | None = None) -> None:
        self.rules = rules or TurnRules()
        self.judge = judge
        # Push-to-talk: the user's release (the microphone closing) ends the turn, or its length: never a
        # pause, however long (hands-free turns end at silence, judged).
        self.held = False
        r = self.rules
        self._onset, self._pause = r.chunks(r.onset_ms), r.chunks(r.pause_ms)
        self._end, self._hold = r.chunks(r.end_ms), r.chunks(r.hold_ms)
        self._ask, self._guess = r.chunks(r.judge_ms), r.chunks(r.guess_ms)
        self._preroll = r.chunks(r.preroll_ms)
        self._min_speech = r.chunks(r.min_speech_ms)
        self._max = r.chunks(r.max_s * 1000)
        self._chunks: list[np.ndarray] = []  # the pre-roll while quiet, the turn while speaking
        self._first = 0  # the chunk index of _chunks[0]
        self._n = 0  # chunks seen
        self._above = 0  # consecutive chunks at or above `start` (while quiet)
        self._speaking = False
        self._speech_start = 0  # chunk index
        self._last_voiced = 0  # chunk index of the last chunk above `end`
        self._voiced = 0  # chunks above `end` in this turn
        self._paused = False

    @property
    def speaking(self) -> bool:
        return self._speaking

    @property
    def voiced_s(self) -> float:
        """Seconds of voiced audio in the turn so far (0 between turns): how sure it is speech."""
        return self._voiced * CHUNK / SAMPLE_RATE if self._speaking else 0.0

    def current(self) -> np.ndarray:
        """The turn's audio so far, pre-roll included (for a partial transcript); empty between turns."""
        if not self._speaking:
            return np.zeros(0, np.float32)
        return self._audio(self._n)

    @property
    def span(self) -> tuple[int, int]:
        """Where `current()` starts and ends, in the stream's samples: a partial transcript of it is the
        turn's final one if the turn then ends right there (a `Guess` with the same span)."""
        return self._start() * CHUNK, self._n * CHUNK

    def feed(self, chunks: np.ndarray, probs: np.ndarray) -> list[TurnEvent]:
        """`chunks` [n, CHUNK] of audio and their speech probabilities [n] (vad.Listener's output)."""
        events: list[TurnEvent] = []
        for chunk, p in zip(chunks, probs, strict=True):
            events.extend(self._step(chunk, float(p)))
        return events

    def flush(self) -> list[TurnEvent]:
        """The stream ended (the microphone closed, the file ended): a turn in progress ends here."""
        if not self._speaking:
            return []
        return [self._finish("silence")]

    def _step(self, chunk: np.ndarray, p: float) -> list[TurnEvent]:
        r, i = self.rules, self._n
        self._n += 1
        self._chunks.append(chunk)
        if not self._speaking:
            self._above = self._above + 1 if p >= r.start else 0
            if self._above < self._onset:
                if len(self._chunks) > self._preroll + self._onset:
                    self._chunks.pop(0)
                    self._first += 1
                return []
            self._speaking, self._paused = True, False
            self._speech_start = i - self._onset + 1
            self._last_voiced, self._voiced = i, self._onset
            return [SpeechStarted(self._speech_start * CHUNK)]
        if p >= r.end:
            self._last_voiced, self._paused = i, False
            self._voiced += 1
        silent = i - self._last_voiced
        if i - self._speech_start + 1 >= self._max:
            return [self._finish("max")]
        if self.held:
            return self._pause_event(silent)
        if silent >= self._hold:
            return [self._finish("hold")]
        events: list[TurnEvent] = []
        if silent == self._guess and self._voiced >= self._min_speech:
            end = self._last_voiced + 1
            events.append(Guess(self._audio(end), self._start() * CHUNK, end * CHUNK))
        if self.judge is None and silent == self._end:
            return [*events, self._finish("silence")]
        asked = self.judge is not None and silent in (self._ask, self._end)  # twice a pause at most
        if asked and self.judge(self._audio(self._last_voiced + 1)) >= 0.5:  # type: ignore[misc]
            return [*events, self._finish("judged")]
        return events + self._pause_event(silent)

    def _pause_event(self, silent: int) -> list[TurnEvent]:
        """A pause worth a listener's nod, once a pause."""
        if silent < self._pause or self._paused or self._voiced < self._min_speech:
            return []
        self._paused = True
        return [Paused((self._last_voiced + 1) * CHUNK)]

    def _start(self) -> int:
        """The chunk the turn's audio starts at: its pre-roll, as far as it was kept."""
        return max(self._first, self._speech_start - self._preroll)

    def _audio(self, end_chunk: int) -> np.ndarray:
        chunks = self._chunks[self._start() - self._first : end_chunk - self._first]
        return np.concatenate(chunks).astype(np.float32)

    def _finish(self, reason: str) -> TurnEvent:
        end, start = self._last_voiced + 1, self._start()
        audio = self._audio(end)
        tail = self._chunks[end - self._first :]  # silence after the turn: the next pre-roll
        self._chunks, self._first = (
            tail[-self._preroll :] if tail else [],
            end + max(0, len(tail) - self._preroll),
        )
        self._speaking, self._above = False, 0
        if self._voiced < self._min_speech:
            return Discarded(self._speech_start * CHUNK)
        return TurnEnded(audio, start * CHUNK, self._speech_start * CHUNK, end * CHUNK, reason)
