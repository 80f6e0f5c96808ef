"""Speaking a reply aloud: sentence by sentence, in order, off the event loop, on the face's clock.

The reply's visible text and its emotion cues flow in as they stream. Each finished sentence is
synthesised in a worker thread (emoji and the like are not spoken: the text is the visible text), its
audio scheduled on the animation clock right after the previous sentence, the mouth given its visemes,
and each emotion cue moved onto the audio time of the word it precedes. Out go a `speech` message (timing,
words for captions, cue times) and the audio itself (Ogg/Opus, a binary `audio` message).

Order: one task per reply takes sentences from a FIFO queue and awaits each one's synthesis and send
before the next, so `sentence` numbers and `t_ms` only grow; replies share nothing but the (thread-safe)
voice, so one session's slow synthesis can delay another's but never reorder it.

Time to first audio (`python -m server.bench speech`): a sentence the listener is waiting for (nothing
of the reply still sounding) is *urgent*. A long urgent sentence is spoken clause by clause (its first
clause goes out while the rest is synthesised, and sounds on right after it), and urgent audio is encoded
in Opus's cheaper CELT-only mode. Synthesis, encoding and visemes all run in the worker thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from animation.engine import FaceBank
from animation.phonemes import Visemes
from server.binary import encode_audio
from server.conversation import SENTENCE_END
from server.cpu import urgent
from server.protocol import AudioInfo, SpeechCue, SpeechMessage, SpeechWord
from server.voice import Speech, Voice, tokens

if TYPE_CHECKING:
    from server.settings import Settings
    from server.voices import VoiceSpec

log = logging.getLogger("mien.speech")

OPUS_RATE = 24_000  # Opus takes 8/12/16/24/48 kHz; 24 kHz keeps all of a voice's band
LEAD = 0.12  # seconds between the audio being ready and it starting: transfer and decode in the browser
URGENT = 0.3  # s: with less than this of the reply still to sound, the next sentence is urgent
LONG = 60  # chars (~3 s of speech): an urgent sentence longer than this is spoken clause by clause
MIN_CLAUSE = 16  # chars: the shortest piece a sentence is cut into
HEAD = 50  # chars (~2.5 s): a first clause longer than this is cut earlier if it can be
MAX_PIECE = 250  # chars (~12 s of speech): no single synthesis is longer, whatever the punctuation
# libsndfile's compression level 0.8 asks ~56 kb/s, where libopus (24 kHz mono) switches to CELT-only:
# measured 2x faster to encode than the hybrid SILK+CELT mode of its default ~32 kb/s, for ~1.5x bytes.
FAST_OPUS = 0.8
# Clause boundaries: punctuation, or before a conjunction or the like (a weaker but real break).
_CLAUSE = re.compile(r"[,;:]\s+|\s[-–—]+\s+|[–—]")
_CONJUNCTION = re.compile(
    r"\s(?=(?:and|but|or|so|because|which|that|who|while|when|where|if|though|although|until|unless|after"
    r"|before|since|with|without)\s)",
    re.I,
)


# Synthesis runs here, not in asyncio's default executor: the sessions' memory, feelings and token counts
# must never wait behind voices.
VOICE_POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="mien-voice")


def shared_voice(spec: VoiceSpec | str = "default", settings: Settings | None = None) -> Voice:
    """The voice for a spec ("default": the server's `voice` setting), loaded once per spec and shared
    by every session (server.voices.VOICES), in whichever thread asks first (Piper takes ~0.5 s)."""
    from server.settings import Settings
    from server.voices import VOICES, resolve

    settings = settings or Settings()
    return VOICES.get(resolve(spec, settings), settings)


def voice_available(spec: VoiceSpec | None = None) -> bool:
    """Whether the spec's engine is installed (without loading it); with no spec, any offline voice."""
    from server.voices import AUTO, available

    return available(spec or AUTO)


def audio_info() -> AudioInfo:
    return AudioInfo(encoding="ogg-opus", sample_rate=OPUS_RATE)


def to_ogg_opus(audio: np.ndarray, sample_rate: int, fast: bool = False) -> bytes:
    """Mono float audio -> an Ogg/Opus file (what browsers' decodeAudioData takes), ~10x smaller than PCM.
    `fast`: about half the encoding time for about 1.5x the bytes (FAST_OPUS)."""
    import soundfile as sf

    if sample_rate != OPUS_RATE:
        n = round(len(audio) * OPUS_RATE / sample_rate)
        audio = np.interp(np.arange(n) * (sample_rate / OPUS_RATE), np.arange(len(audio)), audio)
    buf = io.BytesIO()
    level = FAST_OPUS if fast else None
    sf.write(
        buf, np.asarray(audio, np.float32), OPUS_RATE, format="OGG", subtype="OPUS", compression_level=level
    )
    return buf.getvalue()


def first_clause(text: str) -> int | None:
    """Where to cut a long sentence so that its first clause can sound sooner (the head's length), or
    None. Both pieces keep MIN_CLAUSE characters, and the head at least 1/8 of the tail: the tail is
    then synthesised (well under 1/8 of real time) before the head has finished sounding. Punctuation
    makes the most natural cut; when it comes later than HEAD, the earliest cut of any kind."""
    n = len(text.rstrip())
    if n <= LONG:
        return None

    def cuts(pattern: re.Pattern[str]) -> list[int]:
        ends = (m.end() for m in pattern.finditer(text, 0, n))
        return [c for c in ends if c >= MIN_CLAUSE and n - c >= MIN_CLAUSE and 8 * c >= n - c]

    punctuation, words = cuts(_CLAUSE), cuts(_CONJUNCTION)
    if punctuation and punctuation[0] <= HEAD:
        return punctuation[0]
    return min(punctuation + words, default=None)


def piece_cut(text: str) -> int | None:
    """Where to cut a text longer than MAX_PIECE (None if it isn't): the last clause boundary before it,
    else the last conjunction, else the last space, else MAX_PIECE itself (one endless "word")."""
    if len(text.rstrip()) <= MAX_PIECE:
        return None
    for pattern in (_CLAUSE, _CONJUNCTION, re.compile(r"\s+")):
        ends = [m.end() for m in pattern.finditer(text, 0, MAX_PIECE) if m.end() >= MIN_CLAUSE]
        if ends:
            return ends[-1]
    return MAX_PIECE


@dataclass
class _Sentence:
    start: int  # offset of the sentence in the reply's visible text
    text: str
    cues: list[tuple[str, float, int]] = field(default_factory=list)  # emotion, intensity, reply offset

    def split(self, cut: int) -> tuple[_Sentence, _Sentence]:
        at = self.start + cut
        head = _Sentence(self.start, self.text[:cut], [c for c in self.cues if c[2] < at])
        return head, _Sentence(at, self.text[cut:], [c for c in self.cues if c[2] >= at])


@dataclass(frozen=True)
class _Spoken:
    speech: Speech
    visemes: Visemes  # for FaceBank.visemes, on the audio's clock
    audio: bytes  # Ogg/Opus
    synth_ms: float
    encode_ms: float


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
        lane: asyncio.Lock | None = None,
    ) -> None:
        self.reply_id = reply_id
        # The session's one synthesis at a time (held until the thread is done, even for a cancelled reply).
        self._lane = lane or asyncio.Lock()
        self._voice = voice
        self._now = now
        self._t_start = t_start  # the session's clock origin: t_ms on the wire counts from it
        self._face = face
        self._send = send
        self._queue: asyncio.Queue[_Sentence | None] = asyncio.Queue()
        self._text = ""
        self._start = 0
        self._cues: list[tuple[str, float, int]] = []
        self._sent = 0  # `sentence` number of the next piece sent
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

    async def until_silent(self) -> None:
        """Wait until the last scheduled sentence has sounded (on the animation clock)."""
        await asyncio.sleep(max(0.0, self._free_at - self._now()))

    async def cancel(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        self._face.clear_speech(self._now())

    def _close(self, end: int) -> None:
        sentence, self._text = self._text[:end], self._text[end:]
        start, self._start = self._start, self._start + end
        cues = [c for c in self._cues if c[2] < self._start]
        self._cues = [c for c in self._cues if c[2] >= self._start]
        if tokens(sentence):  # words to say ("..." or an emoji has none: Piper gives no audio for it)
            log.debug("reply %d: sentence at %d complete", self.reply_id, start)
            self._queue.put_nowait(_Sentence(start, sentence, cues))
        else:  # nothing to say: its cues go to the face now
            for emotion, intensity, _ in cues:
                self._face.cue(emotion, intensity, self._now())

    async def _run(self) -> None:
        rest: _Sentence | None = None  # what is left of a sentence spoken clause by clause
        while True:
            sentence = rest if rest is not None else await self._queue.get()
            rest = None
            if sentence is None:
                return
            urgent = self._free_at - self._now() < URGENT
            cut = first_clause(sentence.text) if urgent else None
            if (cut := cut or piece_cut(sentence.text)) is not None:
                sentence, rest = sentence.split(cut)
            spoken = await self._in_lane(self._synthesize, sentence.text, urgent)
            await self._schedule(sentence, spoken)
            log.debug(
                "reply %d: sentence %d queued (%.2f s of audio, %d B; synthesis %.0f ms, encoding %.0f ms)",
                self.reply_id,
                self._sent - 1,
                spoken.speech.duration,
                len(spoken.audio),
                spoken.synth_ms,
                spoken.encode_ms,
            )

    async def _schedule(self, sentence: _Sentence, spoken: _Spoken) -> None:
        """Place the audio on the face's clock right after the previous piece, then send it."""
        speech = spoken.speech
        t0 = max(self._now() + LEAD, self._free_at)
        self._free_at = t0 + speech.duration
        self._face.visemes(t0, *spoken.visemes)
        cues = []
        for emotion, intensity, offset in sentence.cues:
            at = t0 + speech.time_at(max(0, offset - sentence.start))
            self._face.cue(emotion, intensity, at)
            cues.append(SpeechCue(emotion=emotion, intensity=intensity, t_ms=self._ms(at)))
        words = [
            SpeechWord(offset=sentence.start + off, t_ms=self._ms(t0 + a), end_ms=self._ms(t0 + b))
            for _w, a, b, off in speech.words
        ]
        index, self._sent = self._sent, self._sent + 1
        message = SpeechMessage(
            reply_id=self.reply_id,
            sentence=index,
            text_start=sentence.start,
            text_end=sentence.start + len(sentence.text),
            t_ms=self._ms(t0),
            duration_ms=round(speech.duration * 1000),
            words=words,
            cues=cues,
            audio_bytes=len(spoken.audio),
        )
        await self._send(message, encode_audio(self.reply_id, index, spoken.audio))

    async def _in_lane(self, fn: Callable[[str, bool], _Spoken], text: str, fast: bool) -> _Spoken:
        """fn in the voice pool, one at a time per session. A thread can't be stopped: a cancelled reply's
        synthesis keeps the lane until it ends, so a client interrupting itself can't pile work up."""
        await self._lane.acquire()
        try:
            future = asyncio.get_running_loop().run_in_executor(VOICE_POOL, fn, text, fast)
        except BaseException:
            self._lane.release()
            raise

        def done(f: asyncio.Future[_Spoken]) -> None:
            self._lane.release()
            if not f.cancelled():
                f.exception()  # retrieved: a cancelled reply's failed synthesis is nobody's error

        future.add_done_callback(done)
        return await asyncio.shield(future)

    def _synthesize(self, text: str, fast: bool) -> _Spoken:
        """In a worker thread: the audio, its visemes and its Ogg/Opus encoding."""
        t = time.perf_counter()
        with urgent() if fast else contextlib.nullcontext():
            speech = self._voice.synthesize(text)
        visemes = speech.visemes()  # here, not on the event loop: audio-driven ones take a while
        t_synth = time.perf_counter()
        audio = to_ogg_opus(speech.audio, speech.sample_rate, fast=fast)
        t_enc = time.perf_counter()
        return _Spoken(speech, visemes, audio, 1000 * (t_synth - t), 1000 * (t_enc - t_synth))

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
