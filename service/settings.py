"""Service configuration: read once from CLI flags and ``SEMSEARCH_*`` variables, then frozen.

Usage::

    settings = Settings.load(flags={"port": 0}, environ=os.environ)

``SETTINGS`` is the single table of every setting (name, variable, default, help). The CLI builds
its flags from it, ``semsearch serve --help`` prints it, and ``tests/service/test_settings.py``
checks that README.md documents each variable. Precedence: flag, then variable, then default.
Nothing else in the service reads ``os.environ``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import msgspec

ENV_PREFIX = "SEMSEARCH_"
LOCAL_MODEL_ID = "wordllama-l2-supercat"


class SettingsError(ValueError):
    """Bad configuration; raised at start-up so the process refuses to run."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the service reads from its environment. Field docs live in ``SETTINGS``."""

    host: str = "127.0.0.1"
    """Interface to bind."""
    port: int = 8000
    """TCP port; 0 picks a free one (printed on stdout once ready)."""
    data_dir: Path = Path("./data")
    """Directory for the embedding cache and, later, the index store."""
    api_keys: tuple[str, ...] = ()
    """Client bearer keys; empty means no auth."""
    upstream_url: str | None = None
    """Base URL of an OpenAI-compatible API (ending in /v1)."""
    upstream_api_key: str | None = None
    """Bearer key sent upstream; never logged."""
    upstream_models: tuple[str, ...] = ()
    """Model ids always routed upstream."""
    default_model: str = LOCAL_MODEL_ID
    """Model used when a caller (the search API) names none."""
    cache_max_mb: float = 1024.0
    """Size bound of the persistent embedding cache; 0 disables it."""
    upstream_timeout: float = 30.0
    """Seconds per upstream HTTP request before it counts as a timeout."""
    upstream_max_retries: int = 4
    """Retries after the first upstream attempt on 429, 5xx, connect errors, timeouts."""
    upstream_backoff: float = 0.5
    """Base of the exponential backoff, in seconds (full jitter)."""
    upstream_backoff_max: float = 20.0
    """Ceiling on one wait, including a Retry-After the upstream asks for."""
    upstream_concurrency: int = 8
    """Upstream requests in flight at once, across all clients."""
    upstream_batch_tokens: int = 100_000
    """Estimated token budget of one upstream request (inputs are also capped at 2048)."""
    max_body_mb: float = 64.0
    """Largest accepted request body; larger gets 413."""
    max_file_mb: float = 512.0
    """Largest file accepted by ``POST /v1/files``, checked while it streams in."""
    max_documents_per_request: int = 2048
    """Documents one ingest request may carry; more gets 413."""
    log_level: str = "info"
    """Python logging level name."""

    @classmethod
    def load(
        cls, flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Merge flags (``None`` = not given), variables and defaults, then validate."""
        flags = flags or {}
        environ = environ if environ is not None else {}
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = flags.get(setting.name)
            source = f"--{setting.flag}"
            if raw is None:
                raw = environ.get(setting.env) or None
                source = setting.env
            if raw is None and setting.fallback_env:
                raw = environ.get(setting.fallback_env) or None
                source = setting.fallback_env
            if raw is None:
                continue
            try:
                values[setting.name] = setting.parse(raw) if isinstance(raw, str) else raw
            except ValueError as exc:
                raise SettingsError(f"{source}: {exc}") from None
        try:
            settings = msgspec.convert(values, cls, strict=False, dec_hook=_dec_hook)
        except msgspec.ValidationError as exc:
            raise SettingsError(str(exc)) from None
        settings.validate()
        return settings

    def validate(self) -> None:
        """Fail fast on values that would only break later, on the first request."""
        if not 0 <= self.port <= 65535:
            raise SettingsError(f"SEMSEARCH_PORT: {self.port} is not a TCP port (0..65535)")
        if self.upstream_url is not None:
            parts = urlsplit(self.upstream_url)
            if parts.scheme not in ("http", "https") or not parts.netloc:
                raise SettingsError(
                    "SEMSEARCH_UPSTREAM_URL: expected an http(s) base URL such as "
                    f"https://api.openai.com/v1, got {self.upstream_url!r}"
                )
        if self.upstream_models and self.upstream_url is None:
            raise SettingsError(
                "SEMSEARCH_UPSTREAM_MODELS is set but SEMSEARCH_UPSTREAM_URL is not"
            )
        if not self.default_model:
            raise SettingsError("SEMSEARCH_DEFAULT_MODEL must not be empty")
        if (
            self.default_model != LOCAL_MODEL_ID
            and self.default_model not in self.upstream_models
            and not (self.upstream_url and not self.upstream_models)
            and not self.default_model.startswith("ft:")
        ):
            raise SettingsError(
                f"SEMSEARCH_DEFAULT_MODEL: {self.default_model!r} is neither the local model "
                f"{LOCAL_MODEL_ID!r} nor served by the configured upstream"
            )
        checks = (
            ("SEMSEARCH_CACHE_MAX_MB", self.cache_max_mb >= 0, ">= 0"),
            ("SEMSEARCH_UPSTREAM_TIMEOUT", self.upstream_timeout > 0, "> 0"),
            ("SEMSEARCH_UPSTREAM_MAX_RETRIES", self.upstream_max_retries >= 0, ">= 0"),
            ("SEMSEARCH_UPSTREAM_BACKOFF", self.upstream_backoff >= 0, ">= 0"),
            ("SEMSEARCH_UPSTREAM_BACKOFF_MAX", self.upstream_backoff_max >= 0, ">= 0"),
            ("SEMSEARCH_UPSTREAM_CONCURRENCY", self.upstream_concurrency >= 1, ">= 1"),
            ("SEMSEARCH_UPSTREAM_BATCH_TOKENS", self.upstream_batch_tokens >= 1, ">= 1"),
            ("SEMSEARCH_MAX_BODY_MB", self.max_body_mb > 0, "> 0"),
            ("SEMSEARCH_MAX_FILE_MB", self.max_file_mb > 0, "> 0"),
            ("SEMSEARCH_MAX_DOCUMENTS_PER_REQUEST", self.max_documents_per_request >= 1, ">= 1"),
        )
        for env, ok, rule in checks:
            if not ok:
                raise SettingsError(f"{env}: must be {rule}")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise SettingsError(f"SEMSEARCH_LOG_LEVEL: unknown level {self.log_level!r}")

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with secrets masked, safe to log."""
        out: dict[str, Any] = msgspec.to_builtins(self, enc_hook=str)
        for setting in SETTINGS:
            if setting.secret and out.get(setting.name):
                out[setting.name] = "***"
        return out


def _dec_hook(type_: type, obj: Any) -> Any:
    if type_ is Path:
        return Path(obj)
    raise NotImplementedError


def _csv(raw: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in raw.split(",") if item.strip())


def _int(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"expected an integer, got {raw!r}") from None


def _float(raw: str) -> float:
    try:
        return float(raw)
    except ValueError:
        raise ValueError(f"expected a number, got {raw!r}") from None


def _str(raw: str) -> str:
    return raw


class Setting(msgspec.Struct, frozen=True, kw_only=True):
    """One row of the settings table."""

    name: str
    help: str
    parse: Callable[[str], Any] = _str
    secret: bool = False
    """Secrets have no CLI flag: a command line is visible to every user via ``ps``."""
    fallback_env: str | None = None

    @property
    def env(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def flag(self) -> str | None:
        return None if self.secret else self.name.replace("_", "-")

    @property
    def default(self) -> Any:
        return Settings.__struct_defaults__[Settings.__struct_fields__.index(self.name)]


SETTINGS: tuple[Setting, ...] = (
    Setting(name="host", help="Interface to bind."),
    Setting(name="port", parse=_int, help="TCP port; 0 binds a free port and prints it."),
    Setting(name="data_dir", parse=Path, help="Directory for the embedding cache and the index."),
    Setting(
        name="api_keys",
        parse=_csv,
        secret=True,
        help="Comma-separated bearer keys clients must send; unset means no auth.",
    ),
    Setting(
        name="upstream_url", help="OpenAI-compatible base URL, e.g. https://api.openai.com/v1."
    ),
    Setting(
        name="upstream_api_key",
        secret=True,
        fallback_env="OPENAI_API_KEY",
        help="Bearer key for the upstream (falls back to OPENAI_API_KEY); never logged.",
    ),
    Setting(
        name="upstream_models",
        parse=_csv,
        help="Comma-separated model ids always sent upstream (wins over local ids). "
        "Empty: unknown ids go upstream when an upstream is set.",
    ),
    Setting(name="default_model", help="Model used when a caller names none."),
    Setting(
        name="cache_max_mb",
        parse=_float,
        help="Size bound of the persistent upstream embedding cache (LRU); 0 disables it.",
    ),
    Setting(name="upstream_timeout", parse=_float, help="Seconds per upstream request."),
    Setting(
        name="upstream_max_retries",
        parse=_int,
        help="Retries on upstream 429, 5xx, connect errors and timeouts.",
    ),
    Setting(name="upstream_backoff", parse=_float, help="Base seconds of the exponential backoff."),
    Setting(
        name="upstream_backoff_max",
        parse=_float,
        help="Longest single wait in seconds, Retry-After included.",
    ),
    Setting(name="upstream_concurrency", parse=_int, help="Upstream requests in flight at once."),
    Setting(
        name="upstream_batch_tokens",
        parse=_int,
        help="Estimated tokens per upstream request; larger batches are split.",
    ),
    Setting(name="max_body_mb", parse=_float, help="Largest request body accepted (else 413)."),
    Setting(
        name="max_file_mb",
        parse=_float,
        help="Largest upload to /v1/files (else 413), enforced while streaming.",
    ),
    Setting(
        name="max_documents_per_request",
        parse=_int,
        help="Documents one ingest request may carry (else 413).",
    ),
    Setting(name="log_level", help="Logging level: debug, info, warning, error."),
)

if {s.name for s in SETTINGS} != set(Settings.__struct_fields__):  # pragma: no cover
    raise RuntimeError("SETTINGS and Settings fields disagree")
