"""Pictures the user shows the avatar, through a real server and the scripted OpenAI-compatible server: a
model that sees gets the picture in litellm's image format (downscaled, metadata gone); a model that can't
gets another model's description, and the picture goes to no one else; without either, typed errors;
broken, oversized and unknown pictures get typed errors and the session goes on."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from server.app import create_app
from server.protocol.frames import encode_image
from server.runner import LiveServer
from tests.fakes.client import Client
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI

EYE = "eye-model"


def picture(size: tuple[int, int] = (2000, 1500), kind: str = "JPEG", **save: Any) -> bytes:
    """A photo-like test picture: a red square on white, saved as `kind`."""
    image = Image.new("RGB", size, "white")
    w, h = size
    image.paste((200, 30, 30), (w // 4, h // 4, 3 * w // 4, 3 * h // 4))
    out = io.BytesIO()
    image.save(out, kind, **save)
    return out.getvalue()


def sent_picture(request: dict[str, Any]) -> Image.Image:
    """The picture a model request carried (litellm's image_url part, a data URL)."""
    parts = request["messages"][-1]["content"]
    url = next(p["image_url"]["url"] for p in parts if p["type"] == "image_url")
    assert url.startswith("data:image/jpeg;base64,")
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))


@pytest.fixture
def seeing(request: pytest.FixtureRequest, fake_llm: ScriptedOpenAI, tmp_path: Path) -> Iterator[LiveServer]:
    settings = mien_settings(fake_llm, tmp_path, **getattr(request, "param", {}))
    with LiveServer(create_app(settings, warm_up=False)) as server:
        yield server


async def show(c: Client, data: bytes, text: str, image_id: int = 7) -> dict[str, Any]:
    n = len(c.messages)
    await c._ws.send(encode_image(image_id, data))
    received = await c.next_message("image", after=n)
    await c.send({"type": "user_message", "text": text, "image": image_id})
    return received


@pytest.mark.parametrize("seeing", [{"vision_models": ("fake-model",)}], indirect=True)
def test_a_model_that_sees_gets_the_picture_downscaled_and_without_metadata(
    seeing: LiveServer, fake_llm: ScriptedOpenAI
) -> None:
    fake_llm.queue([{"content": "[surprise] A red square!"}])
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: the camera was turned, so the picture is stored on its side
    exif[0x010F] = "PhoneMaker"

    async def main() -> None:
        async with Client(seeing.ws_url) as c:
            hello = await c.next_message("hello")
            assert hello["vision"]["available"] and hello["vision"]["direct"]
            assert hello["vision"]["types"] == ["image/jpeg", "image/png", "image/webp"]
            received = await show(c, picture(exif=exif.tobytes()), "What is this?")
            assert (received["width"], received["height"]) == (768, 1024)  # upright, longer side 1024
            end = await c.next_message("reply_end")
            assert end["text"] == "A red square!"

    asyncio.run(main())
    request = fake_llm.requests[-1]
    # The words, with the mark the conversation keeps of the picture (no image is stored), and the picture.
    assert request["messages"][-1]["content"][0] == {"type": "text", "text": "What is this? [picture]"}
    seen = sent_picture(request)
    assert seen.size == (768, 1024) and seen.format == "JPEG" and dict(seen.getexif()) == {}
    assert seen.getpixel((384, 512))[0] > 150  # the red square is there, in the middle


@pytest.mark.parametrize("seeing", [{"vision_model": EYE}], indirect=True)
def test_a_model_that_cannot_see_answers_from_another_models_description(
    seeing: LiveServer, fake_llm: ScriptedOpenAI
) -> None:
    fake_llm.queue_for(EYE, [{"content": "A red square on a white background."}])
    fake_llm.queue_for("fake-model", [{"content": "[joy] What a bold red!"}])

    async def main() -> None:
        async with Client(seeing.ws_url) as c:
            hello = await c.next_message("hello")
            assert hello["vision"] == {**hello["vision"], "available": True, "direct": False, "model": EYE}
            await show(c, picture(kind="PNG"), "Do you like it?")
            vision = await c.next_message("vision")
            assert vision["model"] == EYE and vision["description"] == "A red square on a white background."
            await c.next_message("reply_end")
            kinds = [m["type"] for m in c.messages]
            assert kinds.index("vision") < kinds.index("text")  # seen before the answer

    asyncio.run(main())
    (described,) = fake_llm.requests_for(EYE)
    assert sent_picture(described).size == (1024, 768)
    chat = fake_llm.requests_for("fake-model")[0]["messages"][-1]["content"]
    described_as = "[The user shows a picture. It shows: A red square on a white background.]"
    assert chat == f"Do you like it? [picture]\n{described_as}"
    assert "image_url" not in json.dumps(fake_llm.requests_for("fake-model"))  # never sent to the chat model


