"""Settings: precedence, fallbacks, start-up validation, and docs that cover every variable."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from service.cli import build_parser
from service.client import CLIENT_SETTINGS
from service.settings import SETTINGS, Settings, SettingsError

README = Path(__file__).resolve().parents[2] / "README.md"


def test_defaults_with_a_clean_environment(clean_environ: dict[str, str]) -> None:
    settings = Settings.load({}, {})
    assert (settings.host, settings.port, settings.data_dir) == ("127.0.0.1", 8000, Path("data"))
    assert settings.api_keys == () and settings.upstream_url is None


def test_flag_beats_variable_beats_default() -> None:
    env = {"SEMSEARCH_PORT": "9000", "SEMSEARCH_HOST": "0.0.0.0"}
    settings = Settings.load({"port": "0"}, env)
    assert settings.port == 0 and settings.host == "0.0.0.0"


def test_lists_and_key_fallback() -> None:
    env = {
        "SEMSEARCH_API_KEYS": " a, b ,,",
        "SEMSEARCH_UPSTREAM_URL": "http://127.0.0.1:9/v1",
        "SEMSEARCH_UPSTREAM_MODELS": "m1,m2",
        "OPENAI_API_KEY": "sk-fallback",
    }
    settings = Settings.load({}, env)
    assert settings.api_keys == ("a", "b")
    assert settings.upstream_models == ("m1", "m2")
    assert settings.upstream_api_key == "sk-fallback"
    own = Settings.load({}, {**env, "SEMSEARCH_UPSTREAM_API_KEY": "sk-own"})
    assert own.upstream_api_key == "sk-own"
    assert "sk-own" not in str(own.redacted()) and "'a'" not in str(own.redacted())


@pytest.mark.parametrize(
    ("env", "message"),
    [
        pytest.param({"SEMSEARCH_PORT": "http"}, "SEMSEARCH_PORT", id="port-not-int"),
        pytest.param({"SEMSEARCH_PORT": "70000"}, "SEMSEARCH_PORT", id="port-range"),
        pytest.param({"SEMSEARCH_UPSTREAM_URL": "api.openai.com"}, "UPSTREAM_URL", id="url"),
        pytest.param({"SEMSEARCH_UPSTREAM_MODELS": "m"}, "UPSTREAM_URL is not", id="no-url"),
        pytest.param({"SEMSEARCH_CACHE_MAX_MB": "-1"}, "CACHE_MAX_MB", id="cache-negative"),
        pytest.param({"SEMSEARCH_CACHE_MAX_MB": "lots"}, "CACHE_MAX_MB", id="cache-nan"),
        pytest.param({"SEMSEARCH_DEFAULT_MODEL": "gpt-x"}, "DEFAULT_MODEL", id="default-model"),
        pytest.param({"SEMSEARCH_UPSTREAM_CONCURRENCY": "0"}, "CONCURRENCY", id="concurrency"),
        pytest.param({"SEMSEARCH_LOG_LEVEL": "loud"}, "LOG_LEVEL", id="log-level"),
    ],
)
def test_bad_configuration_is_rejected(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.load({}, env)


def test_default_model_may_be_any_id_when_upstream_takes_all() -> None:
    env = {"SEMSEARCH_UPSTREAM_URL": "https://example.test/v1", "SEMSEARCH_DEFAULT_MODEL": "m"}
    assert Settings.load({}, env).default_model == "m"


def test_every_field_has_a_row_with_help() -> None:
    assert [s.name for s in SETTINGS] == list(Settings.__struct_fields__)
    assert all(s.help and s.env.startswith("SEMSEARCH_") for s in SETTINGS)


def test_serve_help_names_every_variable() -> None:
    parser = build_parser()
    serve = parser._subparsers._group_actions[0].choices["serve"]
    text = re.sub(r"\s+", " ", serve.format_help())
    for setting in SETTINGS:
        assert setting.env in text
    assert "OPENAI_API_KEY" in text


def test_readme_documents_every_variable() -> None:
    text = README.read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    for setting in SETTINGS:
        assert f"`{setting.env}`" in section, f"README.md Configuration lacks {setting.env}"
    assert "`OPENAI_API_KEY`" in section


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        pytest.param("SEMSEARCH_PORT", "-1", "must be >= 0, got -1", id="port-low"),
        pytest.param("SEMSEARCH_UPSTREAM_TIMEOUT", "0", "must be > 0.0, got 0.0", id="timeout"),
        pytest.param("SEMSEARCH_UPSTREAM_MAX_RETRIES", "-1", "must be >= 0", id="retries"),
        pytest.param("SEMSEARCH_UPSTREAM_BACKOFF", "-0.5", "must be >= 0.0", id="backoff"),
        pytest.param("SEMSEARCH_UPSTREAM_BATCH_TOKENS", "0", "must be >= 1", id="batch-tokens"),
        pytest.param("SEMSEARCH_MAX_BODY_MB", "0", "must be > 0.0", id="body"),
        pytest.param("SEMSEARCH_MAX_FILE_MB", "-2", "must be > 0.0", id="file"),
        pytest.param("SEMSEARCH_MAX_DOCUMENTS_PER_REQUEST", "0", "must be >= 1", id="documents"),
    ],
)
def test_bounds_come_from_the_fields_and_name_the_variable(
    env: str, value: str, message: str
) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.load({}, {env: value})
    assert str(info.value).startswith(f"{env}: {message}")


def test_readme_table_agrees_with_the_settings_on_flags_and_defaults() -> None:
    """README's table and ``semsearch serve --help`` come from the same rows: flag, default."""
    text = README.read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip("|").split("|")]
        if len(cells) == 4 and cells[0].startswith("SEMSEARCH_"):
            rows[cells[0]] = cells[1], cells[2]
    for setting in SETTINGS:
        flag, default = rows[setting.env]
        assert flag == (f"--{setting.flag}" if setting.flag else "(env only)"), setting.env
        if setting.fallback_env:
            assert default == setting.fallback_env
        elif setting.default in (None, ()):
            assert default == "unset", setting.env
        elif isinstance(setting.default, float | int):
            assert float(default) == setting.default, setting.env
        else:
            assert Path(default) == Path(setting.default), setting.env


def test_readme_documents_the_client_variables() -> None:
    section = README.read_text().split("## Command line", 1)[1].split("\n## ", 1)[0]
    for setting in CLIENT_SETTINGS:
        assert f"`{setting.env}`" in section and f"--{setting.flag}" in section, setting.env
