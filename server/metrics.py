"""What an operator watches, in Prometheus's text format at `/metrics` (prometheus_client).

Sessions open, admitted and refused; frames sent and dropped (a slow client gets the newest face, not a
backlog); replies by how they ended, and the time from a reply's start to its first text; model errors
by code; replies using and waiting for the model; JSON messages queued for clients; final transcripts
started on a guess at the user's pause, used or thrown away.

Frames are counted on the hot path as plain integers (`TALLY`, a few nanoseconds) and moved into the
counters by `flush` (every second, and at each scrape). With several workers (`mien serve --workers N`)
every worker writes its values to files in `PROMETHEUS_MULTIPROC_DIR` (set by the parent before it spawns
them) and a scrape answered by any worker adds up all of them: counters summed, gauges summed over the
live workers.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

MULTIPROC_DIR = "PROMETHEUS_MULTIPROC_DIR"

SESSIONS = Gauge("mien_sessions", "Open sessions", multiprocess_mode="livesum")
ADMITTED = Counter("mien_sessions_admitted", "Sessions admitted")
REFUSED = Counter("mien_sessions_refused", "Sessions refused, by error code", ["code"])
FRAMES_SENT = Counter("mien_frames_sent", "Blendshape frames written to clients")
FRAMES_DROPPED = Counter("mien_frames_dropped", "Frames replaced by a newer one before a slow client read")
REPLIES = Counter("mien_replies", "Replies ended, by status", ["status"])
FIRST_TEXT = Histogram(
    "mien_reply_first_text_seconds",
    "From a reply's start to its first text on the wire",
    buckets=(0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 15.0, 30.0, 60.0),
)
MODEL_ERRORS = Counter("mien_model_errors", "Replies failed, by error code", ["code"])
MODEL_RUNNING = Gauge("mien_model_running", "Replies using the model", multiprocess_mode="livesum")
MODEL_WAITING = Gauge("mien_model_waiting", "Replies waiting for the model", multiprocess_mode="livesum")
GUESSES = Counter(
    "mien_hearing_guesses",
    "Final transcripts started at a pause before the turn was known to end, by outcome: used (it ended"
    " there), stale (the user went on) or skipped (no core to spare)",
    ["outcome"],
)
QUEUED = Gauge("mien_outbound_queued", "Messages queued for clients", multiprocess_mode="livesum")


class Tally:
    """Hot-path counts, moved into the counters by `flush`."""

    def __init__(self) -> None:
        self.frames_sent = 0
        self.frames_dropped = 0
        self._flushed = (0, 0)

    def flush(self) -> None:
        sent, dropped = self._flushed
        FRAMES_SENT.inc(self.frames_sent - sent)
        FRAMES_DROPPED.inc(self.frames_dropped - dropped)
        self._flushed = (self.frames_sent, self.frames_dropped)


TALLY = Tally()


def exposition() -> tuple[bytes, str]:
    """The scrape: every worker's values when there are several, else this process's."""
    TALLY.flush()
    if os.environ.get(MULTIPROC_DIR):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
