"""Streaming emotion-tag parser: model chunks in, visible text deltas, emotion cues and gestures out.

Grammar (documented in docs/protocol.md):
- tags ``[emotion]`` / ``[emotion:0.6]`` (intensity 0..1, clipped); several in a row make a blend;
- stage directions ``*smiles*``, ``*laughs softly*``, ``(sighs)`` whose words name an emotion through the
  alias table, or a plain gesture (``*nods*``), and emoji from ``server/reply/data/stage.toml``;
- gestures in the same grammar: ``[nod]``, ``[shake:0.5]``, ``*shakes head*``, ``*rolls eyes*`` (names and
  aliases in ``animation/data/gestures.toml``). A word that is both (``[laugh]``, ``*sighs*``) gives the
  emotion's cue and the gesture.
All of these become cues, gestures (or nothing) and leave the visible text. Text inside backtick code
spans and fences is never touched. Brackets that are not tags (``[1]``, ``[x]``, ``[see above]``, links
``[a](b)``), emphasis (``*really*``) and asides (``(see above)``) stay text. A tag word with no alias
(emotion or gesture) is dropped from the text (the face falls back to inference).

Anything that could still become a tag, direction or code fence is held back until it resolves, so a
split across chunks parses exactly like the whole. Whitespace around removed text collapses to one space,
and a cue's offset is the position (Unicode code points of the visible text) of the word it precedes.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Literal

from animation.emotions import resolve as resolve_alias
from animation.gestures import resolve as resolve_gesture
from server.events import Cue, Gesture, Text

Resolver = Callable[[str], "tuple[str, float] | None"]
CueSource = Literal["tag", "stage"]
# Stage directions are a model's aside rather than an instruction: a little less certain than a tag.
CONFIDENCE: dict[CueSource, float] = {"tag": 1.0, "stage": 0.8}

_STAGE_DATA = tomllib.loads((Path(__file__).parent / "data" / "stage.toml").read_text())
ACTIONS: frozenset[str] = frozenset(_STAGE_DATA["actions"]["words"])
EMOJI: dict[str, tuple[str, float]] = {k: (v[0], float(v[1])) for k, v in _STAGE_DATA["emoji"].items()}
# Presentation selectors and skin tones that trail an emoji.
_EMOJI_MODIFIERS = frozenset(["\ufe0f", "\ufe0e", *map(chr, range(0x1F3FB, 0x1F400))])

_TAG = re.compile(r"([A-Za-z][A-Za-z_-]{0,31})(?:\s*:\s*([0-9]*\.?[0-9]+)\s*)?")
_TAG_PREFIX = re.compile(r"[A-Za-z][A-Za-z_-]{0,31}(?:\s*:\s*[0-9]*\.?[0-9]*\s*)?")
_STAGE = re.compile(r"[a-z][a-z'-]*(?: [a-z][a-z'-]*){0,5}")
_STAGE_PREFIX = re.compile(r"[a-z][a-z' -]*")
_MAX_TAG = 48
_CLOSING_PUNCT = frozenset(".,!?;:)…")
_STAGE_CLOSER = {"*": "*", "(": ")"}


Event = Text | Cue | Gesture


class TagParser:
    """Feed chunks with `push`, then `flush` once the stream ends. Both return events in order."""

    def __init__(self, resolve: Resolver = resolve_alias) -> None:
        self._resolve = resolve
        self._held = ""  # raw text that may still become a tag, direction or fence
        self._held_ws = ""  # whitespace not yet emitted (dropped if removed text + punctuation follow)
        self._after_tag = False  # something was removed since the last visible character
        self._ws_before_tag = 0  # how much of _held_ws came before the first removed item
        self._code = 0  # length of the backtick run that opened the current code span (0: not in code)
        self._skip_modifiers = False  # drop the selectors trailing a removed emoji
        self._pending: list[tuple[str, float, CueSource]] = []  # cues waiting for the next word
        self._gestures: list[tuple[str, float, CueSource]] = []  # and gestures
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

    # ------------------------------------------------------------------ scanning

    def _scan(self, data: str, *, final: bool) -> None:
        self._held = ""
        i, n = 0, len(data)
        while i < n:
            c = data[i]
            if self._skip_modifiers and c in _EMOJI_MODIFIERS:
                i += 1
                continue
            self._skip_modifiers = False
            if c == "`":
                run = len(data) - i - len(data[i:].lstrip("`"))
                if i + run >= n and not final:
                    self._held = data[i:]  # the run may continue in the next chunk
                    return
                self._backticks(run)
                i += run
                continue
            if self._code:
                self._visible_char(c)
                i += 1
                continue
            step = self._special(data, i, final)
            if step is None:
                self._held = data[i:]
                return
            if step == 0:
                self._visible_char(c)
                i += 1
            else:
                i += step

    def _special(self, data: str, i: int, final: bool) -> int | None:
        """Consume a tag, direction or emoji at i: chars consumed, 0 if plain text, None to hold back."""
        c = data[i]
        if c == "[":
            return self._bracket(data, i, final)
        if c in _STAGE_CLOSER:
            return self._stage(data, i, final)
        if c in EMOJI:
            emotion, intensity = EMOJI[c]
            self._removed(emotion, intensity, "stage")
            self._skip_modifiers = True
            return 1
        return 0

    def _bracket(self, data: str, i: int, final: bool) -> int | None:
        n = len(data)
        close = data.find("]", i + 1, i + 1 + _MAX_TAG)
        if close < 0:
            rest = data[i + 1 :]
            if not final and len(rest) < _MAX_TAG and (rest == "" or _TAG_PREFIX.fullmatch(rest)):
                return None
            return 0
        m = _TAG.fullmatch(data[i + 1 : close])
        if m is None:
            return 0
        if close + 1 >= n and not final:
            return None  # need the next character to rule out a markdown link
        if close + 1 < n and data[close + 1] == "(":
            return 0
        word, number = m.group(1), m.group(2)
        resolved = self._resolve(word)
        gesture = resolve_gesture(word)
        if gesture is not None:
            self._gestures.append((gesture, _unit(float(number) if number is not None else 1.0), "tag"))
        if resolved is None and gesture is not None:
            self._removed(None, 0.0, "tag")
        elif resolved is None:
            # An invented emotion word is dropped; short or acronym-like brackets stay text.
            if len(word) < 3 or not (word.islower() or word.istitle()):
                return 0
            self._removed(None, 0.0, "tag")
        else:
            emotion, factor = resolved
            intensity = float(number) if number is not None else 1.0
            self._removed(emotion, intensity * factor, "tag")
        return close + 1 - i

    def _stage(self, data: str, i: int, final: bool) -> int | None:
        opener = data[i]
        n = len(data)
        if opener == "*" and i + 1 < n and data[i + 1] in "* \t\n":
            return 0  # bold, a bullet, or multiplication
        close = data.find(_STAGE_CLOSER[opener], i + 1, i + 1 + _MAX_TAG)
        if close < 0:
            rest = data[i + 1 :]
            if not final and len(rest) < _MAX_TAG and (rest == "" or _STAGE_PREFIX.fullmatch(rest)):
                return None
            return 0
        words = data[i + 1 : close]
        if not _STAGE.fullmatch(words):
            return 0
        # Directions start with a verb ("smiles warmly", "laughing", "excited"); an aside that starts with
        # an adjective ("(happy to help)") or emphasis ("*really*") is ordinary text.
        verb = words.split()[0]
        resolved = self._resolve(verb) if verb.endswith(("s", "ing", "ed")) else None
        gesture = resolve_gesture(verb) or resolve_gesture("-".join(words.split()[:2]))
        if gesture is not None:
            self._gestures.append((gesture, 1.0, "stage"))
        if resolved is not None:
            self._removed(resolved[0], resolved[1], "stage")
        elif verb in ACTIONS or gesture is not None:
            self._removed(None, 0.0, "stage")
        else:
            return 0
        return close + 1 - i

    def _backticks(self, run: int) -> None:
        if not self._code:
            self._code = run
        elif run == self._code or (self._code >= 3 and run >= self._code):
            self._code = 0
        for _ in range(run):
            self._visible_char("`")

    # ------------------------------------------------------------------ output

    def _removed(self, emotion: str | None, intensity: float, source: CueSource) -> None:
        if emotion is not None:
            self._pending.append((emotion, _unit(intensity), source))
        if not self._after_tag:
            self._ws_before_tag = len(self._held_ws)
        self._after_tag = True

    def _visible_char(self, c: str) -> None:
        if c.isspace():
            if self._visible:  # leading whitespace of a reply carries nothing
                self._held_ws += c
            return
        ws = self._held_ws
        if self._after_tag:
            # Keep the whitespace written before the removed text (a paragraph break, say), else one
            # space after it; none before closing punctuation ("great [joy]!" -> "great!").
            ws = "" if c in _CLOSING_PUNCT else (ws[: self._ws_before_tag] or ws[:1])
        if ws:
            self._append(ws)
        self._held_ws = ""
        self._after_tag = False
        self._emit_pending_cues()
        self._append(c)

    def _emit_pending_cues(self) -> None:
        if self._pending or self._gestures:
            self._close_text()
            for emotion, intensity, source in self._pending:
                self._out.append(Cue(emotion, intensity, self._visible, source, CONFIDENCE[source]))
            for gesture, intensity, source in self._gestures:
                self._out.append(Gesture(gesture, self._visible, intensity, source))
            self._pending.clear()
            self._gestures.clear()

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


def _unit(x: float) -> float:
    return min(1.0, max(0.0, x))
