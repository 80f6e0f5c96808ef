"""One conversation's history: its turns, stored as they happen, and the newest of them that fit the model's
context. Each turn's tokens are counted once (litellm's tokenizer for the model), so trimming a long
history costs one count per new turn, not one per dropped turn."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from server.events import Turn
from server.store import Store

TokenCounter = Callable[[list[dict[str, str]]], int]
TOKEN_BUDGET = 1500  # the small default model has a 2k context; the reply needs room too


class History:
    def __init__(
        self, store: Store, session_id: str, count: TokenCounter, budget: int = TOKEN_BUDGET
    ) -> None:
        self.store = store
        self.session_id = session_id
        self.turns: list[Turn] = []
        self._count = count
        self._budget = budget
        self._tokens: list[int] = []  # per turn, counted once, when first needed

    async def resume(self) -> None:
        self.turns = await self.store.turns(self.session_id)
        self._tokens = []

    async def add(self, turn: Turn) -> None:
        """Remember the turn; its storing survives the caller's cancellation (an interrupted reply's
        partial text must reach the store)."""
        self.turns.append(turn)
        await asyncio.shield(self.store.append(self.session_id, turn))

    async def clear(self) -> None:
        self.turns, self._tokens = [], []
        await self.store.clear(self.session_id)

    def messages(self, system_prompt: str) -> tuple[list[dict[str, str]], int]:
        """The system prompt plus the newest turns that fit the budget (the last one always stays), and
        their tokens. Counting may load litellm: call it from a worker thread."""
        system = {"role": "system", "content": system_prompt}
        history = [_message(t) for t in self.turns]
        for message in history[len(self._tokens) :]:
            self._tokens.append(self._count([message]) if message["content"].strip() else 0)
        total = self._count([system])
        start = len(history)
        for i in range(len(history) - 1, -1, -1):  # newest first; the newest always stays
            if start < len(history) and total + self._tokens[i] > self._budget:
                break
            total += self._tokens[i]
            start = i
        kept = [m for m in history[start:] if m["content"].strip()]
        return [system, *kept], total


def _message(turn: Turn) -> dict[str, str]:
    return {"role": turn.role, "content": turn.content + (" …" if turn.status == "interrupted" else "")}
