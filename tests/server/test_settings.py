"""Configuration layers (defaults < TOML < environment < CLI) and errors that name where and why."""

from __future__ import annotations

from pathlib import Path

import pytest

from server.llm import LOCAL_MODEL
from server.settings import ConfigError, Settings


def test_defaults_are_the_embedded_model() -> None:
    s = Settings.load({})
    options = s.model_options()
    assert s.model == LOCAL_MODEL and options.models == (LOCAL_MODEL,) and options.is_local


def test_layers_override_in_order(tmp_path: Path) -> None:
    config = tmp_path / "mien.toml"
    config.write_text(
        'model = "gpt-4o-mini"\nfallbacks = ["ollama/llama3.2"]\ntemperature = 0.2\nretries = 3\n'
    )
    s = Settings.load({"MIEN_CONFIG": str(config), "MIEN_TEMPERATURE": "0.9"})
    assert (s.model, s.fallbacks, s.temperature, s.retries) == ("gpt-4o-mini", ("ollama/llama3.2",), 0.9, 3)
    s = s.with_overrides(model="claude-3-5-haiku-latest", max_tokens=None)
    assert s.model == "claude-3-5-haiku-latest" and s.max_tokens == 192
    assert s.model_options().models == ("claude-3-5-haiku-latest", "ollama/llama3.2")


def test_env_fallbacks_are_comma_separated() -> None:
    s = Settings.load({"MIEN_FALLBACKS": "a/b, c/d"})
    assert s.fallbacks == ("a/b", "c/d")


def test_api_base_makes_bare_names_openai_compatible() -> None:
    s = Settings.load({"MIEN_API_BASE": "http://127.0.0.1:11434/v1", "MIEN_MODEL": "llama3.2"})
    assert s.model_options().litellm_model() == "openai/llama3.2"
    assert s.model_options().litellm_model("ollama/qwen") == "ollama/qwen"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("temperature = 'hot'", "temperature: a number"),
        ("temperature = 9", "between 0 and 2"),
        ("modle = 'x'", "unknown setting 'modle'"),
        ("fallbacks = 'x'", None),  # a comma string is accepted
        ("fallbacks = [1]", "a list of names"),
        ("require_key = 'maybe'", "true or false"),
        ("allowed_hosts = [1]", "a list of names"),
        ("max_tokens = 0", "between 1 and 32768"),
        ("model = [", "not valid TOML"),
    ],
)
def test_bad_config_names_file_key_and_reason(tmp_path: Path, body: str, needle: str | None) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(body + "\n")
    if needle is None:
        Settings().with_file(config)
        return
    with pytest.raises(ConfigError) as e:
        Settings().with_file(config)
    assert str(config) in str(e.value) and needle in str(e.value)


def test_bad_environment_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="MIEN_TIMEOUT"):
        Settings.load({"MIEN_TIMEOUT": "-1"})


def test_missing_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        Settings.load({"MIEN_CONFIG": str(tmp_path / "nope.toml")})


def test_voice_settings_layer_and_are_checked(tmp_path: Path) -> None:
    assert Settings.load({}).voice == "auto"
    config = tmp_path / "mien.toml"
    config.write_text('voice = "litellm:tts-1:alloy"\nvoice_api_base = "http://127.0.0.1:9/v1"\n')
    s = Settings.load({"MIEN_CONFIG": str(config), "MIEN_VOICE_API_KEY": "sk-voice"})
    assert (s.voice, s.voice_api_base, s.voice_api_key) == (
        "litellm:tts-1:alloy",
        "http://127.0.0.1:9/v1",
        "sk-voice",
    )
    s = Settings.load({"MIEN_CONFIG": str(config), "MIEN_VOICE": "piper:pitch=1.1"})
    assert s.voice == "piper:pitch=1.1"
    assert s.with_overrides(voice="espeak:en-us+f3").voice == "espeak:en-us+f3"
    assert s.with_overrides(voice="default").voice == "auto"


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ("voice = 'litellm:tts-1'", "voice: a cloud voice is litellm:MODEL:VOICE"),
        ("voice = 'piper:rate=9'", "voice: rate=9 must be between 0.5 and 2"),
        ("voice = 'espeak:xx-nowhere'", "voice: espeak-ng has no voice 'xx-nowhere'"),
        ("voice_timeout = 0", "voice_timeout: must be between"),
    ],
)
def test_bad_voice_setting_names_file_key_and_reason(tmp_path: Path, body: str, needle: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(body + "\n")
    with pytest.raises(ConfigError) as e:
        Settings().with_file(config)
    assert str(config) in str(e.value) and needle in str(e.value)
    with pytest.raises(ConfigError, match="MIEN_VOICE"):
        Settings.load({"MIEN_VOICE": "festival"})


def test_switches_and_lists_from_the_environment() -> None:
    s = Settings.load({"MIEN_REQUIRE_KEY": "yes", "MIEN_ALLOWED_HOSTS": "mien.example, chat.example"})
    assert s.require_key is True and s.allowed_hosts == ("mien.example", "chat.example")
    assert "mien.example" in s.hosts and "127.0.0.1" in s.hosts
    assert Settings.load({"MIEN_ERROR_DETAILS": "off"}).error_details is False
    with pytest.raises(ConfigError, match="MIEN_API_DOCS: api_docs: true or false"):
        Settings.load({"MIEN_API_DOCS": "sometimes"})
