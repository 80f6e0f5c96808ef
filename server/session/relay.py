"""Where each session's socket lives, and messages for a session carried to it, on whichever process.

A socket stays on the process that accepted it; its conversation may be resumed anywhere. So:
- A resume *takes the session over*: the socket that held it until then (on this process or another) is
  closed with `error` `moved`, and the new one loads the history only once the old one has finished (its
  reply in progress stored as interrupted): no turn is written by two sockets at once.
- Messages sent for a session from elsewhere (`POST /sessions/{id}/messages`: stop, controls, a scripted
  line) reach the process that holds its socket.

Within one process a dict does it. With `redis_url`, each process also subscribes (one pub/sub connection)
to a channel per session it holds, `mien:s:<id>`, and to its own, `mien:p:<process>`, for answers: PUBLISH
says how many processes hold the session, so "nobody has it" is known at once, and the holder answers on
the sender's channel. Redis forgets subscriptions when it restarts; this process subscribes again to all of
its channels as soon as it is back. While Redis is away, sessions go on; only messages from elsewhere and
takeovers across processes are refused (`unavailable`) or not done (the old socket lives on; logged).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any, Protocol

log = logging.getLogger("mien.relay")

ANSWER_WAIT = 3.0  # s a sender waits for the holder's answer (a takeover: for the old socket to finish)
_RETRY = (0.2, 0.5, 1.0, 2.0)  # s between attempts to reach Redis again after the connection broke


@dataclass(frozen=True)
class Answer:
    """What the holder made of a message: delivered (`ok`), or why not (a protocol error code)."""

    ok: bool
    code: str = ""
    message: str = ""


NOT_HELD = Answer(False, "unknown_session", "no open session has that id")
UNREACHABLE = Answer(False, "unavailable", "the session's process can't be reached now (Redis)")


class Holder(Protocol):
    """A session, as the relay sees it."""

    key_id: str  # the embed key it was opened under ("" without one): messages must name the same

    async def relayed(self, message: dict[str, Any]) -> Answer:
        """Act on a message sent from elsewhere, as if the socket had sent it."""
        ...

    async def move(self) -> None:
        """Close the socket with `moved`; return once the session has ended (its turns stored)."""
        ...


class Relay:
    def __init__(self, redis_url: str | None = None) -> None:
        self.held: dict[str, Holder] = {}
        self.process = uuid.uuid4().hex[:12]
        self._url = redis_url
        self._redis: Any = None
        self._pubsub: Any = None
        self._listener: asyncio.Task[None] | None = None
        self._up = asyncio.Event()  # subscribed to every channel this process wants
        self._waiting: dict[int, asyncio.Queue[Answer]] = {}
        self._nonces = itertools.count(1)
        self._jobs: set[asyncio.Task[None]] = set()

    # --- lifecycle ---------------------------------------------------------------------------------

    async def start(self) -> None:
        if self._url is None:
            return
        import redis.asyncio as redis

        self._redis = redis.Redis.from_url(
            self._url, socket_timeout=2.0, socket_connect_timeout=2.0, health_check_interval=30
        )
        self._pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
        self._listener = asyncio.create_task(self._listen(), name="mien-relay")

    async def stop(self) -> None:
        self._up.clear()  # sessions still letting go don't write to a closing connection
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        for job in list(self._jobs):
            job.cancel()
        if self._pubsub is not None:
            with contextlib.suppress(Exception):
                await self._pubsub.aclose()
            with contextlib.suppress(Exception):
                await self._redis.aclose()

    # --- holding sessions --------------------------------------------------------------------------

    async def hold(self, session_id: str, holder: Holder, take_over: bool) -> None:
        """From now on messages for `session_id` reach `holder`. With `take_over` (a resume), whoever held it
        before closes first (`moved`) and has finished when this returns (bounded by ANSWER_WAIT)."""
        if take_over:
            old = self.held.get(session_id)
            if old is not None and old is not holder:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(old.move(), ANSWER_WAIT)
            if self._redis is not None:
                answer = await self._ask(session_id, {"op": "move"})
                if answer is UNREACHABLE:
                    log.warning("session %s resumed while Redis is away: another process may still hold it",
                                session_id)  # fmt: skip
        self.held[session_id] = holder
        if self._redis is not None and self._up.is_set():
            try:
                await self._pubsub.subscribe(_session_channel(session_id))
            except Exception as e:  # the listener notices too, and subscribes again to all when back
                log.warning("relay: subscribing to session %s failed (%r)", session_id, e)

    async def let_go(self, session_id: str, holder: Holder) -> None:
        if self.held.get(session_id) is not holder:
            return  # taken over meanwhile: the channel is the new holder's
        del self.held[session_id]
        if self._redis is not None and self._up.is_set():
            with contextlib.suppress(Exception):  # not subscribed again after an outage either way
                await self._pubsub.unsubscribe(_session_channel(session_id))

    # --- sending -----------------------------------------------------------------------------------

    async def send(self, session_id: str, key: str, message: dict[str, Any]) -> Answer:
        """Deliver a client message to the session, wherever its socket is, and return its answer."""
        local = self.held.get(session_id)
        if local is not None:
            return await _deliver(local, key, message)
        if self._redis is None:
            return NOT_HELD
        return await self._ask(session_id, {"op": "deliver", "key": key, "message": message})

    async def _ask(self, session_id: str, body: dict[str, Any]) -> Answer:
        if not self._up.is_set():  # our answers could not reach us
            return UNREACHABLE
        nonce = next(self._nonces)
        answers: asyncio.Queue[Answer] = asyncio.Queue()
        self._waiting[nonce] = answers
        try:
            envelope = json.dumps({**body, "nonce": nonce, "reply_to": self.process})
            try:
                holders = await self._redis.publish(_session_channel(session_id), envelope)
            except Exception as e:
                log.warning("relay: publishing to session %s failed (%r)", session_id, e)
                return UNREACHABLE
            if not holders:
                return NOT_HELD
            try:  # a second holder (two resumes racing) answers too: the first answer counts
                return await asyncio.wait_for(answers.get(), ANSWER_WAIT)
            except TimeoutError:
                return UNREACHABLE
        finally:
            del self._waiting[nonce]

    # --- receiving ---------------------------------------------------------------------------------

    async def _listen(self) -> None:
        """Subscribe to every wanted channel (again, after a broken connection), then read messages."""
        for attempt in itertools.count():
            try:
                # Sessions held meanwhile are added until none is missing (no await between the last
                # check and `_up`: from then on `hold` subscribes its own).
                done: set[str] = set()
                while missing := {_process_channel(self.process), *map(_session_channel, self.held)} - done:
                    await self._pubsub.subscribe(*missing)
                    done |= missing
                self._up.set()
                if attempt:
                    log.info("relay: Redis is back; %d sessions reachable again", len(self.held))
                while True:
                    # Not forever: between reads the connection's health is checked (a silent peer).
                    message = await self._pubsub.get_message(timeout=10.0)
                    if message is not None:
                        self._on_message(message["channel"], message["data"])
            except asyncio.CancelledError:
                raise
            except Exception as e:
                if self._up.is_set():
                    log.error("relay: lost Redis (%r); messages from other processes wait for it", e)
                self._up.clear()
                with contextlib.suppress(Exception):
                    await self._pubsub.reset()  # forget the old subscriptions: all are made again
                await asyncio.sleep(_RETRY[min(attempt, len(_RETRY) - 1)])

    def _on_message(self, channel: bytes, data: bytes) -> None:
        try:
            body = json.loads(data)
        except ValueError:
            return
        if channel == _process_channel(self.process).encode():
            waiting = self._waiting.get(body.get("nonce"))
            if waiting is not None:
                waiting.put_nowait(Answer(bool(body["ok"]), body.get("code", ""), body.get("message", "")))
            return
        session_id = channel.decode().rpartition(":")[2]
        job = asyncio.create_task(self._answer(session_id, body))
        self._jobs.add(job)
        job.add_done_callback(self._jobs.discard)

    async def _answer(self, session_id: str, body: dict[str, Any]) -> None:
        holder = self.held.get(session_id)
        if holder is None:
            answer = NOT_HELD
        elif body.get("op") == "move":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(holder.move(), ANSWER_WAIT)
            answer = Answer(True)
        else:
            answer = await _deliver(holder, str(body.get("key", "")), body.get("message") or {})
        reply = {"nonce": body.get("nonce"), "ok": answer.ok, "code": answer.code, "message": answer.message}
        try:
            await self._redis.publish(_process_channel(str(body.get("reply_to"))), json.dumps(reply))
        except Exception as e:
            log.warning("relay: answering about session %s failed (%r)", session_id, e)


async def _deliver(holder: Holder, key: str, message: dict[str, Any]) -> Answer:
    if key != holder.key_id:  # another site's key (or none) cannot reach this session: it does not exist
        return NOT_HELD
    return await holder.relayed(message)


def _session_channel(session_id: str) -> str:
    return f"mien:s:{session_id}"


def _process_channel(process: str) -> str:
    return f"mien:p:{process}"
