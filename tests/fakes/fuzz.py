"""A hostile-input fuzzer for the websocket protocol (tests/server/test_fuzz.py runs it).

Cases come from the protocol's own definition: `schema_strategy` walks the JSON Schema of CLIENT_ADAPTER (a
message type added to the union is fuzzed without touching this file), and `cases` mutates what it draws:
wrong types, NaN and ±Infinity, huge numbers, unknown and missing fields, odd unicode (lone surrogates as
JSON escapes), deep nesting, giant strings, truncated or broken JSON, unknown types, binary junk, and bursts
of order-sensitive messages (stop with no reply, export before anything, the voice toggled, replies cut).

`expect` is the oracle: what docs/protocol.md promises for one websocket message, worked out from the same
schema by a validator of its own (not pydantic's) and from the names and limits the server's `hello`
announces. `Fuzzer.run` sends a batch pipelined over one session, a marker after every case (a
`set_emotion` whose echo closes the case's reply), and checks each case's reply, every reply's transcript
and every server message against the server's schema.

(hypothesis-jsonschema 0.23.1, the newest, calls hypothesis internals that hypothesis 6.170 no longer has,
hence the schema walk here.)
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
import math
import os
import re
import struct
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import websockets
from hypothesis import strategies as st

from server.protocol import CLIENT_ADAPTER, SERVER_ADAPTER

TIMEOUT = 30.0  # a hung server fails the test instead of hanging the suite (a guard, not a measurement)
DEEP = 500  # nesting from which a parser's stack may give out first: `bad_json` is then documented too
FLOAT_MAX = 1.7976931348623157e308
SPOKEN_MAX = 300  # letters a long text may repeat: the voice speaks ~10 ms of CPU per letter on 2 cores

# ------------------------------------------------------------------ what the server announces


@dataclass(frozen=True)
class Catalog:
    """The client messages' schema (one object schema per `type`, `type` required) and what `hello` says."""

    variants: dict[str, dict[str, Any]]
    defs: dict[str, Any]
    emotions: tuple[str, ...]
    controls: dict[str, dict[str, Any]]  # name -> hello.controls entry (minimum, maximum, step)
    max_message_bytes: int
    max_text_chars: int
    fps: float

    @classmethod
    def from_hello(cls, hello: dict[str, Any]) -> Catalog:
        schema = CLIENT_ADAPTER.json_schema()
        defs = schema.get("$defs", {})
        variants = {}
        for ref in schema["oneOf"]:
            variant = dict(_resolve(ref, defs))
            variant["required"] = sorted({*variant.get("required", ()), "type"})
            variants[variant["properties"]["type"]["const"]] = variant
        return cls(
            variants=variants,
            defs=defs,
            emotions=tuple(hello["emotions"]),
            controls={c["name"]: c for c in hello["controls"]},
            max_message_bytes=hello["limits"]["max_message_bytes"],
            max_text_chars=hello["limits"]["max_text_chars"],
            fps=hello["fps"],
        )


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[-1]]
    return schema


# ------------------------------------------------------------------ the schema, walked for generation

