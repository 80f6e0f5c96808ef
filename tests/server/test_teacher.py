"""Teacher + student through a real server: the scripted OpenAI-compatible server answers the teacher
("teacher-model") and the student ("student-model") from scripts of their own. The teacher's first words
begin the reply verbatim and the student continues them (an assistant prefill); several sessions' guidance
goes to the teacher as one request; a failing teacher leaves the student alone, a failing student leaves
the teacher to answer; the embedded model really continues a prefill."""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from server.app import create_app
from server.runner import LiveServer
from tests.fakes.client import Client
from tests.fakes.mien import mien_settings
from tests.fakes.openai_server import ScriptedOpenAI

TEACHER, STUDENT = "teacher-model", "student-model"


def guidance(**starts: tuple[str, str]) -> list[dict[str, Any]]:
    """A scripted teacher answer: {id: (plan, first words)}."""
    return [{"content": json.dumps({k: {"plan": p, "start": s} for k, (p, s) in starts.items()})}]


@pytest.fixture
def taught(request: pytest.FixtureRequest, fake_llm: ScriptedOpenAI, tmp_path: Path) -> Iterator[LiveServer]:
    options = {"teacher_window": 0.05, **getattr(request, "param", {})}
    settings = mien_settings(fake_llm, tmp_path, teacher_model=TEACHER, student_model=STUDENT, **options)
    with LiveServer(create_app(settings, warm_up=False)) as server:
        yield server


async def ask(url: str, text: str) -> Client:
    async with Client(url) as c:
        hello = await c.next_message("hello")
        assert hello["teacher"] == {
            "teacher": TEACHER,
            "student": STUDENT,
            "window_ms": hello["teacher"]["window_ms"],
        }
        assert hello["model"] == STUDENT  # the model that writes the replies
        await c.send({"type": "user_message", "text": text})
        await c.next_message("reply_end")
    return c


