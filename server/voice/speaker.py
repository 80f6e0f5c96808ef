"""Speaking a reply aloud: finished sentences in, in order, on the face's clock.

Each Sentence (its visible text and the cues that colour it, inference done) is synthesised in the voice
pool (emoji and the like are not spoken: the text is the visible text) in the tone of its strongest cue
(prosody.py: rate, pitch and loudness per emotion; neutral without one), its audio scheduled on the
animation clock right after the previous one, the mouth given its visemes, and each cue and gesture moved
onto the audio time of the word it precedes (one past the sentence's last word: as its audio ends; one in
a sentence with nothing to say: as the voice so far ends), with beats on its stressed words (beats.py).
A [sigh] or [laugh] the reply asks for is heard too, with an offline voice: its breath sound goes into the
audio where it is made, and the gesture, its cue and the mouth's "ha" keys with it (sounds.py); a sentence
of nothing but such a sound is spoken for it.
Out go a `speech` message (timing, words for captions, cue, gesture and beat times) and the audio itself
(Ogg/Opus, a binary `audio` message).

Order: one task per reply takes sentences from a FIFO queue and awaits each one's synthesis and send
before the next, so `sentence` numbers and `t_ms` only grow; replies share nothing but the (thread-safe)
voice, so one session's slow synthesis can delay another's but never reorder it.

Time to first audio (`python -m bench.speech`): a sentence the listener is waiting for (nothing of the
reply still sounding) is *urgent*: a long one is spoken clause by clause (pieces.py), its audio encoded in
Opus's cheaper mode, and the embedded model pauses between tokens meanwhile (server/cpu.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any

from animation.phonemes import Visemes
from server.cpu import urgent
from server.events import Sentence
from server.face import FaceHandle
from server.protocol import SpeechCue, SpeechGesture, SpeechMessage, SpeechWord
from server.protocol.frames import encode_audio
from server.voice import beats
from server.voice.cache import SpokenCache
from server.voice.encode import to_ogg_opus
from server.voice.pieces import first_clause, piece_cut, split
from server.voice.prosody import Prosody, for_cues
from server.voice.sounds import Sound, mix, wanted
from server.voice.sounds import key as sounds_key
from server.voice.speech import Stress, Voice, Word, time_at, tokens

log = logging.getLogger("mien.speech")

LEAD = 0.12  # seconds between the audio being ready and it starting: transfer and decode in the browser
URGENT = 0.3  # s: with less than this of the reply still to sound, the next sentence is urgent

# Synthesis runs here, not in asyncio's default executor: the sessions' memory, feelings and token counts
# must never wait behind voices.
VOICE_POOL = ThreadPoolExecutor(max_workers=max(2, os.cpu_count() or 2), thread_name_prefix="mien-voice")

Send = Callable[[SpeechMessage, bytes], Awaitable[None]]
Spawn = Callable[[Coroutine[Any, Any, None]], "asyncio.Task[None]"]


@dataclass(frozen=True)
class _Spoken:
    """A sentence ready to schedule: its timings, mouth and encoded audio (the samples are not kept)."""

    duration: float  # s
    words: list[Word]  # on the audio's clock
    stresses: list[Stress] | None  # on the audio's clock; None: the voice doesn't say
    visemes: Visemes  # on the audio's clock
    audio: bytes  # Ogg/Opus
    synth_ms: float
    encode_ms: float
    sounds: tuple[tuple[Sound, float], ...] = ()  # the breath sounds in the audio, each with its start (s)

    def time_at(self, offset: int, kind: str = "") -> float:
        """Audio time of a text position: the start of a breath sound made there (sounds.py; of `kind`'s
        if there is one), else by the words (speech.time_at)."""
        at = [(s.kind != kind, t) for s, t in self.sounds if s.offset == offset]
        return min(at)[1] if at else time_at(self.words, self.duration, offset)

    @property
    def nbytes(self) -> int:
        """What keeping it costs: the encoded audio, the viseme keys and the word timings."""
        v = self.visemes
        keys = v.times.nbytes + v.weights.nbytes + 64 * len(v.visemes)
        return len(self.audio) + keys + 120 * len(self.words) + 64 * len(self.stresses or ())


def spoken_cache(max_bytes: int) -> SpokenCache[_Spoken]:
    """A server's cache of spoken sentences (cache.py), `max_bytes` big (0: nothing kept)."""
    return SpokenCache(max_bytes, lambda s: s.nbytes)


