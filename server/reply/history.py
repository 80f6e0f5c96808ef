"""One conversation's history: its turns, stored as they happen, and the newest of them that fit the model's
context. Each turn's tokens are counted once, when it is added (litellm's tokenizer for the model; a resumed
turn when first needed), so trimming a long history costs nothing per dropped turn.

A store that can't be reached (StoreUnavailable: PostgreSQL down, a locked SQLite file) loses nothing: the
turn stays here (the model still sees it) and every write the store missed is held, in order, and written
when it works again: tried with each later write, and with backoff by keep(), which the session runs in its
task group. The first write held in an outage tells the session (`on_unsaved`, once until everything is
written); a session that ends with writes still held gives them a last try, then logs how many turns are
lost, at error level. Until the session's first turn is written, another process does not find the
session (a resume there starts a new conversation)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from server.events import Turn
from server.store import Owner, Store, StoreUnavailable

TokenCounter = Callable[[list[dict[str, str]]], int]
TOKEN_BUDGET = 1500  # the small default model has a 2k context; the reply needs room too
MAX_TURNS = 200  # turns kept here, newest first (the store keeps them all)
RETRY = (1.0, 30.0)  # s before the first retry of held writes, doubling up to the second
LAST_TRY = 5.0  # s a closing session gives held writes before it reports them lost
log = logging.getLogger("mien.store")


@dataclass(frozen=True)
class _Write:
    """A write the store has not taken yet: a turn (with when it happened), or a clear (turn None)."""

    turn: Turn | None
    at: float


class History:
    def __init__(
        self,
        store: Store,
        session_id: str,
        count: TokenCounter,
        budget: int = TOKEN_BUDGET,
        max_turns: int = MAX_TURNS,
        owner: Owner | None = None,
        retry: tuple[float, float] = RETRY,
    ) -> None:
        """`owner`: who the stored session belongs to (persona, embed key), written with its first turn.
        `retry`: the first and the longest wait between retries of writes the store missed."""
        self.store = store
        self.session_id = session_id
        self.owner = owner or Owner("mien")
        self.turns: list[Turn] = []
        # Called (reply id, or None) when a write is first held in an outage: the session tells its user.
        self.on_unsaved: Callable[[int | None], None] | None = None
        self.saved = asyncio.Event()  # set while nothing is held (tests and the session wait on it)
        self.saved.set()
        self._count = count
        self._budget = budget
        self._max_turns = max_turns
        # Tokens per turn, by value: equal turns count the same, and a count made in a thread that a
        # cancelled reply left running can never land on the wrong turn.
        self._tokens: dict[Turn, int] = {}
        self._held: list[_Write] = []  # in order; the head is the next to write
        self._writing = asyncio.Lock()  # one writer at a time keeps the store's order this one's
        self._retry_wait = retry
        self._outage = asyncio.Event()  # set while writes are held: keep() tries them again
        self._last_error: StoreUnavailable | None = None

    @property
    def unsaved(self) -> int:
        """Writes held until the store works again."""
        return len(self._held)

    async def resume(self) -> None:
        self.turns = (await self.store.turns(self.session_id))[-self._max_turns :]

    async def add(self, turn: Turn, *, reply_id: int | None = None) -> int:
        """Remember the turn, and return its tokens. Storing and counting survive the caller's cancellation
        (an interrupted reply's partial text must reach the store). `reply_id`: the reply it belongs to."""
        self.turns.append(turn)
        for old in self.turns[: -self._max_turns]:  # memory follows the cap, not the session's age
            self._tokens.pop(old, None)
        del self.turns[: -self._max_turns]
        await asyncio.shield(self._keep(turn, reply_id))
        return self._tokens.get(turn, 0)

    async def _keep(self, turn: Turn, reply_id: int | None) -> None:
        await self._write(_Write(turn, time.time()), reply_id)
        await asyncio.to_thread(self._tokens_of, turn)

    async def clear(self) -> None:
        """Forget the turns, here at once and in the store in order with the writes before it."""
        self.turns, self._tokens = [], {}
        await self._write(_Write(None, time.time()), None)

    async def _write(self, write: _Write, reply_id: int | None) -> None:
        self._held.append(write)
        if await self._flush(write):
            return
        if self.saved.is_set():  # an outage begins: tell the session, once until everything is written
            self.saved.clear()
            self._outage.set()
            log.error(
                "session %s: not saved, %d writes held until the store can be reached (%s)",
                self.session_id,
                self.unsaved,
                self._last_error,
            )
            if self.on_unsaved is not None:
                self.on_unsaved(reply_id)

    async def _flush(self, mine: _Write | None = None) -> bool:
        """Write what is held, oldest first; True when nothing is left. A write the store refuses for
        another reason than being unreachable is a bug: it is dropped (logged), and raised if it is `mine`."""
        failed: Exception | None = None
        async with self._writing:
            while self._held:
                write = self._held[0]
                try:
                    await self._apply(write)
                except StoreUnavailable as e:
                    self._last_error = e
                    return False
                except Exception as e:
                    log.exception("session %s: a write failed and is dropped", self.session_id)
                    if write is mine:
                        failed = e
                self._held.pop(0)
            if not self.saved.is_set():
                log.warning("session %s: the store is back; held writes are written", self.session_id)
                self.saved.set()
        if failed is not None:
            raise failed
        return True

    async def _apply(self, write: _Write) -> None:
        if write.turn is None:
            await self.store.clear(self.session_id)
        else:
            await self.store.append(self.session_id, write.turn, self.owner, now=write.at)

    async def keep(self) -> None:
        """Runs for the session's lifetime (a task of its group): while writes are held, tries them again
        after 1 s, 2 s, 4 s ... (up to 30 s). Cancelled when the session ends: then close()."""
        try:
            while True:
                await self._outage.wait()
                wait, longest = self._retry_wait
                while self._held:
                    await asyncio.sleep(wait)
                    wait = min(wait * 2, longest)
                    with contextlib.suppress(Exception):  # a bug's write is dropped and logged by _flush
                        await self._flush()
                self._outage.clear()
        finally:
            await self.close()

    async def close(self) -> None:
        """The session is over: held writes get one last try (bounded); what is still held then is lost,
        and logged as such."""
        if self._held:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(LAST_TRY):
                    await self._flush()
        if self._held:
            log.error(
                "session %s closed with turns not saved: %d lost (the store can't be reached: %s)",
                self.session_id,
                sum(w.turn is not None for w in self._held),
                self._last_error,
            )

    def messages(self, system_prompt: str) -> tuple[list[dict[str, str]], int]:
        """The system prompt plus the newest turns that fit the budget (the last one always stays), and
        their tokens. Counting may load litellm: call it from a worker thread."""
        turns = list(self.turns)
        total = self._count([{"role": "system", "content": system_prompt}])
        start = len(turns)
        for i in range(len(turns) - 1, -1, -1):  # newest first; the newest always stays
            tokens = self._tokens_of(turns[i])
            if start < len(turns) and total + tokens > self._budget:
                break
            total += tokens
            start = i
        kept = [_message(t) for t in turns[start:] if t.content.strip()]
        return [{"role": "system", "content": system_prompt}, *kept], total

    def _tokens_of(self, turn: Turn) -> int:
        if turn not in self._tokens:
            self._tokens[turn] = self._count([_message(turn)]) if turn.content.strip() else 0
        return self._tokens[turn]


def _message(turn: Turn) -> dict[str, str]:
    if turn.scripted:  # a client's words in the avatar's mouth: the model must not take them for its own
        return {"role": "system", "content": f'(The app had you say, word for word: "{turn.content}")'}
    return {"role": turn.role, "content": turn.content + (" …" if turn.status == "interrupted" else "")}
