"""Streaming emotion-tag parser: model chunks in, visible text deltas and emotion cues out.

Grammar: ``[emotion]`` or ``[emotion:0.6]`` (intensity 0..1, clipped); several tags in a row make a blend.
A tag may be split across chunks: text from a ``[`` that could still become a tag is held back until it
resolves. Brackets that are not tags (``[1]``, ``[x]``, ``[see above]``, markdown links ``[a](b)``) stay
text. A tag word with no alias is dropped from the text (the face falls back to inference).

Whitespace around a removed tag collapses to one space, and a cue's offset is the position (in Unicode
code points of the visible text) of the first character of the word it precedes.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from animation.emotions import resolve as resolve_alias

Resolver = Callable[[str], "tuple[str, float] | None"]

_TAG = re.compile(r"([A-Za-z][A-Za-z_-]{0,31})(?:\s*:\s*([0-9]*\.?[0-9]+)\s*)?")
# What a tag can look like while still incomplete (after the opening bracket).
_TAG_PREFIX = re.compile(r"[A-Za-z][A-Za-z_-]{0,31}(?:\s*:\s*[0-9]*\.?[0-9]*\s*)?")
_MAX_TAG = 48
_CLOSING_PUNCT = frozenset(".,!?;:)…")


@dataclass(frozen=True)
class Text:
    delta: str
    offset: int


@dataclass(frozen=True)
class Cue:
    emotion: str
    intensity: float
    offset: int


Event = Text | Cue


class TagParser:
    """Feed chunks with `push`, then `flush` once the stream ends. Both return events in order."""

    def __init__(self, resolve: Resolver = resolve_alias) -> None:
        self._resolve = resolve
        self._held = ""  # raw text from a "[" that may still become a tag
        self._held_ws = ""  # visible whitespace not yet emitted (dropped if a tag + punctuation follow)
        self._after_tag = False  # a tag was removed since the last visible character
        self._ws_before_tag = 0  # how much of _held_ws came before the first removed tag
        self._pending: list[tuple[str, float]] = []  # cues waiting for the next word to start
        self._visible = 0
        self._out: list[Event] = []
        self._text: list[str] = []

    @property
    def visible_length(self) -> int:
        return self._visible

    def push(self, chunk: str) -> list[Event]:
        self._scan(self._held + chunk, final=False)
        return self._drain()

    def flush(self) -> list[Event]:
        self._scan(self._held, final=True)
        self._held_ws = ""  # trailing whitespace carries nothing
        self._emit_pending_cues()
        return self._drain()

    # ------------------------------------------------------------------ internals

    def _scan(self, data: str, *, final: bool) -> None:
        self._held = ""
        i, n = 0, len(data)
        while i < n:
            c = data[i]
            if c != "[":
                self._visible_char(c)
                i += 1
                continue
            close = data.find("]", i + 1, i + 1 + _MAX_TAG)
            if close < 0:
                rest = data[i + 1 :]
                if not final and len(rest) < _MAX_TAG and (rest == "" or _TAG_PREFIX.fullmatch(rest)):
                    self._held = data[i:]
                    return
                self._visible_char(c)
                i += 1
                continue
            m = _TAG.fullmatch(data[i + 1 : close])
            if m is None:
                self._visible_char(c)
                i += 1
                continue
            if close + 1 >= n and not final:
                self._held = data[i:]  # need the next character to rule out a markdown link
                return
            if close + 1 < n and data[close + 1] == "(":
                self._visible_char(c)
                i += 1
                continue
            if not self._tag(m.group(1), m.group(2)):
                self._visible_char(c)
                i += 1
                continue
            i = close + 1

    def _tag(self, word: str, number: str | None) -> bool:
        """Handle a complete tag; False means it is ordinary bracketed text."""
        resolved = self._resolve(word)
        if resolved is None:
            # An invented emotion word is dropped; short or capitalised-acronym brackets stay text.
            if len(word) < 3 or not (word.islower() or word.istitle()):
                return False
        else:
            emotion, factor = resolved
            intensity = float(number) if number is not None else 1.0
            self._pending.append((emotion, min(1.0, max(0.0, intensity * factor))))
        if not self._after_tag:
            self._ws_before_tag = len(self._held_ws)
        self._after_tag = True
        return True

    def _visible_char(self, c: str) -> None:
        if c.isspace():
            if self._visible:  # leading whitespace of a reply carries nothing
                self._held_ws += c
            return
        ws = self._held_ws
        if self._after_tag:
            # Keep the whitespace written before the tag (a paragraph break, say), else one space after it;
            # none before closing punctuation ("great [joy]!" -> "great!").
            ws = "" if c in _CLOSING_PUNCT else (ws[: self._ws_before_tag] or ws[:1])
        if ws:
            self._append(ws)
        self._held_ws = ""
        self._after_tag = False
        self._emit_pending_cues()
        self._append(c)

    def _emit_pending_cues(self) -> None:
        if self._pending:
            self._close_text()
            for emotion, intensity in self._pending:
                self._out.append(Cue(emotion, intensity, self._visible))
            self._pending.clear()

    def _append(self, s: str) -> None:
        self._text.append(s)
        self._visible += len(s)

    def _close_text(self) -> None:
        if self._text:
            delta = "".join(self._text)
            self._out.append(Text(delta, self._visible - len(delta)))
            self._text.clear()

    def _drain(self) -> list[Event]:
        self._close_text()
        out, self._out = self._out, []
        return out
