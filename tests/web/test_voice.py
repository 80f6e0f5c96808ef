"""Voice in the browser: the toggle (a real click, the user gesture that unlocks audio), sentence audio
decoded and scheduled on the face's clock, captions, the audio-to-mouth offset measured in media time (the
AudioContext's clock against the frames' t_ms), and stop() cutting the audio. Waits are on conditions,
never fixed sleeps."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page, expect

from tests.fakes.openai_server import ScriptedOpenAI
from tests.web.browsing import AVATAR, WAIT_MS, events, wait_events

# The target: the audio at most 45 ms ahead of the mouth and at most 125 ms behind it.
MAX_AHEAD_MS = 45
MAX_BEHIND_MS = 125

RECORD_SPEECH = """
for (const type of ["speech", "caption"]) {
  document.querySelector("mien-avatar").addEventListener(type, (e) =>
    window.__mien.events.push({ type, detail: e.detail }));
}
window.__mien.captions = [];
new MutationObserver((records) => {
  for (const r of records) {
    if (r.target.dataset.caption) window.__mien.captions.push(r.target.dataset.caption);
  }
}).observe(document.querySelector("mien-avatar").shadowRoot.querySelector("#chat"),
            { subtree: true, attributeFilter: ["data-caption"] });
"""

# Media time, on the AudioContext's own clock: every audio buffer started (`start(when, offset)`: its first
# sample sounds at `when - offset` in context time) and stopped, and for each frame the face draws, its
# t_ms next to the context time being heard as that animation frame began (noted before the element's
# callback chose the frame to show; the sampler, requested after the element's, reads what it chose).
RECORD_MEDIA = """
const m = window.__mien;
m.heardNow = null;
m.sources = [];
m.draws = [];
const heard = (ctx) => {
  const ts = ctx.getOutputTimestamp?.();
  return ts?.contextTime > 0 ? ts.contextTime : ctx.currentTime - (ctx.outputLatency || 0);
};
const Source = AudioBufferSourceNode.prototype;
const start = Source.start;
Source.start = function (when = 0, offset = 0, ...rest) {
  m.ctx = this.context;
  this.__record = { when, offset, duration: this.buffer.duration, stoppedAt: null };
  m.sources.push(this.__record);
  return start.call(this, when, offset, ...rest);
};
const stop = Source.stop;
Source.stop = function (...args) {
  if (this.__record) this.__record.stoppedAt = this.context.currentTime;
  return stop.apply(this, args);
};
m.beforeDraw = () => (m.heardNow = m.ctx ? heard(m.ctx) : null);
const sample = () => {
  const avatar = document.querySelector("mien-avatar");
  if (m.heardNow !== null && m.draws.at(-1)?.seq !== avatar.frameSeq) {
    m.draws.push({ seq: avatar.frameSeq, tMs: avatar.frameTMs, heard: m.heardNow });
  }
  requestAnimationFrame(sample);
};
requestAnimationFrame(sample);
"""


def stats(page: Page) -> dict[str, Any]:
    return page.evaluate(f"{AVATAR}.voiceStats")


def av_offsets(speech: dict[str, Any], source: dict[str, Any], draws: list[dict[str, Any]]) -> list[float]:
    """At each frame drawn while the sentence sounds: where its audio was (its t_ms plus the context time
    heard since its first sample) minus the t_ms the face showed; positive = the audio ahead."""
    first_sample = source["when"] - source["offset"]
    t0, t1 = speech["tMs"], speech["tMs"] + speech["durationMs"]
    return [
        speech["tMs"] + (d["heard"] - first_sample) * 1000 - d["tMs"] for d in draws if t0 <= d["tMs"] <= t1
    ]


def test_voice_plays_each_sentence_in_step_with_the_mouth_and_stops(
    page: Page, fake_llm: ScriptedOpenAI
) -> None:
    page.evaluate(RECORD_SPEECH)
    page.evaluate(RECORD_MEDIA)
    toggle = page.get_by_role("button", name="Voice")
    expect(toggle).to_be_visible()  # the server can speak (hello.voice)
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    assert page.evaluate(f"{AVATAR}.voice") is True
    page.wait_for_function(f"{AVATAR}.voiceStats.delayMs > 0", timeout=WAIT_MS)

    page.evaluate(f"{AVATAR}.speak('[joy] Hello there, my friend. Goodbye for now.')")
    speech = wait_events(page, "speech", 2)
    assert [s["sentence"] for s in speech[:2]] == [0, 1]
    reply_id = speech[0]["replyId"]
    assert speech[1]["textStart"] == len("Hello there, my friend. ")
    assert speech[1]["tMs"] >= speech[0]["tMs"] + speech[0]["durationMs"] - 1

    # Both sentences decoded, scheduled, and heard (the AudioContext's clock advances headless too).
    page.wait_for_function(
        f"{AVATAR}.voiceStats.decoded >= 2 && {AVATAR}.voiceStats.scheduled >= 2", timeout=WAIT_MS
    )
    page.wait_for_function(f"{AVATAR}.voiceStats.played >= 2", timeout=WAIT_MS)
    # The face has drawn past the end of the second sentence.
    end_ms = speech[1]["tMs"] + speech[1]["durationMs"]
    page.wait_for_function(f"(t) => {AVATAR}.frameTMs > t", arg=end_ms, timeout=WAIT_MS)
    sources, draws = page.evaluate("[window.__mien.sources, window.__mien.draws]")
    assert len(sources) == 2  # one buffer per sentence, as long as its speech message says
    for s, source in zip(speech, sources, strict=True):
        assert abs(source["duration"] * 1000 - s["durationMs"]) < 60
    # A frame drawn is interpolated toward the next one: the face may be up to a frame interval further on
    # than the t_ms it reports, so the sound may seem up to that much further ahead than it is.
    frame_ms = page.evaluate(f"1000 / {AVATAR}.hello.fps")
    for n, (s, source) in enumerate(zip(speech, sources, strict=True)):
        offsets = av_offsets(s, source, draws)
        assert len(offsets) >= 3, draws  # the face drew the sentence, frame by frame
        print(
            f"sentence {n}: A/V offset at its first frame {offsets[0]:.1f} ms, over {len(offsets)} frames"
            f" {min(offsets):.1f} .. {max(offsets):.1f} ms"
        )
        # Where the sentence begins on the face, its sound begins with it.
        assert -MAX_BEHIND_MS <= offsets[0] <= MAX_AHEAD_MS + frame_ms, offsets
        # And to its end the mouth never runs ahead of the sound. (How far the sound may get ahead of the
        # frame drawn is not asserted further: headless software drawing shows a frame only every 50-100 ms,
        # and a frame that reaches the page late is shown late.)
        assert min(offsets) >= -MAX_BEHIND_MS, offsets
    # A sentence that arrives (or decodes) late is cut to stay in step, and the playout delay grows.
    current = stats(page)
    if current["late"]:
        assert current["delayMs"] > 150

    # Captions: a caption event per word as it sounds, and the word marked in the reply.
    captions = wait_events(page, "caption", len(speech[0]["words"]))
    assert captions[0] == {"replyId": reply_id, "offset": 0, "sentence": 0}
    page.wait_for_function("window.__mien.captions.includes('now')", timeout=WAIT_MS)
    shown = page.evaluate("window.__mien.captions")
    assert shown[0] == "Hello" and "friend" in shown

    # stop() mid-speech: the model holds its reply after two sentences, so the stop lands mid-reply. The
    # reply ends interrupted with the part of its text that was heard (the text streams ahead of the
    # voice), its sounding audio is cut, and no further audio starts.
    first = "Here is the first sentence, which takes a little while to say aloud."
    fake_llm.queue([{"content": f"[joy] {first} Then a second one. "}, {"hold": True}, {"content": "Never."}])
    page.evaluate(f"{AVATAR}.send('Tell me a few things.')")
    page.wait_for_function(f"{AVATAR}.voiceStats.played >= 3", timeout=WAIT_MS)  # the new line sounds
    stopped_at = page.evaluate(
        f"() => {{ const t = window.__mien.ctx.currentTime; {AVATAR}.stop(); return t; }}"
    )
    end = wait_events(page, "replyend", 2)[-1]
    assert end["replyId"] > reply_id and end["status"] == "interrupted"
    said = "".join(t["delta"] for t in events(page, "text") if t["replyId"] == end["replyId"])
    heard = end["text"]
    assert heard and said.startswith(heard) and first.startswith(heard.split(".")[0])  # what was heard, kept
    played, sources = stats(page)["played"], page.evaluate("window.__mien.sources")
    # Every sentence of it still sounding (or yet to sound) when stop() came was stopped right then.
    cut = [s for s in sources[2:] if s["when"] - s["offset"] + s["duration"] > stopped_at]
    assert cut and all(s["stoppedAt"] is not None and s["stoppedAt"] <= stopped_at + 0.05 for s in cut), cut
    # Wait until the face clock is well past where the stopped reply's next sentence would have started.
    spoken = [s for s in events(page, "speech") if s["replyId"] == end["replyId"]]
    last = spoken[-1]
    page.wait_for_function(
        f"(t) => {AVATAR}.frameTMs > t", arg=last["tMs"] + last["durationMs"] + 1500, timeout=WAIT_MS
    )
    assert stats(page)["played"] == played
    assert len(page.evaluate("window.__mien.sources")) == len(sources)  # nothing started after the stop
