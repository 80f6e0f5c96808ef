"""A cloud voice: litellm's speech API (OpenAI-compatible `/v1/audio/speech`), one request per sentence.

The provider sends audio and nothing else, so the rest is found here, in the worker thread that asked:
the audio is decoded by soundfile (wav, flac, mp3 or Ogg/Opus), the mouth's viseme keys come from the
audio itself (`animation.lipsync`), and word times are an ESTIMATE: the sentence's characters are
spread evenly over its voiced stretch, pauses skipped (`estimate_words`). Good enough for captions and
for an emotion cue to land near its word; not phoneme-accurate like Piper's.

A sentence's emotion (prosody.py) goes as the provider's own controls: `speed` (times the persona's rate),
or, for models that take `instructions` (gpt-4o-mini-tts), a short style instruction instead.

A provider error, a timeout or audio that won't decode raises VoiceFailed. `Fallback` wraps a cloud
voice for one session: the failure is reported (a `voice_failed` error to the client), the sentence is
spoken by the offline voice instead, and the offline voice keeps speaking for COOLDOWN seconds, so a
provider that is down costs one timeout, not one per sentence. The reply's text is never affected.

litellm is reached through the gateway (`server.llm.speech`), on the first sentence, in the worker thread.
"""

from __future__ import annotations

import io
import itertools
import re
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np

from animation.phonemes import Visemes
from server import llm
from server.voice.prosody import NEUTRAL, Prosody
from server.voice.specs import VoiceSpec
from server.voice.speech import Speech, Voice, VoiceFailed, VoiceUnavailable, Word, tokens

NOMINAL_RATE = 24_000  # what OpenAI's voices send; each Speech carries the rate actually decoded
COOLDOWN = 30.0  # s the offline voice stands in after a cloud failure


class CloudVoice:
    def __init__(self, spec: VoiceSpec, api_base: str | None, api_key: str | None, timeout: float) -> None:
        assert spec.cloud and spec.model and spec.name, spec
        self.spec = spec
        self.name = str(spec)
        self.sample_rate = NOMINAL_RATE
        # Like the LLM: with an api_base, a bare model name means an OpenAI-compatible server.
        self._model = f"openai/{spec.model}" if api_base and "/" not in spec.model else spec.model
        self._api_base = api_base
        self._api_key = api_key
        self._timeout = timeout

    def synthesize(self, text: str, prosody: Prosody = NEUTRAL) -> Speech:
        if not tokens(text):  # nothing to say: no request
            return Speech(text, np.zeros(0, np.float32), self.sample_rate)
        audio, rate = decode(self._request(text, prosody))
        from animation.lipsync import lipsync

        keys = lipsync(audio, rate)
        return Speech(text, audio, rate, [], estimate_words(text, keys, len(audio) / rate), keys)

    def stream(self, text: str, prosody: Prosody = NEUTRAL) -> Iterator[Speech]:
        yield self.synthesize(text, prosody)  # one request per call: the speaker already sends sentences

    @property
    def instructed(self) -> bool:
        """Whether the model takes `instructions` (OpenAI's gpt-4o-mini-tts and its kin), which then carry
        the emotion; the others get it as `speed` only (OpenAI: speed does nothing for these models)."""
        return "gpt-4o" in self._model.rsplit("/", 1)[-1]

    def _request(self, text: str, prosody: Prosody = NEUTRAL) -> bytes:
        options: dict[str, object] = {
            "response_format": self.spec.format,
            "timeout": self._timeout,
            "max_retries": 0,  # a failed sentence falls back at once (Fallback); retrying would stall speech
        }
        speed = self.spec.rate if self.instructed else self.spec.rate * prosody.rate
        if round(speed, 3) != 1.0:
            options["speed"] = round(min(4.0, max(0.25, speed)), 3)
        if self.instructed and (instruction := prosody.instruction()):
            options["instructions"] = instruction
        if self._api_base:
            options["api_key"] = (
                self._api_key or "not-needed"
            )  # local servers ignore it; the client needs one
        elif self._api_key:
            options["api_key"] = self._api_key
        try:
            return llm.speech(self._model, text, str(self.spec.name), api_base=self._api_base, **options)
        except Exception as e:  # litellm maps every provider's errors to its own types; all mean "failed"
            raise VoiceFailed(llm.describe(e, "voice provider")) from e


