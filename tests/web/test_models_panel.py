"""The Models panel and the scorecard, in Chromium on Mien's page with an evaluator: the panel names who
writes and who judges, its edits of both prompts reach the next reply, the reply gets a scorecard whose
reasons show on hover, and the panel lists the scores."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from server.app import create_app
from server.runner import LiveServer
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI
from tests.web.browsing import AVATAR, WAIT_MS, open_page, wait_events, wait_until

JUDGE = "judge-model"


@pytest.fixture
def judged_page(browser: Browser, fake_llm: ScriptedOpenAI, tmp_path: Path) -> Iterator[Page]:
    settings = mien_settings(fake_llm, tmp_path, evaluator_model=JUDGE)
    with LiveServer(create_app(settings, warm_up=False)) as server:
        errors: list[str] = []
        page = open_page(browser, server.http_url, errors=errors)
        page.evaluate(
            """for (const type of ["evaluation", "prompts"]) document.addEventListener(type, (e) =>
                 window.__mien.events.push({ type, detail: e.detail }), true);"""
        )
        yield page
        page.context.close()
        assert errors == []


def test_the_models_panel_edits_the_prompts_and_the_reply_gets_a_scorecard(
    judged_page: Page, fake_llm: ScriptedOpenAI
) -> None:
    page = judged_page
    panel = page.locator("mien-avatar #models")
    expect(panel).to_be_visible()  # Mien's own page may edit its prompts (hello.prompts)
    panel.locator("summary").click()
    expect(panel.locator(".generator")).to_have_text("Writes the replies: fake-model")
    expect(panel.locator(".evaluator")).to_contain_text(f"Judges them: {JUDGE} (observe")
    system = panel.get_by_label("System prompt")
    expect(system).to_have_value(page.evaluate(f"{AVATAR}.prompts.system"))
    criteria = panel.get_by_label("Evaluator criteria")
    expect(criteria).to_have_value(re.compile(r"^emotion_fit: The emotion tags.*\nsafe_kind: ", re.DOTALL))

    # A criteria line that is not one is refused in the page, with the line named.
    criteria.fill("Brevity is good")
    panel.get_by_role("button", name="Save").click()
    expect(panel.locator(".status")).to_contain_text('line 1: write "name: what it checks"')

    system.fill("You are Zed, a pirate. Keep it short.")
    criteria.fill("brevity: The reply is short.\npirate: It sounds like a pirate.")
    panel.get_by_role("button", name="Save").click()
    expect(panel.locator(".status")).to_have_text("Saved.")
    expect(panel.locator(".edited")).to_be_visible()
    saved = wait_events(page, "prompts")[-1]
    assert saved["edited"] and [c["name"] for c in saved["criteria"]] == ["brevity", "pirate"]

    fake_llm.queue_for("fake-model", [{"content": "[joy] Arr, ahoy!"}])
    scores = {
        "brevity": {"score": 0.9, "reason": "three words"},
        "pirate": {"score": 0.4, "reason": "no parrot"},
    }
    fake_llm.queue_for(JUDGE, [{"content": json.dumps({"scores": scores, "revision": "add a parrot"})}])
    page.locator("mien-avatar #message").fill("Who are you?")
    page.locator("mien-avatar #message").press("Enter")
    # The first reply imports litellm (seconds on a busy machine) before the evaluator is asked.
    wait_until(
        page, "() => window.__mien.events.some((e) => e.type === 'evaluation')", timeout_ms=WAIT_MS * 3
    )
    card = page.locator("mien-avatar .msg.mien .scorecard")
    expect(card.locator(".overall")).to_have_text("judged 40")  # the weakest criterion
    expect(card.locator(".score")).to_have_text(["brevity 90", "pirate 40"])
    expect(card.locator(".score[data-criterion=pirate]")).to_have_attribute("title", "no parrot")
    expect(card.locator(".note")).to_have_text("advice: add a parrot")
    expect(panel.locator(".history li")).to_have_count(1)
    expect(panel.locator(".history li")).to_contain_text("pirate 40")
    assert fake_llm.requests_for("fake-model")[-1]["messages"][0]["content"].startswith(
        "You are Zed, a pirate."
    )
    assert "- pirate: It sounds like a pirate." in fake_llm.requests_for(JUDGE)[-1]["messages"][0]["content"]

    # Reset: the persona's own prompt and criteria again.
    panel.get_by_role("button", name="Reset").click()
    expect(panel.locator(".edited")).to_be_hidden()
    expect(system).to_have_value(page.evaluate(f"{AVATAR}.prompts.system"))
    assert page.evaluate(f"{AVATAR}.prompts.system").startswith("You are Mien")


def test_an_evaluator_that_fails_shows_not_evaluated_with_the_reason(
    judged_page: Page, fake_llm: ScriptedOpenAI
) -> None:
    page = judged_page
    fake_llm.queue_for("fake-model", [{"content": "Hello."}])
    fake_llm.queue_for(JUDGE, [{"content": "I think it is fine!"}])
    page.evaluate(f"{AVATAR}.send('Hi')")
    wait_until(
        page, "() => window.__mien.events.some((e) => e.type === 'evaluation')", timeout_ms=WAIT_MS * 3
    )
    card = page.locator("mien-avatar .msg.mien .scorecard")
    expect(card).to_have_text("not evaluated")
    expect(card).to_have_attribute(
        "title", f"{JUDGE}: the evaluator's answer was not usable: not JSON (Expecting value at 0)"
    )
    expect(page.locator("mien-avatar .msg.mien[data-done=complete] .text")).to_contain_text("Hello.")


def test_the_teachers_part_of_a_reply_is_shown_on_request(
    browser: Browser, fake_llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    settings = mien_settings(fake_llm, tmp_path, teacher_model="teacher-model", student_model="student-model")
    fake_llm.queue_for(
        "teacher-model", [{"content": json.dumps({"c1": {"plan": "Say Paris.", "start": "Well,"}})}]
    )
    fake_llm.queue_for("student-model", [{"content": " it is Paris."}])
    with LiveServer(create_app(settings, warm_up=False)) as server:
        errors: list[str] = []
        page = open_page(browser, server.http_url, errors=errors)
        try:
            page.evaluate(f"{AVATAR}.send('Capital of France?')")
            reply = page.locator("mien-avatar .msg.mien[data-done=complete]")
            expect(reply.locator(".text")).to_contain_text("Well, it is Paris.", timeout=WAIT_MS * 3)
            note = reply.locator("details.guidance")
            expect(note.locator("summary")).to_have_text("guided by teacher-model")
            expect(note.locator("p")).to_be_hidden()  # folded: shown on request
            note.locator("summary").click()
            expect(note.locator("p")).to_have_text(
                "teacher-model planned: Say Paris.; it began “Well,” and student-model went on."
            )
        finally:
            page.context.close()
        assert errors == []
