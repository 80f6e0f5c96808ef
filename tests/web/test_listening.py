"""Talking to Mien in the browser: Debian's chromium with a fake microphone that plays a real recording
(`--use-file-for-fake-audio-capture`), through the page's Talk button, the AudioWorklet (resampling the
context's rate to 16 kHz), the websocket, the server's hearing and back: transcript in the chat, a reply, the
level meter and the "microphone on" indicator; talking over a spoken reply stops it and no audio of it plays
after; a page that is not a secure context says why instead of failing silently. The resampler and the
error sentences are checked on their own too. Waits are on conditions, never fixed sleeps."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from playwright.sync_api import Browser, Page, expect, sync_playwright

from bench.hearing import edits
from server.hearing.ear import read_audio
from server.runner import LiveServer
from tests.fakes.openai_server import ScriptedOpenAI
from tests.web.browsing import AVATAR, LAUNCH, WAIT_MS, events, open_page, wait_until

SPEECH = Path(__file__).resolve().parents[1] / "server" / "data" / "speech"
SAID = "Your call cannot be completed as dialed."
INSECURE_HOST = "mien.test"  # resolved to 127.0.0.1 by the browser, but not "potentially trustworthy"

# The listening events, with when (performance.now()) each came, and the loudest level the meter read.
RECORD_LISTENING = """
window.__mien.level = 0;
for (const type of ["speechstart", "speechend", "transcript", "bargein", "micstate"]) {
  document.addEventListener(type, (e) => {
    if (e.target?.localName === "mien-avatar") {
      window.__mien.events.push({ type, detail: { ...e.detail, at: performance.now() } });
    }
  }, true);
}
const meter = () => {
  const avatar = document.querySelector("mien-avatar");
  if (avatar) window.__mien.level = Math.max(window.__mien.level, avatar.micLevel);
  requestAnimationFrame(meter);
};
requestAnimationFrame(meter);
"""


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real recording as the fake microphone plays it once: 0.6 s of quiet, the sentence, 2.5 s of quiet
    (a whisper of noise, as a room has; chromium converts it to its device's rate, 48 kHz here)."""
    audio = read_audio(SPEECH / "cannot-complete-as-dialed.flac")
    rng = np.random.default_rng(7)
    quiet = lambda s: np.zeros(int(s * 16_000), np.float32)  # noqa: E731
    signal = np.concatenate([quiet(0.6), audio, quiet(2.5)])
    signal = signal + rng.normal(0, 3e-4, signal.shape).astype(np.float32)
    path = tmp_path_factory.mktemp("mic") / "speech.wav"
    sf.write(path, signal, 16_000, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def browser(recording: Path) -> Iterator[Browser]:
    args = [
        *LAUNCH["args"],
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        f"--use-file-for-fake-audio-capture={recording}%noloop",
        f"--host-resolver-rules=MAP {INSECURE_HOST} 127.0.0.1",
        "--autoplay-policy=no-user-gesture-required",
    ]
    with sync_playwright() as p:
        browser = p.chromium.launch(**{**LAUNCH, "args": args})
        yield browser
        browser.close()


@pytest.fixture
def talk_page(browser: Browser, mien: LiveServer) -> Iterator[Page]:
    errors: list[str] = []
    page = open_page(browser, mien.http_url, errors=errors)
    page.evaluate(RECORD_LISTENING)
    yield page
    page.context.close()
    assert errors == []


def listening(page: Page, type_: str) -> list[dict[str, Any]]:
    return events(page, type_)


def final_transcript(page: Page) -> dict[str, Any]:
    wait_until(page, "() => window.__mien.events.some((e) => e.type === 'transcript' && e.detail.final)")
    return next(t for t in listening(page, "transcript") if t["final"])


def words(text: str) -> list[str]:
    return "".join(c for c in text.lower() if c.isalpha() or c == " ").split()


def test_speaking_into_the_microphone_gives_a_transcript_and_a_reply(
    talk_page: Page, fake_llm: ScriptedOpenAI
) -> None:
    page = talk_page
    fake_llm.queue([{"content": "[joy] Let me try that call again for you."}])
    mic = page.locator("mien-avatar").get_by_role("button", name="Talk")
    expect(mic).to_be_visible()  # hello.speech_input.available: the button is offered
    indicator = page.locator("mien-avatar .mic-on")
    expect(indicator).to_be_hidden()
    mic.click()
    expect(mic).to_have_attribute("aria-pressed", "true")
    expect(indicator).to_be_visible()  # the microphone is open, and the page says so
    assert page.evaluate(f"{AVATAR}.listening") == "auto"

    heard = final_transcript(page)
    assert edits(words(SAID), words(heard["text"])) <= 1, heard  # 7 words: a word error rate ≤ 14 %
    starts = [w["startMs"] for w in heard["words"]]
    assert len(starts) == len(words(heard["text"])) and starts == sorted(starts)  # each word, its media time
    start = listening(page, "speechstart")[0]
    end = listening(page, "speechend")[0]
    assert start["turn"] == end["turn"] == heard["turn"]
    assert start["at"] < end["at"] < heard["at"]  # in the order the issue gives
    assert start["atMs"] < end["atMs"] <= starts[-1] + 3000  # media time of the microphone's stream
    assert end["reason"] in ("silence", "judged", "hold")
    assert page.evaluate("window.__mien.level") > 0.3  # the meter moved with the voice

    # The chat shows the spoken turn, final, and the model got it as the user's message.
    spoken = page.locator("mien-avatar .msg.user.spoken")
    expect(spoken).to_have_count(1)
    expect(spoken).to_have_attribute("data-label", "spoken")
    assert words(spoken.inner_text()) == words(heard["text"])
    expect(page.locator("mien-avatar .msg.mien[data-done='complete']")).to_have_count(1, timeout=WAIT_MS)
    assert fake_llm.requests[-1]["messages"][-1] == {"role": "user", "content": heard["text"]}

    mic.click()  # hands-free: a second click closes it
    expect(mic).to_have_attribute("aria-pressed", "false")
    expect(indicator).to_be_hidden()
    assert listening(page, "micstate")[-1]["mode"] == "off"


def test_talking_over_a_spoken_reply_stops_it_and_none_of_its_audio_plays_after(
    talk_page: Page, fake_llm: ScriptedOpenAI
) -> None:
    page = talk_page
    page.locator("mien-avatar").get_by_role("button", name="Voice").click()
    wait_until(page, f"() => {AVATAR}.voice === true")
    line = (
        "[joy] Here is a long story about a lighthouse keeper. Every night she climbed the stairs. "
        "She lit the lamp and watched the ships go by. In the morning she slept until noon. "
        "Then she painted the rocks and fed the gulls."
    )
    page.evaluate(f"(t) => {AVATAR}.speak(t)", line)
    wait_until(page, f"() => {AVATAR}.voiceStats.played >= 1")  # the reply sounds
    reply_id = events(page, "reply")[-1]["replyId"]
    page.locator("mien-avatar").get_by_role("button", name="Talk").click()

    # The user talks over it: ducked at once, then stopped (words that are not its own).
    wait_until(
        page, "() => window.__mien.events.some((e) => e.type === 'bargein' && e.detail.action === 'stop')"
    )
    barge = listening(page, "bargein")
    assert [b["action"] for b in barge] == ["duck", "stop"] and {b["replyId"] for b in barge} == {reply_id}
    stopped_at = barge[-1]["at"]
    wait_until(
        page,
        "(r) => window.__mien.events.some((e) => e.type === 'replyend' && e.detail.replyId === r)",
        reply_id,
    )
    end = next(e for e in events(page, "replyend") if e["replyId"] == reply_id)
    assert end["status"] == "interrupted" and line.startswith("[joy] " + end["text"][:20])

    # The user's words become the next turn, whose reply is heard: by then any late audio of the stopped
    # reply has had every chance to arrive.
    heard = final_transcript(page)
    assert edits(words(SAID), words(heard["text"])) <= 1  # the same words (Whisper may drop an "-ed")
    wait_until(
        page,
        f"(r) => {AVATAR}.voiceStats.starts.some((s) => s.replyId > r)",
        reply_id,
        timeout_ms=WAIT_MS * 2,
    )
    stats = page.evaluate(f"{AVATAR}.voiceStats")
    assert stats["ducked"] is False  # the new reply is heard at full volume
    late = [s for s in stats["starts"] if s["replyId"] == reply_id and s["audioAt"] > stopped_at]
    assert late == []  # nothing of the stopped reply began sounding after the barge-in
    assert [s for s in stats["starts"] if s["replyId"] == reply_id]  # (it did sound before)


def test_a_page_that_is_not_a_secure_context_says_why_the_microphone_cannot_open(
    browser: Browser, fake_llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    """A server on the LAN reached by its name over plain http: not a secure context, so no microphone."""
    from server.app import create_app
    from tests.fakes.mien import mien_settings

    settings = mien_settings(fake_llm, tmp_path, allowed_hosts=(INSECURE_HOST,))
    with LiveServer(create_app(settings, warm_up=False)) as server:
        port = server.http_url.rsplit(":", 1)[1]
        page = open_page(browser, f"http://{INSECURE_HOST}:{port}/")
        try:
            page.evaluate(RECORD_LISTENING)
            assert page.evaluate("window.isSecureContext") is False
            mic = page.locator("mien-avatar").get_by_role("button", name="Talk")
            expect(mic).to_be_visible()  # not a dead button: it explains
            problem = "The microphone needs a secure page: open Mien over https (or on localhost)."
            expect(mic).to_have_attribute("title", problem)
            mic.click()
            errors = [e for e in events(page, "error") if e["code"] == "mic_unavailable"]
            assert [e["message"] for e in errors] == [problem]
            expect(page.locator("mien-avatar #errors li")).to_contain_text("secure page")
            assert page.evaluate(f"{AVATAR}.startListening('auto')") is False
            assert page.evaluate(f"{AVATAR}.listening") == "off"
        finally:
            page.context.close()


def test_the_worklet_resamples_to_16_khz_without_folding_high_tones_into_speech(
    browser: Browser, mien: LiveServer
) -> None:
    page = browser.new_page()
    try:
        page.goto(f"{mien.http_url}/healthz")
        result = page.evaluate(
            """async () => {
              const { Downsampler, toInt16 } = await import('/web/mic-worklet.js');
              const run = (rate, hz, seconds = 1) => {
                const down = new Downsampler(rate);
                const n = rate * seconds, out = [];
                for (let at = 0; at < n; at += 128) {  // the worklet's render quantum
                  const block = new Float32Array(Math.min(128, n - at));
                  const w = (2 * Math.PI * hz) / rate;
                  for (let i = 0; i < block.length; i++) block[i] = Math.sin(w * (at + i));
                  out.push(...down.process(block));
                }
                const body = out.slice(200, -200);  // past the filter's start-up
                const rms = Math.sqrt(body.reduce((s, x) => s + x * x, 0) / body.length);
                let crossings = 0;
                for (let i = 1; i < body.length; i++) if ((body[i - 1] < 0) !== (body[i] < 0)) crossings++;
                return { n: out.length, rms, hz: crossings / 2 / (body.length / 16000) };
              };
              return { voice48: run(48000, 440), voice44: run(44100, 1000), alias48: run(48000, 12000),
                       alias44: run(44100, 9500), int16: Array.from(toInt16([0, 0.5, -1, 2])) };
            }"""
        )
    finally:
        page.close()
    for name in ("voice48", "voice44", "alias48", "alias44"):
        assert abs(result[name]["n"] - 16_000) <= 1, result  # exactly the 16 kHz the server expects
    assert abs(result["voice48"]["rms"] - 1 / math.sqrt(2)) < 0.02  # speech band passes at unit gain
    assert abs(result["voice48"]["hz"] - 440) < 3 and abs(result["voice44"]["hz"] - 1000) < 5
    # Above the new Nyquist (8 kHz) a tone would fold back as a false one; the low-pass takes it out.
    for name in ("alias48", "alias44"):
        assert 20 * math.log10(result[name]["rms"] / (1 / math.sqrt(2))) < -40, result
    assert result["int16"] == [0, 16384, -32767, 32767]


def test_microphone_failures_are_sentences_that_say_what_to_do(module_page: Page) -> None:
    said = module_page.evaluate(
        """async () => {
          const { captureError, micMessage } = await import('/web/microphone.js');
          const names = ["NotAllowedError", "NotFoundError", "NotReadableError", "TypeError"];
          const message = new DataView(micMessage(7, Int16Array.of(1, -2)));
          const header = [message.getUint8(0), message.getUint8(1), message.getUint32(2, true)];
          const samples = [message.getInt16(6, true), message.getInt16(8, true)];
          return { errors: names.map((name) => captureError({ name, message: "boom" })), header, samples };
        }"""
    )
    denied, missing, busy, other = said["errors"]
    assert "permission" in denied and "settings" in denied
    assert "No microphone" in missing and "busy" in busy and other.endswith("boom")
    assert said["header"] == [3, 0, 7] and said["samples"] == [1, -2]  # the protocol's `mic` message


def test_the_microphone_closes_once_when_the_server_takes_no_more_audio(
    browser: Browser, fake_llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    """Past the session's audio allowance the server refuses every piece: the page closes the microphone
    (the browser stops recording) and says so once, instead of an error per 40 ms piece."""
    from server.app import create_app
    from tests.fakes.mien import mien_settings

    settings = mien_settings(fake_llm, tmp_path, listen_seconds=0.5)
    with LiveServer(create_app(settings, warm_up=False)) as server:
        page = open_page(browser, server.http_url)
        try:
            page.evaluate(RECORD_LISTENING)
            mic = page.locator("mien-avatar").get_by_role("button", name="Talk")
            mic.click()
            wait_until(
                page,
                "() => window.__mien.events.some((e) => e.type === 'micstate' && e.detail.mode === 'off')",
            )
            expect(mic).to_have_attribute("aria-pressed", "false")
            expect(page.locator("mien-avatar .mic-on")).to_be_hidden()
            closed = [e for e in events(page, "error") if e["code"] == "mic_unavailable"]
            assert len(closed) == 1 and "The microphone was closed" in closed[0]["message"]
            assert page.evaluate(f"{AVATAR}.listening") == "off"
        finally:
            page.context.close()
