"""The fallback voice: Debian's libespeak-ng through ctypes, with its own word and phoneme events.

Robotic next to Piper, but tiny and always timed: espeak-ng's synth callback reports every word (its
character position in the text) and every phoneme (IPA) with the audio position (ms) where it starts.
Needs the Debian packages libespeak-ng1 and espeak-ng-data. espeak-ng keeps global state, so one
process-wide lock serialises synthesis. A sentence's emotion (prosody.py) sets espeak-ng's rate and pitch
parameters (its events then time the changed audio) and scales the samples for its loudness.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import threading
from collections.abc import Iterator

import numpy as np

from animation import phonemes as ph
from server.voice.prosody import NEUTRAL, Prosody, louder
from server.voice.speech import Speech, VoiceUnavailable, Word, tokens

_SYNCHRONOUS = 2  # AUDIO_OUTPUT_SYNCHRONOUS: espeak_Synth returns when the callback has had everything
_PHONEME_EVENTS, _PHONEME_IPA, _DONT_EXIT = 0x0001, 0x0002, 0x8000
_POS_CHARACTER, _CHARS_UTF8 = 1, 1
_WORD, _PHONEME, _END = 1, 7, 6  # espeakEVENT_WORD, espeakEVENT_PHONEME, espeakEVENT_MSG_TERMINATED
_RATE, _WPM = 1, 175  # espeakRATE and its default, words per minute
_PITCH, _PITCH_50 = 3, 50  # espeakPITCH (0-100) and its default: the voice's own pitch
_PITCH_STEP = 10 / math.log(1.1)  # measured (pyworld DIO, en-us): +10 on the scale raises F0 ~10 %


class _Id(ctypes.Union):
    _fields_ = (("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8))


class _Event(ctypes.Structure):
    _fields_ = (
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),  # 1-based, in characters
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),  # ms from the start of this synthesis
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _Id),
    )


_CALLBACK = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)
_LOCK = threading.Lock()
_LIB: tuple[ctypes.CDLL, int] | None = None


def _library() -> tuple[ctypes.CDLL, int]:
    """(libespeak-ng, sample rate), initialised once per process."""
    global _LIB
    if _LIB is None:
        path = ctypes.util.find_library("espeak-ng") or "libespeak-ng.so.1"
        try:
            lib = ctypes.CDLL(path)
        except OSError as e:
            raise VoiceUnavailable(
                f"libespeak-ng not found (Debian: apt-get install libespeak-ng1): {e}"
            ) from e
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int)
        c = ctypes
        lib.espeak_Synth.argtypes = (
            c.c_void_p,
            c.c_size_t,
            c.c_uint,
            c.c_int,
            c.c_uint,
            c.c_uint,
            c.c_void_p,
            c.c_void_p,
        )
        lib.espeak_SetSynthCallback.argtypes = (_CALLBACK,)
        lib.espeak_SetVoiceByName.argtypes = (ctypes.c_char_p,)
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int)
        rate = lib.espeak_Initialize(_SYNCHRONOUS, 0, None, _PHONEME_EVENTS | _PHONEME_IPA | _DONT_EXIT)
        if rate <= 0:
            raise VoiceUnavailable("espeak-ng failed to initialise (is espeak-ng-data installed?)")
        _LIB = (lib, rate)
    return _LIB


class EspeakVoice:
    """espeak-ng speaking `voice` (a language, optionally with a variant: en-us, en-gb+f3) at `rate`
    times its normal 175 words per minute."""

    def __init__(self, voice: str = "en-us", rate: float = 1.0) -> None:
        self._lib, self.sample_rate = _library()
        self._voice = voice.encode()
        self._rate = round(_WPM * rate)
        self.name = (
            "espeak"
            if voice == "en-us" and rate == 1.0
            else f"espeak:{voice}" + (f":rate={rate:g}" if rate != 1.0 else "")
        )
        with _LOCK:
            if self._lib.espeak_SetVoiceByName(self._voice) != 0:  # EE_OK
                raise VoiceUnavailable(f"espeak-ng has no voice {voice!r} (espeak-ng --voices lists them)")

    def synthesize(self, text: str, prosody: Prosody = NEUTRAL) -> Speech:
        chunks: list[np.ndarray] = []
        events: list[tuple[int, int, int, int, str]] = []  # (type, ms, text position, length, phoneme)

        def collect(wav: ctypes._Pointer, n: int, ev: ctypes._Pointer) -> int:
            if n > 0:
                chunks.append(np.ctypeslib.as_array(wav, (n,)).copy())
            i = 0
            while ev[i].type != 0:  # espeakEVENT_LIST_TERMINATED
                e = ev[i]
                if e.type in (_WORD, _PHONEME):
                    name = (
                        bytes(e.id.string).split(b"\0")[0].decode("utf-8", "replace")
                        if e.type == _PHONEME
                        else ""
                    )
                    events.append((e.type, e.audio_position, e.text_position, e.length, name))
                i += 1
            return 0

        callback = _CALLBACK(collect)  # kept referenced until espeak_Synth returns
        data = text.encode("utf-8") + b"\0"
        with _LOCK:
            self._lib.espeak_SetVoiceByName(self._voice)  # the state is global: set ours every time
            self._lib.espeak_SetParameter(_RATE, round(self._rate * prosody.rate), 0)
            pitch = _PITCH_50 + _PITCH_STEP * math.log(prosody.pitch)
            self._lib.espeak_SetParameter(_PITCH, min(100, max(0, round(pitch))), 0)
            self._lib.espeak_SetSynthCallback(callback)
            self._lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8, None, None)
        audio = (np.concatenate(chunks).astype(np.float32) / 32768.0) if chunks else np.zeros(0, np.float32)
        audio = louder(audio, prosody.gain_db)
        duration = len(audio) / self.sample_rate
        if not len(audio):
            return Speech(text, audio, self.sample_rate)
        return Speech(
            text, audio, self.sample_rate, _phonemes(events, duration), _words(text, events, duration)
        )

    def stream(self, text: str, prosody: Prosody = NEUTRAL) -> Iterator[Speech]:
        yield self.synthesize(text, prosody)  # ~50x faster than real time: one piece is soon enough


def _phonemes(events: list[tuple[int, int, int, int, str]], duration: float) -> list[ph.Segment]:
    """Phoneme events -> segments tiling [0, duration] (a pause before the first one, if any)."""
    marks = [(ms / 1000.0, name or ph.PAUSE) for kind, ms, _, _, name in events if kind == _PHONEME]
    marks = [(min(t, duration), name) for t, name in marks]
    if not marks or marks[0][0] > 0.0:
        marks.insert(0, (0.0, ph.PAUSE))
    raw = [(name, t, nxt) for (t, name), (nxt, _) in zip(marks, [*marks[1:], (duration, "")], strict=True)]
    return ph.tidy([(n if n.strip() else ph.PAUSE, a, b) for n, a, b in raw if b > a])


def _words(text: str, events: list[tuple[int, int, int, int, str]], duration: float) -> list[Word]:
    """Word events -> (word, start, end, offset): each of our tokens takes the time of the espeak word
    it falls in (espeak counts characters from 1); a word ends where the next one starts."""
    spoken = sorted((pos - 1, length, ms / 1000.0) for kind, ms, pos, length, _ in events if kind == _WORD)
    out: list[Word] = []
    for word, offset in tokens(text):
        hit = [t for pos, length, t in spoken if pos <= offset < pos + max(length, 1)]
        if hit:
            out.append((word, min(hit[0], duration), duration, offset))
    for k in range(len(out) - 1):
        w, start, _, offset = out[k]
        out[k] = (w, start, max(start, out[k + 1][1]), offset)
    return out