def test_the_student_continues_the_teachers_first_words(taught: LiveServer, fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue_for(TEACHER, guidance(c1=("Name Paris, warmly.", "[joy] Great question,")))
    fake_llm.queue_for(STUDENT, [{"content": " it is"}, {"content": " Paris."}])
    c = asyncio.run(ask(taught.ws_url, "What is the capital of France?"))
    end, guided = c.of_type("reply_end")[0], c.of_type("guidance")[0]
    assert end["text"] == "Great question, it is Paris."  # the teacher's words, verbatim, then the student's
    assert (
        guided["status"] == "guided" and guided["start"] == "[joy] Great question," and guided["batch"] == 1
    )
    assert (guided["teacher"], guided["student"], guided["plan"]) == (TEACHER, STUDENT, "Name Paris, warmly.")
    kinds = [m["type"] for m in c.messages]
    assert kinds.index("guidance") < kinds.index("text")  # the page knows which part is the teacher's first
    assert [m["emotion"] for m in c.of_type("emotion") if m["source"] == "tag"] == [
        "joy"
    ]  # its tag works too
    student = fake_llm.requests_for(STUDENT)[0]["messages"]
    assert student[-1] == {"role": "assistant", "content": "[joy] Great question,"}  # the prefill
    assert student[0]["content"].endswith("Plan for your next reply: Name Paris, warmly.")
    teacher = fake_llm.requests_for(TEACHER)[0]
    assert "What is the capital of France?" in teacher["messages"][1]["content"]
    assert teacher["response_format"]["json_schema"]["schema"]["required"] == ["c1"]


@pytest.mark.parametrize("taught", [{"teacher_window": 0.5}], indirect=True)
def test_guidance_for_several_sessions_goes_to_the_teacher_as_one_request(
    taught: LiveServer, fake_llm: ScriptedOpenAI
) -> None:
    k = 4
    starts = {f"c{i}": (f"plan {i}", f"Start{i} here,") for i in range(1, k + 1)}
    fake_llm.queue_for(TEACHER, guidance(**starts))
    fake_llm.queue_for(STUDENT, *[[{"content": " then more."}] for _ in range(k)])

    async def main() -> list[Client]:
        return await asyncio.gather(*(ask(taught.ws_url, f"Question number {i}?") for i in range(k)))

    clients = asyncio.run(main())
    (request,) = fake_llm.requests_for(TEACHER)  # K sessions, ONE teacher request
    carried = request["messages"][1]["content"]
    ids = dict(re.findall(r"### Conversation (c\d)\n(?:.*\n)*?user: (Question number \d)\?", carried))
    assert len(ids) == k
    for i, c in enumerate(clients):
        key = next(key for key, asked in ids.items() if asked == f"Question number {i}")
        assert c.of_type("reply_end")[0]["text"] == f"{starts[key][1]} then more."
        assert c.of_type("guidance")[0]["batch"] == k


@pytest.mark.parametrize("taught", [{"teacher_batch": 2, "teacher_window": 0.5}], indirect=True)
def test_a_full_batch_goes_at_once_and_the_rest_follows(taught: LiveServer, fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue_for(TEACHER, guidance(c1=("p", "A,"), c2=("p", "B,")), guidance(c1=("p", "C,")))
    fake_llm.queue_for(STUDENT, *[[{"content": " ok."}] for _ in range(3)])

    async def main() -> list[Client]:
        return await asyncio.gather(*(ask(taught.ws_url, f"Q{i}") for i in range(3)))

    clients = asyncio.run(main())
    assert [
        len(re.findall("### Conversation", r["messages"][1]["content"]))
        for r in fake_llm.requests_for(TEACHER)
    ] == [2, 1]
    assert sorted(c.of_type("reply_end")[0]["text"] for c in clients) == ["A, ok.", "B, ok.", "C, ok."]


@pytest.mark.parametrize(
    "answer, why",
    [
        ([{"status": 500}], "the teacher model failed"),
        ([{"content": "Sure! Start with hello."}], "not usable"),
    ],
)
def test_without_guidance_the_student_answers_alone(
    taught: LiveServer, fake_llm: ScriptedOpenAI, answer: list[dict[str, Any]], why: str
) -> None:
    fake_llm.queue_for(TEACHER, answer)
    fake_llm.queue_for(STUDENT, [{"content": "[joy] Hello from the student."}])
    c = asyncio.run(ask(taught.ws_url, "Hi"))
    guided = c.of_type("guidance")[0]
    assert guided["status"] == "unguided" and why in guided["reason"] and guided["start"] == ""
    assert c.of_type("reply_end")[0]["text"] == "Hello from the student."
    assert fake_llm.requests_for(STUDENT)[0]["messages"][-1]["role"] == "user"  # no prefill


def test_without_a_student_the_teacher_answers_in_full(taught: LiveServer, fake_llm: ScriptedOpenAI) -> None:
    fake_llm.queue_for(TEACHER, guidance(c1=("greet", "Hello,")), [{"content": "Hello, the teacher speaks."}])
    fake_llm.queue_for(STUDENT, [{"status": 503}])
    c = asyncio.run(ask(taught.ws_url, "Hi"))
    guided, end = c.of_type("guidance")[0], c.of_type("reply_end")[0]
    assert (
        guided["status"] == "teacher_only"
        and guided["reason"] == "the student model failed before its first word"
    )
    assert end["status"] == "complete" and end["text"] == "Hello, the teacher speaks."
    whole = fake_llm.requests_for(TEACHER)[1]["messages"]
    assert (
        whole[-1] == {"role": "user", "content": "Hi"}
        and "response_format" not in fake_llm.requests_for(TEACHER)[1]
    )


def test_the_embedded_model_continues_a_prefill_verbatim() -> None:
    from server.llm import Gateway, ModelOptions

    async def main() -> str:
        gateway = Gateway(ModelOptions(temperature=0.0, max_tokens=12))
        messages = [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "The capital of France is"},
        ]
        return "".join([chunk async for chunk in gateway.stream(messages)])

    continued = asyncio.run(main())
    # A continuation, not a new turn: it neither repeats the words given nor starts a fresh sentence.
    assert "Paris" in continued and not continued.lstrip().startswith("The capital")


def test_only_conversations_of_one_site_and_persona_share_a_teacher_call(
    fake_llm: ScriptedOpenAI, tmp_path: Path
) -> None:
    keys = tmp_path / "keys.toml"
    keys.write_text(
        '[keys.a]\norigins = ["https://a.example"]\n\n[keys.b]\norigins = ["https://b.example"]\n'
    )
    settings = mien_settings(
        fake_llm, None, embed_keys=str(keys), teacher_model=TEACHER, student_model=STUDENT, teacher_window=0.5
    )
    fake_llm.queue_for(TEACHER, *[guidance(c1=("p", "Hi,"), c2=("p", "Hi,")) for _ in range(2)])
    fake_llm.queue_for(STUDENT, *[[{"content": " there."}] for _ in range(4)])

    async def main(server: LiveServer) -> list[Client]:
        urls = [f"{server.ws_url}?key={k}" for k in ("a", "b", "a", "b")]
        return await asyncio.gather(*(ask(url, f"From {url[-1]} {i}") for i, url in enumerate(urls)))

    with LiveServer(create_app(settings, warm_up=False)) as server:
        clients = asyncio.run(main(server))
    carried = [r["messages"][1]["content"] for r in fake_llm.requests_for(TEACHER)]
    assert len(carried) == 2  # one call per site, never one site's words in another's
    assert sorted(sorted(re.findall(r"From (\w) \d", text)) for text in carried) == [["a", "a"], ["b", "b"]]
    assert all(c.of_type("reply_end")[0]["text"] == "Hi, there." for c in clients)


def test_other_models_are_reached_at_their_own_provider() -> None:
    from server.llm import Gateway, ModelOptions

    gateway = Gateway(ModelOptions(model="fake-model", api_base="http://127.0.0.1:9/v1", api_key="k"))
    assert gateway.options_for("judge-model").api_base == "http://127.0.0.1:9/v1"  # a model of that server
    assert gateway.options_for("openai/gpt-4o").api_base is None  # its own provider's
    assert gateway.options_for("openai/gpt-4o").retries == 0 and gateway.options_for("x").fallbacks == ()