@pytest.mark.parametrize("seeing", [{"vision_model": EYE}], indirect=True)
def test_a_description_that_fails_leaves_the_words_answered(
    seeing: LiveServer, fake_llm: ScriptedOpenAI
) -> None:
    fake_llm.queue_for(EYE, [{"status": 500}])
    fake_llm.queue_for("fake-model", [{"content": "I can't see it, sorry."}])

    async def main() -> None:
        async with Client(seeing.ws_url) as c:
            await c.next_message("hello")
            await show(c, picture(kind="WEBP"), "Look!")
            err = await c.next_message("error")
            assert err["code"] == "vision_unavailable" and "could not be described" in err["message"]
            assert (await c.next_message("reply_end"))["status"] == "complete"

    asyncio.run(main())


@pytest.mark.parametrize(
    "seeing", [{"vision_models": ("fake-model",), "max_image_bytes": 50_000}], indirect=True
)
def test_pictures_that_are_not_usable_get_typed_errors_and_the_session_goes_on(
    seeing: LiveServer, fake_llm: ScriptedOpenAI
) -> None:
    fake_llm.queue([{"content": "Still here."}])
    noise = Image.effect_noise((300, 300), 100).convert("RGB")  # ~0.27 MB: over the limit, under 1 MiB
    big = io.BytesIO()
    noise.save(big, "PNG")

    async def main() -> None:
        async with Client(seeing.ws_url) as c:
            await c.next_message("hello")
            for data, says in [
                (encode_image(1, b"GIF89a not taken"), "send a JPEG, PNG or WebP"),
                (encode_image(2, big.getvalue()), "at most 0.1 MB"),
                (encode_image(3, picture()[:400]), "could not be read"),
                (bytes([4, 1, 0, 0, 0, 0]) + picture(), "flags 0"),
            ]:
                n = len(c.messages)
                await c._ws.send(data)
                err = await c.next_message("error", after=n)
                assert err["code"] == "bad_image" and says in err["message"], err
            n = len(c.messages)
            await c.send({"type": "user_message", "text": "See?", "image": 99})
            assert (await c.next_message("error", after=n))["code"] == "unknown_image"
            await c.send({"type": "user_message", "text": "Hello?"})  # words alone still work
            assert (await c.next_message("reply_end"))["text"] == "Still here."

    asyncio.run(main())
    assert len(fake_llm.requests) == 1  # nothing refused reached a model


def test_without_a_model_that_sees_hello_says_so_and_pictures_are_refused(
    seeing: LiveServer, fake_llm: ScriptedOpenAI
) -> None:
    async def main() -> None:
        async with Client(seeing.ws_url) as c:
            vision = (await c.next_message("hello"))["vision"]
            assert not vision["available"] and "cannot see pictures" in vision["reason"]
            await c._ws.send(encode_image(1, picture()))
            assert (await c.next_message("error"))["code"] == "vision_unavailable"
            n = len(c.messages)
            await c.send({"type": "user_message", "text": "See?", "image": 1})
            assert (await c.next_message("error", after=n))["code"] == "vision_unavailable"

    asyncio.run(main())
    assert fake_llm.requests == []


@pytest.mark.parametrize("seeing", [{"vision_models": ("fake-model",)}], indirect=True)
def test_mien_chat_shows_a_picture(seeing: LiveServer, fake_llm: ScriptedOpenAI, tmp_path: Path) -> None:
    fake_llm.queue([{"content": "A red square, nicely framed."}])
    path = tmp_path / "square.png"
    path.write_bytes(picture(kind="PNG"))
    command = [
        sys.executable,
        "-m",
        "server.cli",
        "chat",
        "--url",
        seeing.ws_url,
        "--image",
        str(path),
        "What?",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "A red square, nicely framed." in result.stdout
    assert sent_picture(fake_llm.requests[-1]).size == (1024, 768)