class Speaker:
    """One reply's voice: `say` each finished sentence, then `finish`; `cancel` stops it at once.

    Its loop runs as a task made by `spawn` (the session's task group): it never raises but CancelledError;
    a failure to speak is kept and raised by `finish`."""

    def __init__(
        self,
        reply_id: int,
        voice: Voice,
        face: FaceHandle,
        t_start: float,
        send: Send,
        lane: asyncio.Lock | None = None,
        spawn: Spawn = asyncio.create_task,
        cache: SpokenCache[_Spoken] | None = None,
    ) -> None:
        self.reply_id = reply_id
        # The session's one synthesis at a time (held until the thread is done, even for a cancelled reply).
        self._lane = lane or asyncio.Lock()
        self.voice = voice
        self._face = face
        self._t_start = t_start  # the session's clock origin: t_ms on the wire counts from it
        self._send = send
        self._cache = cache  # sentences this server's voices have said, shared by its sessions
        self._queue: asyncio.Queue[Sentence | None] = asyncio.Queue()
        self._sent = 0  # `sentence` number of the next piece sent
        self._free_at = 0.0  # when the last scheduled sentence stops sounding
        self._error: Exception | None = None
        self._task = spawn(self._run())

    def say(self, sentence: Sentence) -> None:
        if tokens(sentence.text):
            log.debug("reply %d: sentence at %d complete", self.reply_id, sentence.start)
            self._queue.put_nowait(sentence)
            return
        # Nothing to say ("...", an emoji, a trailing tag): its cues go to the face now, its gestures in
        # turn, as what is queued before them has sounded.
        for cue in sentence.cues:
            self._face.cue(cue)
        if sentence.gestures:
            self._queue.put_nowait(replace(sentence, cues=()))

    async def finish(self) -> None:
        """Wait until every sentence has been scheduled and sent."""
        self._queue.put_nowait(None)
        await asyncio.wait([self._task])
        if self._error is not None:
            raise self._error

    async def until_silent(self) -> None:
        """Wait until the last scheduled sentence has sounded (on the animation clock)."""
        await asyncio.sleep(max(0.0, self._free_at - self._face.now()))

    async def cancel(self) -> None:
        """Stop now: nothing more is sent, the mouth stops, and nothing counts as still sounding."""
        self._task.cancel()
        await asyncio.wait([self._task])
        self._face.clear_speech()
        self._free_at = 0.0

    async def _run(self) -> None:
        try:
            await self._speak_all()
        except Exception as e:  # kept for `finish`: a voice failing never ends the session
            self._error = e

    async def _speak_all(self) -> None:
        rest: Sentence | None = None  # what is left of a sentence spoken clause by clause
        prosody = for_cues(())
        while True:
            if rest is None:  # a whole sentence: its emotion, kept for all of its pieces
                sentence = await self._queue.get()
                if sentence is None:
                    return
                if not tokens(sentence.text) and not wanted(sentence, self.voice.name):
                    # Gestures only, no breath sound among them: made as the voice so far ends.
                    for gesture in sentence.gestures:
                        self._face.gesture(gesture, max(self._face.now(), self._free_at))
                    continue
                prosody = for_cues(sentence.cues)
            else:
                sentence = rest
            rest = None
            urgent = self._free_at - self._face.now() < URGENT
            cut = first_clause(sentence.text) if urgent else None
            if (cut := cut or piece_cut(sentence.text)) is not None:
                sentence, rest = split(sentence, cut)
            spoken = await self._spoken(sentence.text, urgent, prosody, wanted(sentence, self.voice.name))
            await self._schedule(sentence, spoken)
            log.debug(
                "reply %d: sentence %d queued (%.2f s of audio, %d B; synthesis %.0f ms, encoding %.0f ms)",
                self.reply_id,
                self._sent - 1,
                spoken.duration,
                len(spoken.audio),
                spoken.synth_ms,
                spoken.encode_ms,
            )

    async def _schedule(self, sentence: Sentence, spoken: _Spoken) -> None:
        """Place the audio on the face's clock right after the previous piece, then send it."""
        t0 = max(self._face.now() + LEAD, self._free_at)
        self._free_at = t0 + spoken.duration
        self._face.visemes(t0, spoken.visemes)
        cues = []
        for cue in sentence.cues:
            at = t0 + spoken.time_at(max(0, cue.offset - sentence.start))
            self._face.cue(cue, at)
            cues.append(SpeechCue(emotion=cue.emotion, intensity=cue.intensity, t_ms=self._ms(at)))
        gestures = []  # the reply's by the cues' rule, and the beats on stressed words (beats.py)
        at = {g: spoken.time_at(max(0, g.offset - sentence.start), g.gesture) for g in sentence.gestures}
        for g, a in beats.moves(sentence, spoken.words, spoken.duration, spoken.stresses, at):
            self._face.gesture(g, t0 + a)
            gestures.append(
                SpeechGesture(
                    gesture=g.gesture,
                    intensity=g.intensity,
                    offset=g.offset,
                    source=g.source,
                    t_ms=self._ms(t0 + a),
                )
            )
        words = [
            SpeechWord(offset=sentence.start + off, t_ms=self._ms(t0 + a), end_ms=self._ms(t0 + b))
            for _w, a, b, off in spoken.words
        ]
        index, self._sent = self._sent, self._sent + 1
        message = SpeechMessage(
            reply_id=self.reply_id,
            sentence=index,
            text_start=sentence.start,
            text_end=sentence.end,
            t_ms=self._ms(t0),
            duration_ms=round(spoken.duration * 1000),
            words=words,
            cues=cues,
            gestures=gestures,
            audio_bytes=len(spoken.audio),
        )
        await self._send(message, encode_audio(self.reply_id, index, spoken.audio))

    async def _spoken(self, text: str, fast: bool, prosody: Prosody, sounds: tuple[Sound, ...]) -> _Spoken:
        """The sentence from the cache when this voice has said it (or is saying it) for anyone, else
        synthesised in the voice pool, one at a time per session. A thread can't be stopped: a cancelled
        reply's synthesis keeps the lane until it ends, so a client interrupting itself can't pile work
        up; what it made stays in the cache for the next one to ask."""
        cache = self._cache
        tag = "|".join(filter(None, (prosody.tag, sounds_key(sounds))))  # a laugh is other audio
        key = SpokenCache.key(self.voice.name, text, tag) if cache is not None else None
        if cache is not None and key is not None and (made := cache.get(key)) is not None:
            return await asyncio.shield(made)
        await self._lane.acquire()
        if cache is not None and key is not None and (made := cache.get(key)) is not None:
            self._lane.release()  # someone else started it while this session waited for its lane
            return await asyncio.shield(made)
        try:
            loop = asyncio.get_running_loop()
            future = loop.run_in_executor(VOICE_POOL, self._synthesize, text, fast, prosody, sounds)
        except BaseException:
            self._lane.release()
            raise

        def done(f: asyncio.Future[_Spoken]) -> None:
            self._lane.release()
            if not f.cancelled():
                f.exception()  # retrieved: a cancelled reply's failed synthesis is nobody's error

        future.add_done_callback(done)
        if cache is not None and key is not None:
            cache.put(key, future)
        return await asyncio.shield(future)

    def _synthesize(self, text: str, fast: bool, prosody: Prosody, sounds: tuple[Sound, ...]) -> _Spoken:
        """In a worker thread: the audio (with its breath sounds), its visemes and its Ogg/Opus encoding."""
        t = time.perf_counter()
        with urgent() if fast else contextlib.nullcontext():
            speech, made = mix(self.voice.synthesize(text, prosody), sounds, self.voice.name)
        visemes = speech.visemes()  # here, not on the event loop: audio-driven ones take a while
        t_synth = time.perf_counter()
        audio = to_ogg_opus(speech.audio, speech.sample_rate, fast=fast)
        t_enc = time.perf_counter()
        synth_ms, encode_ms = 1000 * (t_synth - t), 1000 * (t_enc - t_synth)
        timings = (speech.duration, speech.words, speech.stresses, visemes)
        return _Spoken(*timings, audio, synth_ms, encode_ms, tuple(made))

    def _ms(self, t: float) -> int:
        return max(0, round((t - self._t_start) * 1000))
