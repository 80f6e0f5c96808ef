"""Speech out: finished sentences -> audio with word and phoneme timing -> the face's mouth and the wire.

specs.py     the voice spec grammar (`piper:rate=1.1`, `espeak:en-us+f3`, `litellm:MODEL:VOICE`)
registry.py  the one place a voice is chosen and loaded (once per spec, shared by every session)
speech.py    what every voice gives (Speech) and the Voice interface
prosody.py   each sentence's emotion as rate, pitch and loudness (data/prosody.toml), for every engine
piper.py, words.py, espeak.py, cloud.py   the engines
pieces.py, encode.py, speaker.py          one reply's sentences -> timed audio messages
beats.py     the brow raise and head dip on stressed words (data/beats.toml), and every gesture's audio time
breath.py, sounds.py   the [sigh] and [laugh] breath sounds (data/breath.toml), and where they go in the audio
"""

from server.voice.registry import CloudEndpoint, Voices
from server.voice.specs import VoiceSpec, check, parse_voice
from server.voice.speech import Speech, Voice, VoiceFailed, VoiceUnavailable, billed_tokens

__all__ = [
    "CloudEndpoint",
    "Speech",
    "Voice",
    "VoiceFailed",
    "VoiceSpec",
    "VoiceUnavailable",
    "Voices",
    "billed_tokens",
    "check",
    "parse_voice",
]