_ANNOTATIONS = {"title", "description", "default", "examples", "$ref"}
_KEYWORDS = {
    "object": {"type", "properties", "required", "additionalProperties"},
    "string": {"type", "minLength", "maxLength", "const", "enum"},
    "number": {"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
    "integer": {"type", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"},
    "boolean": {"type"},
    "null": {"type"},
    "array": {"type", "items", "minItems", "maxItems"},
    None: {"anyOf", "oneOf", "const", "enum"},
}
SAMPLE_TEXTS = (
    "hi",
    "[joy] Welcome back! [surprise:0.5] You look different.",
    "*smiles warmly* That's (laughs) great 😀",
    "[happyish] [1] [see above] `[joy]` [x](y)",
    "😭🤔😀",
    "Hello, I just got great news!",
)
FILL = ("a", " ", "é", "😀", "[joy]", "\x00")


def schema_strategy(schema: dict[str, Any], cat: Catalog, name: str = "") -> st.SearchStrategy[Any]:
    """Values valid for `schema` (the subset pydantic emits); a keyword it does not know fails loudly, so a
    schema feature added to the protocol is noticed here rather than silently left unfuzzed."""
    schema = _resolve(schema, cat.defs)
    kind = schema.get("type")
    unknown = set(schema) - _ANNOTATIONS - _KEYWORDS[None] - _KEYWORDS.get(kind, set())
    if unknown or isinstance(kind, list):
        raise NotImplementedError(f"the fuzzer cannot generate {sorted(unknown) or kind} ({schema})")
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema or "oneOf" in schema:
        return st.one_of([schema_strategy(s, cat, name) for s in schema.get("anyOf", schema.get("oneOf"))])
    hint = _hints(cat).get(name)
    base = _typed(schema, kind, cat)
    return base if hint is None else st.one_of(st.sampled_from(hint), base)


def _hints(cat: Catalog) -> dict[str, tuple[Any, ...]]:
    """Field names the docs give meaning to: values from `hello`, so that most draws pass the name checks."""
    return {"emotion": cat.emotions, "name": tuple(cat.controls), "text": SAMPLE_TEXTS}


def _typed(schema: dict[str, Any], kind: str | None, cat: Catalog) -> st.SearchStrategy[Any]:
    if kind == "object":
        props = schema.get("properties", {})
        required = set(schema.get("required", ()))
        strategies = {k: schema_strategy(v, cat, k) for k, v in props.items()}
        return st.fixed_dictionaries(
            {k: s for k, s in strategies.items() if k in required},
            optional={k: s for k, s in strategies.items() if k not in required},
        )
    if kind == "string":
        lo, hi = schema.get("minLength", 0), schema.get("maxLength", 100_000)
        short = st.text(min_size=lo, max_size=min(hi, max(lo, 12)))
        if hi <= 12:
            return short
        long = st.builds(_repeat, st.sampled_from(FILL), st.integers(max(lo, 1), hi), st.just(lo))
        return st.one_of(short, long)
    if kind in ("number", "integer"):
        lo = schema.get("minimum", schema.get("exclusiveMinimum"))
        hi = schema.get("maximum", schema.get("exclusiveMaximum"))
        floats = st.floats(
            lo if lo is not None else -3.0,
            hi if hi is not None else 12.0,  # unbounded (set_control's value): around the controls' ranges
            exclude_min="exclusiveMinimum" in schema,
            exclude_max="exclusiveMaximum" in schema,
        )
        ints = st.integers(
            None if lo is None else math.floor(lo) + 1 if "exclusiveMinimum" in schema else math.ceil(lo),
            None if hi is None else math.ceil(hi) - 1 if "exclusiveMaximum" in schema else math.floor(hi),
        )
        return ints if kind == "integer" else st.one_of(floats, ints, st.floats(lo, hi))
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    if kind == "array":
        return st.lists(
            schema_strategy(schema.get("items", {}), cat),
            min_size=schema.get("minItems", 0),
            max_size=min(schema.get("maxItems", 4), 4),
        )
    raise NotImplementedError(f"the fuzzer cannot generate {schema}")


def _repeat(fill: str, n: int, least: int) -> str:
    """`n` characters of `fill` repeated; letters (which the voice would speak) at most SPOKEN_MAX."""
    n = max(least, min(n, SPOKEN_MAX)) if fill.isalpha() else n
    return (fill * n)[:n]


# ------------------------------------------------------------------ cases


@dataclass(frozen=True)
class Case:
    """One or more websocket messages sent back to back (then a marker). `settle`: the harness waits for the
    reply this case starts to end before sending more, so replies also run to completion."""

    label: str
    sends: tuple[str | bytes, ...]
    settle: bool = False

    def __repr__(self) -> str:
        sends = ", ".join(python_expr(s) for s in self.sends)
        return f"Case({self.label!r}, ({sends},){', settle=True' if self.settle else ''})"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis's report: the folded repr
        printer.text(repr(self))


def python_expr(s: str | bytes) -> str:
    """An exact Python expression for `s` with repeats folded (`'[' * 5000 + ']' * 5000`): a giant payload
    stays a readable reproduction."""
    repeat = rb"(.{1,12}?)\1{7,}" if isinstance(s, bytes) else r"(.{1,12}?)\1{7,}"
    out: list[str] = []
    last = 0
    for m in re.finditer(repeat, s, re.S):
        if m.start() > last:
            out.append(repr(s[last : m.start()]))
        unit = m.group(1)
        out.append(f"{unit!r} * {len(m.group(0)) // len(unit)}")
        last = m.end()
    if last < len(s) or not out:
        out.append(repr(s[last:]))
    return " + ".join(out)


class Raw(str):
    """JSON text to put as is where the value would be (numbers Python's json never writes, deep nests)."""


def dumps(value: Any, ascii_only: bool = True) -> str:
    raws: list[str] = []

    def hold(v: Any) -> Any:
        if isinstance(v, Raw):
            raws.append(str(v))
            return f"@@raw{len(raws) - 1}@@"
        if isinstance(v, dict):
            return {k: hold(x) for k, x in v.items()}
        if isinstance(v, list):
            return [hold(x) for x in v]
        return v

    text = json.dumps(hold(value), ensure_ascii=ascii_only or _has_surrogate(value))
    for i, raw in enumerate(raws):
        text = text.replace(f'"@@raw{i}@@"', raw, 1)
    return text


_SURROGATE = re.compile("[\ud800-\udfff]")


def _has_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return _SURROGATE.search(value) is not None
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


WRONG = (None, True, False, 0, -1, 1.5, "", "1", "true", [], {}, [1], {"a": 1})
NON_FINITE = (math.nan, math.inf, -math.inf)
HUGE = ("1e308", "-1e308", "1.7976931348623157e308", "1e309", "-1e400", "1" + "0" * 400,
        "-" + "9" * 400, "5e-324", "1e-400", "0." + "0" * 400 + "1", "-0", "1E+2",
        "123456789012345678901234567890")  # fmt: skip
ODD = ("\ud800", "\udfff", "\udc00\ud800", "\ud800\ud800", "\ud83d\ude00", "\x00", "\u202e", "\ufeff",
       "\uffff", "\U0010ffff", "e\u0301", "\u2028", "\ufffd", "\U000e0001", "\x7f")  # fmt: skip
ODD_KEYS = ("", "Type", "TYPE", "type ", "__proto__", "constructor", "reply_id", "extra", "\ud800")
SERVER_TYPES = ("hello", "error", "state", "reply_start", "reply_end", "text", "emotion", "gesture",
                "history", "speech")  # fmt: skip
JUNK = ("", " ", "{", "}", "{'type': 'stop'}", '{"type":"stop",}', '"stop"', "undefined", "NaN", "[]", "null",
        "0", '{"type":"stop"} {}', '\ufeff{"type":"stop"}', ' {"type":"stop"} \n', "{}", '{"type"}',
        '{"type":"stop"', "\x00", "true")  # fmt: skip
NOT_OBJECT = ([], [{"type": "stop"}], 0, -1.5, "stop", None, True, {"type": 1}, {"type": None},
              {"type": ["stop"]}, {"type": {"type": "stop"}}, {"type": True}, {"TYPE": "stop"})  # fmt: skip
BURST = ({"type": "stop"}, {"type": "export_history"}, {"type": "clear_history"},
         {"type": "set_voice", "enabled": True}, {"type": "set_voice", "enabled": False},
         {"type": "typing", "active": True}, {"type": "typing", "active": False},
         {"type": "visibility", "hidden": True}, {"type": "visibility", "hidden": False},
         {"type": "user_message", "text": "hi"}, {"type": "speak", "text": "[joy] ok"},
         {"type": "set_emotion", "emotion": "joy"})  # fmt: skip
REPLY_TYPES = {"user_message": "model", "speak": "script"}  # documented: these start a reply
KINDS = (["valid"] * 6 + ["wrong_type"] * 2 + ["odd_unicode"] * 2 + ["burst"] * 2
         + ["non_finite", "huge_number", "unknown_field", "missing_field", "deep_nesting", "giant_string",
            "truncated_json", "not_json", "not_object", "unknown_type", "binary"])  # fmt: skip


def cases(cat: Catalog) -> st.SearchStrategy[Case]:
    """Every kind of hostile (and friendly) input, from the catalog's schema."""
    messages = {t: schema_strategy(v, cat) for t, v in cat.variants.items()}
    # Replies cost a model call each: reply-starting types are drawn less often (but always some).
    weighted = [t for t in messages if t not in REPLY_TYPES] * 4 + [t for t in messages if t in REPLY_TYPES]
    valid = st.sampled_from(weighted).flatmap(lambda t: messages[t])

    @st.composite
    def case(draw: st.DrawFn) -> Case:
        kind = draw(st.sampled_from(KINDS))
        if kind == "binary":
            blob = draw(st.one_of(st.binary(max_size=40), st.sampled_from([b"", b"\x01\x00", b"\x02"]),
                                  valid.map(lambda m: dumps(m).encode())))  # fmt: skip
            return Case(kind, (blob,))
        if kind == "not_json":
            return Case(kind, (draw(st.one_of(st.sampled_from(JUNK), st.text(max_size=10))),))
        if kind == "not_object":
            return Case(kind, (dumps(draw(st.sampled_from(NOT_OBJECT))),))
        if kind == "burst":
            burst = draw(st.lists(st.sampled_from(BURST), min_size=2, max_size=6))
            return Case(kind, tuple(dumps(m) for m in burst))
        if kind == "unknown_type":
            names = (*SERVER_TYPES, "", "STOP", "Stop", "stop ", "user-message")
            name = draw(st.one_of(st.sampled_from(names), st.text(max_size=8)))
            extra = draw(st.dictionaries(st.text(max_size=4), st.sampled_from(WRONG), max_size=2))
            return Case(kind, (dumps({**extra, "type": name}),))
        message = dict(draw(valid))
        keys = sorted(message)
        if kind == "truncated_json":
            text = dumps(message)
            return Case(kind, (text[: draw(st.integers(0, len(text) - 1))],))
        if kind == "valid":
            settle = message["type"] in REPLY_TYPES and draw(st.booleans())
            return Case(kind, (dumps(message, ascii_only=draw(st.booleans())),), settle=settle)
        if kind == "wrong_type":
            message[draw(st.sampled_from(keys))] = draw(st.sampled_from(WRONG))
        elif kind == "non_finite":
            message[draw(st.sampled_from(keys))] = draw(st.sampled_from(NON_FINITE))
        elif kind == "huge_number":
            message[draw(st.sampled_from(keys))] = Raw(draw(st.sampled_from(HUGE)))
        elif kind == "unknown_field":
            key = draw(st.one_of(st.sampled_from(ODD_KEYS), st.text(min_size=1, max_size=6)))
            message[key] = draw(st.sampled_from(WRONG))
        elif kind == "missing_field":
            del message[draw(st.sampled_from(keys))]
        elif kind == "odd_unicode":
            key = draw(st.sampled_from([k for k in keys if isinstance(message[k], str)] + ["<key>"]))
            odd = draw(st.sampled_from(ODD))
            if key == "<key>":
                message[odd] = 1
            else:
                at = draw(st.integers(0, len(message[key])))
                message[key] = message[key][:at] + odd + message[key][at:]
        elif kind == "deep_nesting":
            depth = draw(st.sampled_from([64, 499, 500, 990, 1000, 2000, 4000, 8000, 9000, 20000]))
            opener, closer = draw(st.sampled_from([("[", "]"), ('{"a":', "}")]))
            nest = Raw(opener * depth + "0" + closer * depth)
            where = draw(st.sampled_from([*keys, "<unknown>", "<top>"]))
            if where == "<top>":
                return Case(kind, (str(nest),))
            message["extra" if where == "<unknown>" else where] = nest
        elif kind == "giant_string":
            key = draw(st.sampled_from([*keys, "<unknown>"]))
            key = "extra" if key == "<unknown>" else key
            fill = draw(st.sampled_from(["x", "é", "😀", "\ud800", '"', "\\"]))
            target = draw(st.sampled_from(["text+1", "cap-1", "cap", "cap+1", "64k", "1M"]))
            message[key] = ""
            return Case(kind, (_grow(message, key, fill, target, cat, draw(st.booleans())),))
        return Case(kind, (dumps(message, ascii_only=draw(st.booleans())),))

    return case()


def _grow(message: dict[str, Any], key: str, fill: str, target: str, cat: Catalog, ascii_only: bool) -> str:
    """`message` with `message[key]` a string grown to the target size: a text one character over
    max_text_chars, or a whole message of exactly the cap (±1 byte), 64 KiB or the transport's 1 MiB."""
    if target == "text+1":
        message[key] = fill * (cat.max_text_chars + 1)
        return dumps(message, ascii_only)
    cap = cat.max_message_bytes
    # A lone surrogate can only travel escaped, and then every other non-ASCII character is escaped too:
    # measure the empty message the way the grown one will be written.
    ascii_only = ascii_only or _has_surrogate(fill)
    size = {"cap-1": cap - 1, "cap": cap, "cap+1": cap + 1, "64k": 1 << 16, "1M": 1 << 20}[target]
    empty = len(dumps(message, ascii_only).encode())
    unit = len(dumps(fill, ascii_only).encode()) - 2
    n, rest = divmod(max(size - empty, 0), unit)
    message[key] = fill * n + "x" * rest  # exactly `size` bytes (or the smallest over it)
    return dumps(message, ascii_only)


# ------------------------------------------------------------------ the oracle


@dataclass(frozen=True)
class Outcome:
    """One documented answer to one websocket message. `cancels`: it interrupts the reply in progress."""

    kind: str  # none | error | echo | history | reply | any
    codes: frozenset[str] = frozenset()
    detail: tuple[Any, ...] = ()  # echo: (emotion, intensity); history: (reason,); reply: (source,)
    cancels: bool = False

    def __repr__(self) -> str:
        shown = sorted(self.codes) if self.codes else list(self.detail)
        return f"{self.kind}{shown if shown else ''}{' (cancels)' if self.cancels else ''}"


NONE = Outcome("none")


def error(*codes: str) -> Outcome:
    return Outcome("error", frozenset(codes))


def expect(payload: str | bytes, cat: Catalog) -> list[Outcome]:
    """What docs/protocol.md promises for this websocket message: one of these outcomes."""
    if isinstance(payload, bytes) and payload[:1] == b"\x04":
        # "Pictures": a binary `image` message is answered by `image`, or refused: `vision_unavailable`
        # (no model here sees pictures), `bad_image` (malformed, not a picture, too large).
        return [error("vision_unavailable", "bad_image"), Outcome("any")]
    if isinstance(payload, bytes):
        # "Speech input": binary messages are mic audio, refused while the mic is off (`mic_off`), when
        # malformed (`bad_audio`) or when the session can't talk (`speech_unavailable`); a well-formed
        # one while a fuzzed `listen` has opened the mic is heard, silently.
        refused = error("mic_off", "bad_audio", "speech_unavailable")
        well_formed = len(payload) >= 6 and payload[:2] == b"\x03\x00" and len(payload) % 2 == 0
        return [refused, NONE] if well_formed else [refused]
    if len(payload.encode()) > cat.max_message_bytes:
        return [error("too_large")]
    deep = payload.count("[") + payload.count("{") >= DEEP and _depth(payload) >= DEEP
    try:
        data = json.loads(payload)
    except RecursionError:  # our stack gave out; the server's may not: then the nest is a mistyped value
        return [error("bad_json", "invalid_message", "unknown_type")]
    except ValueError:
        return [error("bad_json")]
    outcomes = _expect_message(data, cat)
    return [*outcomes, error("bad_json")] if deep else outcomes


def _depth(text: str) -> int:
    depth = best = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            escaped, in_string = (False, True) if escaped else (ch == "\\", ch != '"')
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            best = max(best, depth)
        elif ch in "]}":
            depth -= 1
    return best


def _expect_message(data: Any, cat: Catalog) -> list[Outcome]:
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        return [error("invalid_message")]
    schema = cat.variants.get(data["type"])
    if schema is None:
        return [error("unknown_type")]
    hard: set[str] = set()
    soft: set[str] = set()
    _check(data, schema, cat, hard, soft)
    if hard:  # the message is malformed: an error naming one of its faults
        return [error(*(hard | soft))]
    # Only undocumented doubts left (lone surrogates): the documented answer, or an error saying so.
    return _documented(data, schema, cat) + ([error(*soft)] if soft else [])


def _check(value: Any, schema: dict[str, Any], cat: Catalog, hard: set[str], soft: set[str]) -> None:
    """Docs: "Unknown fields are rejected" and mistyped or missing ones are `invalid_message`; numbers
    must be finite and within range (`out_of_range`); text over max_text_chars is `too_large`."""
    schema = _resolve(schema, cat.defs)
    if "const" in schema and (value != schema["const"] or type(value) is not type(schema["const"])):
        hard.add("invalid_message")
    if "enum" in schema and value not in schema["enum"]:
        hard.add("invalid_message")
    branches = schema.get("anyOf", schema.get("oneOf"))
    if branches is not None:
        results = []
        for branch in branches:
            h: set[str] = set()
            s: set[str] = set()
            _check(value, branch, cat, h, s)
            results.append((h, s))
        fine = [s for h, s in results if not h]
        if fine:
            soft.update(*fine)
        else:
            hard.update(*(h for h, _ in results))
        return
    kind = schema.get("type")
    if kind == "object":
        if not isinstance(value, dict):
            hard.add("invalid_message")
            return
        props = schema.get("properties", {})
        if set(schema.get("required", ())) - set(value):
            hard.add("invalid_message")
        for k, v in value.items():
            if k in props:
                _check(v, props[k], cat, hard, soft)
            elif schema.get("additionalProperties", True) is False:
                hard.add("invalid_message")
    elif kind == "string":
        if not isinstance(value, str):
            hard.add("invalid_message")
            return
        if _has_surrogate(value):
            soft.add("invalid_message")  # a lone surrogate is no text; the docs do not say more
        if len(value) > schema.get("maxLength", math.inf):
            hard.add("too_large" if schema["maxLength"] == cat.max_text_chars else "invalid_message")
        if len(value) < schema.get("minLength", 0):
            hard.add("invalid_message")
    elif kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            hard.add("invalid_message")
            return
        if isinstance(value, float) and not math.isfinite(value):
            hard.add("out_of_range")
            return
        if isinstance(value, int) and abs(value) > FLOAT_MAX:
            hard.update({"out_of_range", "invalid_message"})  # past any float: above range, or no number
        if kind == "integer" and value != int(value):
            hard.add("invalid_message")
        lo, hi = schema.get("minimum", -math.inf), schema.get("maximum", math.inf)
        if value < lo or value > hi:
            hard.add("out_of_range")
        if value <= schema.get("exclusiveMinimum", -math.inf) or value >= schema.get(
            "exclusiveMaximum", math.inf
        ):
            hard.add("out_of_range")
    elif (kind == "boolean" and not isinstance(value, bool)) or (kind == "null" and value is not None):
        hard.add("invalid_message")
    elif kind == "array":
        if not isinstance(value, list):
            hard.add("invalid_message")
            return
        for item in value:
            _check(item, schema.get("items", {}), cat, hard, soft)


def _documented(data: dict[str, Any], schema: dict[str, Any], cat: Catalog) -> list[Outcome]:
    """A well-formed message's answer (docs/protocol.md, "Client → server")."""
    kind = data["type"]
    if "emotion" in data and data["emotion"] not in cat.emotions:
        return [error("unknown_emotion")]  # "emotion names must be one of hello.emotions"
    if kind == "set_control":  # "one of hello.controls … within its range"
        control = cat.controls.get(data["name"])
        if control is None:
            return [error("unknown_control")]
        if not control["minimum"] <= data["value"] <= control["maximum"]:
            return [error("out_of_range")]
        if control["step"] == 1 and data["value"] != round(data["value"]):
            return [NONE, error("out_of_range")]  # a whole-number control: the docs don't say
        return [NONE]
    if kind == "user_message" and data.get("image") is not None:  # "Pictures": none sent, or none seen
        return [error("vision_unavailable", "unknown_image")]
    if kind in REPLY_TYPES:  # or dropped: the visitor's messages per minute are spent
        return [Outcome("reply", detail=(REPLY_TYPES[kind],), cancels=True), error("rate_limited")]
    if kind == "set_emotion":
        intensity = data.get("intensity", schema["properties"]["intensity"].get("default"))
        return [Outcome("echo", detail=(data["emotion"], float(intensity)))]
    if kind == "stop":
        return [Outcome("none", cancels=True)]
    if kind == "clear_history":
        return [Outcome("history", detail=("clear",), cancels=True)]
    if kind == "export_history":  # or refused: "past exports_per_minute" (rate_limited)
        return [Outcome("history", detail=("export",)), error("rate_limited")]
    if kind == "resume":  # "anywhere else invalid_message": the fuzzer never sends it first
        return [error("invalid_message")]
    if kind == "set_voice":
        return [NONE, error("voice_unavailable")] if data["enabled"] else [NONE]
    if kind in ("set_gain", "set_expressiveness", "set_mood", "visibility", "typing"):
        return [NONE]  # (typing's `state` answer is checked with the other states: against the schema)
    return [Outcome("any")]  # a type this oracle has not learnt yet: any well-formed answer


def match(segment: list[dict[str, Any]], alternatives: list[list[Outcome]]) -> list[Outcome] | None:
    """The outcomes (one per message sent, in order) that explain the segment exactly, or None."""

    def fits(o: Outcome, m: dict[str, Any]) -> bool:
        if o.kind == "error":
            return m["type"] == "error" and m["code"] in o.codes and m.get("reply_id") is None
        if o.kind == "echo":
            return (m["type"], m["source"], m["reply_id"], m["emotion"], m["intensity"]) == (
                "emotion", "user", None, *o.detail)  # fmt: skip
        if o.kind == "history":
            return (
                m["type"] == "history"
                and m["reason"] == o.detail[0]
                and (o.detail[0] != "clear" or m["turns"] == [])
            )
        return False

    def solve(i: int, pos: int) -> list[Outcome] | None:
        if i == len(alternatives):
            return [] if pos == len(segment) else None
        for o in alternatives[i]:
            if o.kind in ("none", "reply"):
                nexts = [pos]
            elif o.kind == "any":
                nexts = list(range(len(segment), pos - 1, -1))
            else:
                nexts = [pos + 1] if pos < len(segment) and fits(o, segment[pos]) else []
            for p in nexts:
                rest = solve(i + 1, p)
                if rest is not None:
                    return [o, *rest]
        return None

    return solve(0, 0)


# ------------------------------------------------------------------ the wire


def marker_value(i: int) -> float:
    """The intensity of marker i: a value no draw of the schema's floats comes near."""
    return json.loads(json.dumps(0.123456789 + i * 1e-6))


def _reply_bound(m: dict[str, Any]) -> bool:
    """Messages that belong to a reply (they arrive whenever the reply runs, not in the case's turn)."""
    return m["type"] in ("reply_start", "text", "speech", "reply_end", "<audio>") or (
        m["type"] in ("emotion", "gesture", "error") and m.get("reply_id") is not None
    )


class Wire:
    """One fuzzing session: JSON messages (and audio headers, as `<audio>` items) in arrival order, frames
    counted, and where each marker's echo landed."""

    def __init__(self, url: str, marker_emotion: str, visitor: str | None = None) -> None:
        """`visitor`: the address the session claims to come from (X-Forwarded-For, which the server
        trusts from 127.0.0.1 as from a reverse proxy): each its own messages-per-minute budget."""
        self.url = url
        self.headers = {"X-Forwarded-For": visitor} if visitor else {}
        self.marker_emotion = marker_emotion
        self.items: list[dict[str, Any]] = []
        self.markers: list[int] = []  # index in items of marker i's echo
        self.frames = 0
        self.close_code: int | None = None
        self.closed = False
        self._changed = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Wire:
        # No keepalive pings: they draw from `random`, which hypothesis watches while it draws cases.
        self.ws = await websockets.connect(
            self.url, max_size=None, additional_headers=self.headers, ping_interval=None
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                if isinstance(raw, bytes):
                    if raw[:1] != b"\x02":
                        self.frames += 1
                        continue
                    reply_id, sentence = struct.unpack_from("<IH", raw, 2)
                    self.items.append({"type": "<audio>", "reply_id": reply_id, "sentence": sentence})
                else:
                    m = json.loads(raw)
                    self.items.append(m)
                    if (m.get("type"), m.get("source"), m.get("reply_id"), m.get("emotion")) == (
                        "emotion", "user", None, self.marker_emotion,
                    ) and m.get("intensity") == marker_value(len(self.markers)):  # fmt: skip
                        self.markers.append(len(self.items) - 1)
                self._changed.set()
        except websockets.ConnectionClosed:
            pass
        finally:
            self.closed = True
            self.close_code = self.ws.close_code
            self._changed.set()

    async def send(self, payload: str | bytes) -> None:
        await self.ws.send(payload)

    def marker(self, i: int) -> str:
        return dumps({"type": "set_emotion", "emotion": self.marker_emotion, "intensity": marker_value(i),
                      "hold": 0})  # fmt: skip

    async def wait_until(self, ready: Callable[[], Any], what: str) -> None:
        async def loop() -> None:
            while not ready():
                if self.closed:
                    raise AssertionError(f"the server closed the session ({self.close_code}) before {what}")
                self._changed.clear()
                await self._changed.wait()

        try:
            await asyncio.wait_for(loop(), TIMEOUT)
        except TimeoutError:
            raise AssertionError(f"no {what} within {TIMEOUT:.0f} s; last: {self.items[-5:]}") from None

    def of_type(self, kind: str, end: int | None = None) -> list[dict[str, Any]]:
        return [m for m in self.items[:end] if m["type"] == kind]


# ------------------------------------------------------------------ the run


@dataclass
class Started:
    """A reply a case started: by which message (its ordinal in the session), and how it must go."""

    send: int
    case: int
    source: str
    settle: bool


@dataclass
class Fuzzer:
    """Runs batches of cases against one server, one session per batch, checking every answer."""

    url: str
    cat: Catalog
    model_reply: str  # the scripted model's answer to every message
    stats: Counter[str] = field(default_factory=Counter)
    sessions: int = 0

    def run(self, batch: list[Case]) -> str:
        """Send the batch over a new session and check it; returns the server's session id."""
        return asyncio.run(self._run(batch))

    async def _run(self, batch: list[Case]) -> str:
        drain = Case("drain (the harness: stop whatever still runs)", ('{"type":"stop"}',))
        cases = [*batch, drain]
        self.sessions += 1
        visitor = f"198.51.{self.sessions // 250 % 250}.{self.sessions % 250 + 1}"  # TEST-NET-2
        async with Wire(self.url, self.cat.emotions[0], visitor) as wire:
            await wire.wait_until(lambda: wire.items, "hello")
            run = _Run(wire, self.cat, cases, self.model_reply, self.stats)
            chunk: list[int] = []
            for k, case in enumerate(cases):
                chunk.append(k)
                if case.settle or k == len(cases) - 1:
                    await run.chunk(chunk)
                    chunk = []
            run.finish()
            self.stats["cases"] += len(batch)
            self.stats["messages"] += sum(len(c.sends) for c in batch)
            self.stats.update(f"kind {c.label}" for c in batch)
            return str(wire.items[0]["session_id"])

    def warm_up(self) -> None:
        """What a server loads once, on first use (the classifier, litellm, the voice), loaded before the
        neighbour watches: a one-time load is no starvation by hostile input. (`create_app(warm_up=True)`
        loads the first two at start-up; the fixture's server does not.)"""

        async def main() -> None:
            async with Wire(self.url, self.cat.emotions[0], "198.51.100.0") as wire:
                steps = [
                    {"type": "speak", "text": "[joy] Hi."},
                    {"type": "user_message", "text": "Hi!"},
                    {"type": "set_voice", "enabled": True},
                    {"type": "speak", "text": "Hi."},
                ]
                for i, step in enumerate(steps):
                    n = len(wire.of_type("reply_end"))
                    await wire.send(dumps(step))
                    await wire.send(wire.marker(i))
                    await wire.wait_until(lambda i=i: len(wire.markers) > i, "the warm-up's marker")
                    if step["type"] in REPLY_TYPES:
                        await wire.wait_until(lambda n=n: len(wire.of_type("reply_end")) > n, "a reply")
                assert not wire.of_type("error"), wire.of_type("error")

        asyncio.run(main())

    def oversize(self) -> tuple[list[tuple[str, str, int | None]], list[str]]:
        """The transport's own limit (1 MiB, uvicorn's ws_max_size): a message of exactly 1 MiB is still a
        message (`too_large`, the session goes on); one byte more closes the socket with 1009, text or
        binary. Returns (case, the answer or "closed", close code) for each, and the sessions' ids."""
        ids: list[str] = []

        async def one(label: str, payload: str | bytes) -> tuple[str, str, int | None]:
            async with Wire(self.url, self.cat.emotions[0]) as wire:
                await wire.wait_until(lambda: wire.items, "hello")
                ids.append(str(wire.items[0]["session_id"]))
                with contextlib.suppress(websockets.ConnectionClosed):
                    await wire.send(payload)
                    await wire.send(wire.marker(0))
                await wire.wait_until(lambda: wire.markers or wire.closed, "an answer or the close")
                answers = [m for m in wire.items[1:] if m["type"] == "error"]
                self.stats["cases"] += 1
                answer = "closed" if wire.closed else ",".join(m["code"] for m in answers)
                return label, answer, wire.close_code

        mib = 1 << 20
        speak = dumps({"type": "speak", "text": ""})
        text = speak[:-2] + "x" * (mib - len(speak)) + speak[-2:]

        async def main() -> list[tuple[str, str, int | None]]:
            return [
                await one("text of exactly 1 MiB", text),
                await one("text of 1 MiB + 1 byte", text[:-2] + "x" + text[-2:]),
                await one("binary of 1 MiB + 1 byte", b"\x00" * (mib + 1)),
            ]

        return asyncio.run(main()), ids


class _Run:
    """One session's checks, case by case as their markers come back, then its replies as a whole."""

    def __init__(
        self, wire: Wire, cat: Catalog, cases: list[Case], model_reply: str, stats: Counter[str]
    ) -> None:
        self.wire, self.cat, self.cases, self.model_reply, self.stats = wire, cat, cases, model_reply, stats
        self.started: list[Started] = []
        self.cancels: list[int] = []  # ordinals of the messages that interrupted the reply in progress
        self.sent = 0
        self.firsts: dict[int, int] = {}  # case -> ordinal of its first message in the session

    async def chunk(self, ks: list[int]) -> None:
        """Send these cases pipelined (a marker after each), then check each one's answer in turn."""
        wire = self.wire
        for k in ks:
            self.firsts[k] = self.sent
            for payload in self.cases[k].sends:
                await wire.send(payload)
                self.sent += 1
            await wire.send(wire.marker(k))
        for k in ks:
            await wire.wait_until(lambda k=k: len(wire.markers) > k, f"the marker after case {k}")
            self._check_case(k, self.firsts[k])
        last = self.cases[ks[-1]]
        if last.settle and self.started and self.started[-1].case == ks[-1]:
            n = len(self.started)
            await wire.wait_until(lambda: len(wire.of_type("reply_end")) >= n, f"case {ks[-1]}'s reply_end")

    def _check_case(self, k: int, first: int) -> None:
        wire, case = self.wire, self.cases[k]
        start = wire.markers[k - 1] + 1 if k else 1
        segment = [m for m in wire.items[start : wire.markers[k]] if m["type"] != "state"]
        segment = [m for m in segment if not _reply_bound(m)]
        alternatives = [expect(p, self.cat) for p in case.sends]
        chosen = match(segment, alternatives)
        if chosen is None:
            raise AssertionError(
                f"case {k} ({case.label}) got an answer docs/protocol.md does not give\n"
                f"  sent:     {_short(case)}\n  expected: {alternatives} (one per message sent)\n"
                f"  got:      {[_clip(m) for m in segment]}"
            )
        for j, outcome in enumerate(chosen):
            self.stats[f"answer {outcome!r}"] += 1
            if outcome.cancels:
                self.cancels.append(first + j)
            if outcome.kind == "reply":
                self.started.append(Started(first + j, k, outcome.detail[0], case.settle))
        # An interrupted reply has said all it will by the time its interrupter's marker is back.
        begun = len(wire.of_type("reply_start", wire.markers[k]))
        for i, reply in enumerate(self.started[begun:], begun):
            cut = next((c for c in self.cancels if c > reply.send), None)
            if cut is not None:
                by = max(j for j, first in self.firsts.items() if first <= cut)
                message = self.cases[by].sends[cut - self.firsts[by]]
                raise AssertionError(
                    f"case {reply.case} ({self.cases[reply.case].label}) was accepted as a reply "
                    f"(reply #{i + 1} of the session), but no reply_start or reply_end came before "
                    f"message {python_expr(message)} of case {by} interrupted it: the reply vanished\n"
                    f"  sent: {_short(self.cases[reply.case])}\n"
                    f"  then: {[_short(c) for c in self.cases[reply.case + 1 : k + 1]]}"
                )

    def finish(self) -> None:
        """Every reply as a whole: reply_start … reply_end, contiguous text, and every message in the
        server's schema."""
        wire = self.wire
        for m in wire.items:
            if m["type"] != "<audio>":
                try:
                    SERVER_ADAPTER.validate_python(m)
                except ValueError as e:
                    raise AssertionError(f"a message outside the server's schema: {_clip(m)}\n{e}") from e
        starts = wire.of_type("reply_start")
        assert len(starts) == len(self.started), (
            f"{len(self.started)} replies started, {len(starts)} reply_start sent"
        )
        ids = [m["reply_id"] for m in starts]
        assert ids == sorted(set(ids)), f"reply ids do not increase: {ids}"
        bound = [m for m in wire.items if _reply_bound(m)]
        stray = [m for m in bound if m["reply_id"] not in ids]
        assert not stray, f"messages of no reply: {[_clip(m) for m in stray]}"
        for reply, start in zip(self.started, starts, strict=True):
            self._check_reply(reply, [m for m in bound if m["reply_id"] == start["reply_id"]])

    def _check_reply(self, reply: Started, ms: list[dict[str, Any]]) -> None:
        case = self.cases[reply.case]
        where = f"the reply of case {reply.case} ({case.label}: {_short(case)})"
        ends = [m for m in ms if m["type"] == "reply_end"]
        assert ms[0]["type"] == "reply_start" and ms[0]["source"] == reply.source, f"{where} began {ms[0]}"
        assert len(ends) == 1 and ms[-1] is ends[0], f"{where}: one reply_end, last: {[_clip(m) for m in ms]}"
        end = ends[0]
        errors = [m for m in ms if m["type"] == "error"]
        assert not errors and end["status"] in ("complete", "interrupted"), f"{where}: {errors} {_clip(end)}"
        texts = [m for m in ms if m["type"] == "text"]
        offsets = [m["offset"] for m in texts]
        expected = [sum(len(t["delta"]) for t in texts[:i]) for i in range(len(texts))]
        assert offsets == expected, f"{where}: text offsets {offsets}, contiguous would be {expected}"
        sent = "".join(t["delta"] for t in texts)
        if end["status"] == "interrupted":  # with the voice on: what was heard, a prefix of what was sent
            assert sent.startswith(end["text"]), f"{where}: reply_end text is not what its deltas began with"
        else:
            assert sent == end["text"], f"{where}: reply_end text ≠ its deltas"
        speech = [m for m in ms if m["type"] == "speech"]
        audio = [m for m in ms if m["type"] == "<audio>"]
        assert [m["sentence"] for m in speech] == [m["sentence"] for m in audio], f"{where}: speech ≠ audio"
        if reply.settle:
            assert end["status"] == "complete", f"{where} was left to finish but ended {_clip(end)}"
            if reply.source == "model":
                assert end["text"] == self.model_reply, f"{where}: {end['text']!r} ≠ the model's words"
        self.stats[f"reply {end['status']}"] += 1


def _clip(m: dict[str, Any], n: int = 300) -> str:
    text = json.dumps(m, ensure_ascii=False)
    return text if len(text) <= n else f"{text[:n]}… ({len(text)} chars)"


def _short(case: Case, n: int = 600) -> str:
    text = repr(case)
    return text if len(text) <= n else f"{text[:n]}… ({len(text)} chars)"


# ------------------------------------------------------------------ the neighbour and the log


@dataclass(frozen=True)
class Stall:
    """Two consecutive frames of the neighbour further apart than two frame periods (or with frames lost
    between them), and where the process's CPU went between them (seconds, over `span`: the samples around
    the two frames' times on the server's clock)."""

    seq: tuple[int, int]
    t_ms: tuple[int, int]
    at: float  # seconds into the run
    span: float
    loop: float  # CPU time of the server's event loop thread
    fuzzer: float  # CPU time of the test's thread (the fuzzer)
    process: float  # CPU time of the whole process
    blocked: tuple[int, int]  # samples with the loop thread blocked in a call (see Neighbour), of all

    @property
    def busy_loop(self) -> bool:
        """The server's loop ran (nearly) the whole while, or sat blocked in a call (asleep, not in its
        selector, with no other thread of the process holding the GIL): it kept the neighbour waiting."""
        asleep, of = self.blocked
        blocked = of >= 3 and asleep >= 2 / 3 * of and self.process - self.loop < self.span / 3
        return self.loop >= 2 / 3 * self.span or blocked

    def __str__(self) -> str:
        why = "the server's event loop was busy" if self.busy_loop else "the loop waited (GIL or CPU)"
        return (
            f"seq {self.seq[0]} -> {self.seq[1]}, t_ms {self.t_ms[0]} -> {self.t_ms[1]} "
            f"(+{self.t_ms[1] - self.t_ms[0]} ms), {self.at:.1f} s into the run: {why} (CPU in "
            f"{self.span * 1000:.0f} ms: loop {self.loop * 1000:.0f}, fuzzer {self.fuzzer * 1000:.0f}, "
            f"process {self.process * 1000:.0f} ms; the loop thread blocked in a call in "
            f"{self.blocked[0]} of {self.blocked[1]} samples)"
        )


class Neighbour:
    """A second session on the same server for the whole run, doing nothing but receiving frames: in a
    thread of its own, so that the fuzzer's own work never delays its reading. Frames are latest-wins, so a
    gap in `seq` means the server starved it; a step in `t_ms` over two periods, that its clock stalled.

    The server shares this process (and the machine may be shared too), so a sampler thread also notes,
    every few milliseconds, the CPU time of the server's loop thread, of the fuzzer's thread and of the
    process, and whether the loop thread sleeps (/proc) outside its selector's wait while no other thread
    of the process runs or waits for a CPU (so it holds no GIL the loop waits for): a stall can then say
    whether the server's loop was busy or blocked all along (starvation by its own work) or was waiting for
    the GIL or a CPU (the fuzzer's doing, or the machine's)."""

    SAMPLE = 0.005  # s between CPU samples

    def __init__(self, url: str, loop_thread: tuple[int, int], fuzzer_thread: int) -> None:
        """`loop_thread`: the server loop thread's (ident, native id)."""
        self.url = url
        self._loop_thread, native = loop_thread
        self._clocks = [time.pthread_getcpuclockid(t) for t in (self._loop_thread, fuzzer_thread)]
        self._native, self._stat = native, f"/proc/self/task/{native}/stat"
        self.frames: list[tuple[int, int, float]] = []  # (seq, t_ms, arrival on time.monotonic)
        # (monotonic, loop CPU, fuzzer CPU, process CPU, the loop thread sleeps outside its selector)
        self.samples: list[tuple[float, float, float, float, bool]] = []
        self.failure: BaseException | None = None
        self.dropped = False  # the server closed the neighbour's session
        self._ready = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._thread_main, name="fuzz-neighbour", daemon=True)
        self._sampler = threading.Thread(target=self._sample, name="fuzz-cpu-sampler", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def __enter__(self) -> Neighbour:
        self._sampler.start()
        self._thread.start()
        if not self._ready.wait(TIMEOUT) or self.failure is not None:
            raise AssertionError(f"the neighbour could not connect: {self.failure!r}")
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(TIMEOUT)
        self._done.set()
        self._sampler.join(TIMEOUT)

    def _sample(self) -> None:
        loop_clock, fuzzer_clock = self._clocks
        while not self._done.wait(self.SAMPLE):
            cpu = time.clock_gettime(loop_clock), time.clock_gettime(fuzzer_clock), time.process_time()
            frame = sys._current_frames().get(self._loop_thread)
            blocked = (
                frame is not None
                and not frame.f_code.co_filename.endswith("selectors.py")
                and _state(self._stat) in "SD"  # neither running nor runnable
                and not self._others_runnable()  # (else it waits for a GIL holder waiting for a CPU)
            )
            self.samples.append((time.monotonic(), *cpu, blocked))

    def _others_runnable(self) -> bool:
        """Another thread of the process is running or waiting for a CPU."""
        mine = threading.get_native_id()
        for task in os.listdir("/proc/self/task"):
            if int(task) not in (mine, self._native):
                with contextlib.suppress(OSError):  # a thread may end meanwhile
                    if _state(f"/proc/self/task/{task}/stat") == "R":
                        return True
        return False

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as e:  # reported by the test
            self.failure = e
            self._ready.set()

    async def _main(self) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        async with websockets.connect(self.url, ping_interval=None) as ws:  # (see Wire)
            assert json.loads(await ws.recv())["type"] == "hello"
            reader = asyncio.create_task(self._read(ws))
            self._ready.set()
            await self._stop.wait()
            self.dropped = reader.done()
            reader.cancel()
            await asyncio.gather(reader, return_exceptions=True)

    async def _read(self, ws: Any) -> None:
        async for raw in ws:
            if isinstance(raw, bytes) and raw[:1] == b"\x01":
                seq, t_ms = struct.unpack_from("<II", raw, 2)
                self.frames.append((seq, t_ms, time.monotonic()))

    def stalls(self, fps: float) -> Iterator[Stall]:
        """Every gap in seq and every media-time step over two frame periods. The server's clock and this
        one are both time.monotonic; `t_ms` counts from the session's start, whose offset is where
        frames arrive soonest after their time."""
        if not self.frames or not self.samples:
            return
        limit = 2000.0 / fps + 1  # t_ms is rounded to whole milliseconds
        offset = min(arrival - t_ms / 1000 for _, t_ms, arrival in self.frames)
        times = [sample[0] for sample in self.samples]
        for (s0, m0, _), (s1, m1, _) in pairwise(self.frames):
            if s1 != s0 + 1 or m1 - m0 > limit:
                i = max(bisect.bisect_right(times, offset + m0 / 1000) - 1, 0)
                j = min(bisect.bisect_left(times, offset + m1 / 1000), len(times) - 1)
                (t0, l0, f0, p0, _), (t1, l1, f1, p1, _) = self.samples[i], self.samples[j]
                inside = [sample[4] for sample in self.samples[i + 1 : j]]
                at = offset + m1 / 1000 - self.frames[0][2]
                yield Stall(
                    (s0, s1), (m0, m1), at, max(t1 - t0, 1e-3), l1 - l0, f1 - f0, p1 - p0,
                    (sum(inside), len(inside)),
                )  # fmt: skip


def _state(stat: str) -> str:
    """A thread's scheduler state from its /proc stat file: R running or runnable, S or D asleep, …"""
    with open(stat) as f:
        return f.read().rsplit(")", 1)[1].split()[0]


class LogTrap(logging.Handler):
    """Every record the server (it runs in-process) logs at WARNING and up, from any thread."""

    LOGGERS = ("", "uvicorn")  # uvicorn's loggers do not propagate to the root

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self.records: list[logging.LogRecord] = []
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s [%(threadName)s]: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def __enter__(self) -> LogTrap:
        for name in self.LOGGERS:
            logging.getLogger(name).addHandler(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for name in self.LOGGERS:
            logging.getLogger(name).removeHandler(self)

    def tracebacks(self, since: int = 0) -> list[str]:
        """Records at ERROR or with a traceback, formatted with it."""
        bad = [r for r in self.records[since:] if r.levelno >= logging.ERROR or r.exc_info]
        return [self.format(r) for r in bad]
