"""Showing the avatar a picture in Chromium: the composer's picture button (only where the server says a model
can see), a preview, the picture in the user's bubble, and the picture reaching the model; send() with an
image from the element's API; a page whose server cannot see offers no button."""

from __future__ import annotations

import base64
import io
from collections.abc import Iterator
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from server.app import create_app
from server.runner import LiveServer
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI
from tests.web.browsing import AVATAR, WAIT_MS, open_page, wait_until


def square_png(tmp_path: Path) -> Path:
    image = Image.new("RGB", (1600, 1200), "white")
    image.paste((30, 160, 40), (400, 300, 1200, 900))
    path = tmp_path / "green-square.png"
    image.save(path, "PNG")
    return path


@pytest.fixture
def seeing_page(browser: Browser, fake_llm: ScriptedOpenAI, tmp_path: Path) -> Iterator[Page]:
    settings = mien_settings(fake_llm, tmp_path, vision_models=("fake-model",))
    with LiveServer(create_app(settings, warm_up=False)) as server:
        errors: list[str] = []
        page = open_page(browser, server.http_url, errors=errors)
        yield page
        page.context.close()
        assert errors == []


def image_parts(fake_llm: ScriptedOpenAI) -> list[dict[str, object]]:
    content = fake_llm.requests[-1]["messages"][-1]["content"]
    return [p for p in content if isinstance(p, dict) and p.get("type") == "image_url"]


def test_attaching_a_picture_shows_it_and_the_model_sees_it(
    seeing_page: Page, fake_llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    page = seeing_page
    fake_llm.queue([{"content": "[joy] A green square!"}])
    attach = page.locator("mien-avatar").get_by_role("button", name="Attach a picture")
    expect(attach).to_be_visible()
    page.locator("mien-avatar .composer input[type=file]").set_input_files(str(square_png(tmp_path)))
    preview = page.locator("mien-avatar .composer .attached img")
    expect(preview).to_be_visible()
    page.locator("mien-avatar #message").fill("What is it?")
    page.locator("mien-avatar #message").press("Enter")
    expect(page.locator("mien-avatar .composer .attached")).to_be_hidden()  # sent: no longer attached
    bubble = page.locator("mien-avatar .msg.user").last
    expect(bubble.locator("img.picture")).to_be_visible()
    expect(bubble.locator(".text")).to_have_text("What is it?")
    expect(page.locator("mien-avatar .msg.mien[data-done=complete] .text")).to_contain_text(
        "A green square!", timeout=WAIT_MS * 3
    )
    (part,) = image_parts(fake_llm)
    url = part["image_url"]["url"]  # type: ignore[index]
    seen = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert seen.size == (1024, 768) and seen.getpixel((512, 384))[1] > 120  # the green square, downscaled


def test_send_with_an_image_from_the_api_and_a_bad_file_gets_an_error(
    seeing_page: Page, fake_llm: ScriptedOpenAI
) -> None:
    page = seeing_page
    fake_llm.queue([{"content": "Nice red."}])
    sent = page.evaluate(
        f"""async () => {{
          const canvas = new OffscreenCanvas(64, 48);
          const g = canvas.getContext("2d");
          g.fillStyle = "#c00"; g.fillRect(0, 0, 64, 48);
          const image = await canvas.convertToBlob({{ type: "image/png" }});
          const gif = new Blob(["GIF89a"], {{ type: "image/gif" }});
          const bad = await {AVATAR}.send("And this?", {{ image: gif }});
          const good = await {AVATAR}.send("What colour?", {{ image }});
          return [bad, good];
        }}"""
    )
    assert sent == [False, True]
    wait_until(
        page, "() => window.__mien.events.some((e) => e.type === 'error' && e.detail.code === 'bad_image')"
    )
    expect(page.locator("mien-avatar .msg.mien[data-done=complete]")).to_have_count(1, timeout=WAIT_MS * 3)
    assert len(image_parts(fake_llm)) == 1 and fake_llm.requests[-1]["messages"][-1]["content"][0][
        "text"
    ].startswith("What colour?")


def test_a_server_whose_model_cannot_see_offers_no_picture_button(browser: Browser, mien: LiveServer) -> None:
    page = open_page(browser, mien.http_url)
    try:
        expect(page.locator("mien-avatar .composer .attach")).to_be_hidden()
        problem = page.evaluate(f"{AVATAR}.hello.vision")
        assert problem["available"] is False and "cannot see pictures" in problem["reason"]
    finally:
        page.context.close()
