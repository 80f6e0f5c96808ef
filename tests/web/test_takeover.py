"""Two tabs of one conversation (the page keeps its session in localStorage, so a second tab resumes it):
the newer tab takes the conversation, the older one says so plainly and waits, without a reconnect loop,
until its user acts there again, which takes it back. Debian's chromium against a real Mien server."""

from __future__ import annotations

from playwright.sync_api import Browser, Page, expect

from server.runner import LiveServer
from tests.fakes.openai_server import ScriptedOpenAI
from tests.web.browsing import AVATAR, RECORDER, events, open_page, wait_events, wait_ready, wait_reply_done


def send(page: Page, text: str) -> None:
    page.fill("#message", text)
    page.press("#message", "Enter")


def test_a_second_tab_takes_the_conversation_and_the_first_waits_for_its_user(
    browser: Browser, mien: LiveServer, fake_llm: ScriptedOpenAI
) -> None:
    first = open_page(browser, mien.http_url)
    try:
        fake_llm.queue([{"content": "[joy] Hello, Ada."}])
        send(first, "I'm Ada.")
        wait_reply_done(first, 1)
        session = first.evaluate(f"{AVATAR}.sessionId")

        second = first.context.new_page()  # the same browser profile: the same stored session
        second.add_init_script(RECORDER)
        second.goto(mien.http_url)
        wait_ready(second)
        assert second.evaluate(f"{AVATAR}.sessionId") == session
        assert second.evaluate(f"{AVATAR}.hello.resumed") is True
        expect(second.locator("#chat .msg.restored")).to_have_count(2)

        (gone,) = wait_events(first, "disconnect", 1)
        assert (gone["code"], gone["retrying"]) == (4001, False)  # paused: no reconnect on a timer
        expect(first.locator("#chat .note").last).to_contain_text("another window")
        assert len(events(first, "connect")) == 1

        # Its user writes in the first tab again: it takes the conversation back, with all of it.
        fake_llm.queue([{"content": "You are Ada."}])
        send(first, "Who am I?")
        wait_reply_done(first, 2)
        assert first.evaluate(f"{AVATAR}.sessionId") == session
        contents = [m["content"] for m in fake_llm.requests[-1]["messages"]]
        assert "I'm Ada." in contents and "Hello, Ada." in contents
        (taken,) = wait_events(second, "disconnect", 1)
        assert (taken["code"], taken["retrying"]) == (4001, False)
        expect(second.locator("#chat .note").last).to_contain_text("another window")
    finally:
        first.context.close()
