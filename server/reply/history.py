"""One conversation's history: its turns, stored as they happen, and the newest of them that fit the model's
context. Each turn's tokens are counted once, when it is added (litellm's tokenizer for the model; a resumed
turn when first needed), so trimming a long history costs nothing per dropped turn."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from server.events import Turn
from server.store import Owner, Store

TokenCounter = Callable[[list[dict[str, str]]], int]
TOKEN_BUDGET = 1500  # the small default model has a 2k context; the reply needs room too
MAX_TURNS = 200  # turns kept here, newest first (the store keeps them all)


class History:
    def __init__(
        self,
        store: Store,
        session_id: str,
        count: TokenCounter,
        budget: int = TOKEN_BUDGET,
        max_turns: int = MAX_TURNS,
        owner: Owner | None = None,
    ) -> None:
        """`owner`: who the stored session belongs to (persona, embed key), written with its first turn."""
        self.store = store
        self.session_id = session_id
        self.owner = owner or Owner("mien")
        self.turns: list[Turn] = []
        self._count = count
        self._budget = budget
        self._max_turns = max_turns
        # Tokens per turn, by value: equal turns count the same, and a count made in a thread that a
        # cancelled reply left running can never land on the wrong turn.
        self._tokens: dict[Turn, int] = {}

    async def resume(self) -> None:
        self.turns = (await self.store.turns(self.session_id))[-self._max_turns :]

    async def add(self, turn: Turn) -> int:
        """Remember the turn, and return its tokens. Storing and counting survive the caller's cancellation
        (an interrupted reply's partial text must reach the store)."""
        self.turns.append(turn)
        for old in self.turns[: -self._max_turns]:  # memory follows the cap, not the session's age
            self._tokens.pop(old, None)
        del self.turns[: -self._max_turns]
        await asyncio.shield(self._keep(turn))
        return self._tokens.get(turn, 0)

    async def _keep(self, turn: Turn) -> None:
        await self.store.append(self.session_id, turn, self.owner)
        await asyncio.to_thread(self._tokens_of, turn)

    async def clear(self) -> None:
        self.turns, self._tokens = [], {}
        await self.store.clear(self.session_id)

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