def decode(data: bytes) -> tuple[np.ndarray, int]:
    """Audio bytes in any format libsndfile reads -> (mono float32, sample rate); VoiceFailed if none."""
    import soundfile as sf

    try:
        audio, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
    except (RuntimeError, TypeError, ValueError) as e:  # sf.LibsndfileError is a RuntimeError
        raise VoiceFailed(f"the voice provider's audio can't be decoded ({len(data)} bytes): {e}") from e
    if not len(audio):
        raise VoiceFailed("the voice provider sent no audio")
    return np.ascontiguousarray(audio.mean(axis=1), np.float32), int(rate)


def estimate_words(text: str, keys: Visemes, duration: float) -> list[Word]:
    """(word, start, end, offset) for audio with no timings, estimated: the voiced stretches between the
    pauses the keys found ("sil" runs) are matched with the text's clauses (split at , ; : . ! ? and
    dashes) when they are as many; otherwise the whole text is one clause spread over all of them. In a
    clause, characters are spread evenly over its voiced time."""
    words = tokens(text)
    if not words or duration <= 0:
        return []
    ends = np.append(np.asarray(keys.times, np.float64)[1:], duration)
    runs: list[tuple[float, float]] = []
    for name, a, b in zip(keys.visemes, keys.times, np.minimum(ends, duration), strict=True):
        if name == "sil" or b <= a:
            continue
        if runs and a <= runs[-1][1] + 1e-9:  # consecutive visemes: one voiced stretch
            runs[-1] = (runs[-1][0], float(b))
        else:
            runs.append((float(a), float(b)))
    runs = runs or [(0.0, duration)]
    clauses: list[list[tuple[str, int]]] = [[words[0]]]
    for prev, word in itertools.pairwise(words):
        between = text[prev[1] + len(prev[0]) : word[1]]
        if _BREAK.search(between):
            clauses.append([])
        clauses[-1].append(word)
    if len(clauses) != len(runs):
        clauses = [words]
    return [w for clause, stretch in _pair(clauses, runs) for w in _spread(clause, stretch)]


_BREAK = re.compile(r"[,;:.!?…—–]|\s-\s")


def _pair(
    clauses: list[list[tuple[str, int]]], runs: list[tuple[float, float]]
) -> list[tuple[list[tuple[str, int]], list[tuple[float, float]]]]:
    """Each clause with its voiced stretch, or the one clause with all of them."""
    if len(clauses) == len(runs):
        return [(c, [r]) for c, r in zip(clauses, runs, strict=True)]
    return [(clauses[0], runs)]


def _spread(words: list[tuple[str, int]], runs: list[tuple[float, float]]) -> list[Word]:
    """Characters spread evenly over the voiced time of runs (flat across the pauses between them)."""
    lengths = np.array([b - a for a, b in runs])
    acc = np.concatenate([[0.0], np.cumsum(lengths)])
    xp = np.repeat(acc, 2)[1:-1]  # voiced time so far 0, L1, L1, L1+L2, ... -> audio time a1, b1, a2, b2
    fp = np.array([t for a, b in runs for t in (a, b)])
    c0, c1 = words[0][1], words[-1][1] + len(words[-1][0])
    per = acc[-1] / max(1, c1 - c0)

    def at(chars: int) -> float:
        return float(np.interp((chars - c0) * per, xp, fp))

    return [(w, at(o), at(o + len(w)), o) for w, o in words]


class Fallback:
    """One session's cloud voice, with the offline voice standing in when the cloud fails (see the
    module docstring). `report(message)` is called from the worker thread."""

    def __init__(
        self,
        cloud: Voice,
        offline: Callable[[], Voice],
        report: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = cloud.name
        self.sample_rate = cloud.sample_rate
        self._cloud = cloud
        self._offline = offline
        self._report = report
        self._clock = clock
        self._down_until = float("-inf")
        self._lock = threading.Lock()

    def synthesize(self, text: str, prosody: Prosody = NEUTRAL) -> Speech:
        with self._lock:
            down = self._clock() < self._down_until
        if not down:
            try:
                return self._cloud.synthesize(text, prosody)
            except VoiceFailed as e:
                with self._lock:
                    self._down_until = self._clock() + COOLDOWN
                failure: VoiceFailed | None = e
        else:
            failure = None
        try:
            voice = self._offline()
        except VoiceUnavailable as e:
            if failure is not None:
                self._report(f"{self.name}: {failure}; no offline voice stands in ({e}), so it is not spoken")
            return Speech(text, np.zeros(0, np.float32), self.sample_rate)
        if failure is not None:
            self._report(f"{self.name}: {failure}; {voice.name} speaks instead for {COOLDOWN:g} s")
        return voice.synthesize(text, prosody)

    def stream(self, text: str, prosody: Prosody = NEUTRAL) -> Iterator[Speech]:
        yield self.synthesize(text, prosody)
