"""Speaking a reply aloud: sentence by sentence, in order, off the event loop, on the face's clock.

The reply's visible text and its emotion cues flow in as they stream. Each finished sentence is
synthesised in a worker thread (emoji and the like are not spoken: the text is the visible text), its
audio scheduled on the animation clock right after the previous sentence, the mouth given its visemes,
and each emotion cue moved onto the audio time of the word it precedes. Out go a `speech` message (timing,
words for captions, cue times) and the audio itself (Ogg/Opus, a binary `audio` message).
"""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import numpy as np

from animation.engine import FaceBank
from server.binary import encode_audio
from server.conversation import SENTENCE_END
from server.protocol import AudioInfo, SpeechCue, SpeechMessage, SpeechWord
from server.voice import Speech, Voice

OPUS_RATE = 24_000  # Opus takes 8/12/16/24/48 kHz; 24 kHz keeps all of a voice's band
LEAD = 0.12  # seconds between the audio being ready and it starting: transfer and decode in the browser

_voice_lock = threading.Lock()
_voice: Voice | None = None


def shared_voice() -> Voice:
    """The server's voice, loaded once (about half a second) in whichever thread asks first."""
    global _voice
    with _voice_lock:
        if _voice is None:
            from server.voice import load_voice

            _voice = load_voice()
        return _voice


def voice_available() -> bool:
    """Whether a voice engine is installed (without loading it): Piper, or libespeak-ng."""
    import ctypes.util
    import importlib.util

    return importlib.util.find_spec("piper") is not None or ctypes.util.find_library("espeak-ng") is not None


def audio_info() -> AudioInfo:
    return AudioInfo(encoding="ogg-opus", sample_rate=OPUS_RATE)


def to_ogg_opus(audio: np.ndarray, sample_rate: int) -> bytes:
    """Mono float audio -> an Ogg/Opus file (what browsers' decodeAudioData takes), ~10x smaller than PCM."""
    import soundfile as sf

    if sample_rate != OPUS_RATE:
        n = round(len(audio) * OPUS_RATE / sample_rate)
        audio = np.interp(np.arange(n) * (sample_rate / OPUS_RATE), np.arange(len(audio)), audio)
    buf = io.BytesIO()
    sf.write(buf, np.asarray(audio, np.float32), OPUS_RATE, format="OGG", subtype="OPUS")
    return buf.getvalue()


@dataclass
class _Sentence:
    index: int
    start: int  # offset of the sentence in the reply's visible text
    text: str
    cues: list[tuple[str, float, int]] = field(default_factory=list)  # emotion, intensity, reply offset


class Speaker:
    """One reply's voice. Feed it text and cues in order, then `finish`; `cancel` stops it at once."""

    def __init__(
        self,
        reply_id: int,
        voice: Voice,
        now: Callable[[], float],
        t_start: float,
        face: FaceHooks,
        send: Callable[[SpeechMessage, bytes], Awaitable[None]],
    ) -> None:
        self.reply_id = reply_id
        self._voice = voice
        self._now = now
        self._t_start = t_start  # the session's clock origin: t_ms on the wire counts from it
        self._face = face
        self._send = send
        self._queue: asyncio.Queue[_Sentence | None] = asyncio.Queue()
        self._text = ""
        self._start = 0
        self._cues: list[tuple[str, float, int]] = []
        self._index = 0
        self._free_at = 0.0  # when the last scheduled sentence stops sounding
        self._task = asyncio.create_task(self._run(), name=f"mien-speak-{reply_id}")

    def text(self, delta: str) -> None:
        self._text += delta
        while m := SENTENCE_END.search(self._text):
            self._close(m.end())

    def cue(self, emotion: str, intensity: float, offset: int) -> None:
        self._cues.append((emotion, intensity, offset))

    async def finish(self) -> None:
        """Speak what is left and wait until every sentence has been scheduled and sent."""
        self._close(len(self._text))
        self._queue.put_nowait(None)
        await self._task

    async def cancel(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._face.clear_speech(self._now())

    def _close(self, end: int) -> None:
        sentence, self._text = self._text[:end], self._text[end:]
        start, self._start = self._start, self._start + end
        cues = [c for c in self._cues if c[2] < self._start]
        self._cues = [c for c in self._cues if c[2] >= self._start]
        if sentence.strip():
            self._queue.put_nowait(_Sentence(self._index, start, sentence, cues))
            self._index += 1
        else:  # nothing to say: its cues go to the face now
            for emotion, intensity, _ in cues:
                self._face.cue(emotion, intensity, self._now())

    async def _run(self) -> None:
        while (sentence := await self._queue.get()) is not None:
            speech, audio = await asyncio.to_thread(self._synthesize, sentence.text)
            t0 = max(self._now() + LEAD, self._free_at)
            self._free_at = t0 + speech.duration
            times, visemes, weights = speech.visemes()
            self._face.visemes(t0, times, visemes, weights)
            cues = []
            for emotion, intensity, offset in sentence.cues:
                at = t0 + speech.time_at(max(0, offset - sentence.start))
                self._face.cue(emotion, intensity, at)
                cues.append(SpeechCue(emotion=emotion, intensity=intensity, t_ms=self._ms(at)))
            words = [
                SpeechWord(offset=sentence.start + off, t_ms=self._ms(t0 + a), end_ms=self._ms(t0 + b))
                for _w, a, b, off in speech.words
            ]
            message = SpeechMessage(
                reply_id=self.reply_id,
                sentence=sentence.index,
                text_start=sentence.start,
                text_end=sentence.start + len(sentence.text),
                t_ms=self._ms(t0),
                duration_ms=round(speech.duration * 1000),
                words=words,
                cues=cues,
                audio_bytes=len(audio),
            )
            await self._send(message, encode_audio(self.reply_id, sentence.index, audio))

    def _synthesize(self, text: str) -> tuple[Speech, bytes]:
        speech = self._voice.synthesize(text)
        return speech, to_ogg_opus(speech.audio, speech.sample_rate)

    def _ms(self, t: float) -> int:
        return max(0, round((t - self._t_start) * 1000))


class FaceHooks:
    """The speaker's view of one face in the bank (so it needs no session)."""

    def __init__(self, bank: FaceBank, slot: int) -> None:
        self.bank = bank
        self.slot = slot

    def visemes(self, t0: float, times: object, visemes: object, weights: object) -> None:
        self.bank.visemes(self.slot, t0, times, visemes, weights)

    def cue(self, emotion: str, intensity: float, t: float) -> None:
        self.bank.cue(self.slot, emotion, intensity, t)

    def clear_speech(self, t: float) -> None:
        self.bank.clear_speech(self.slot, t)
