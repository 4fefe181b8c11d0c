"""Service configuration: read once from CLI flags and ``SEMSEARCH_*`` variables, then frozen.

Usage::

    settings = Settings.load(flags={"port": 0}, environ=os.environ)

Each field of ``Settings`` says everything about its setting in one place: type, default, and a
``Meta`` with the description (``--help`` and the docs test read it) and the bounds, which
``msgspec.convert`` checks as it builds the object. ``SETTINGS`` is the table made from those
fields (name, variable, flag, default, help): the CLI builds its flags from it, ``semsearch serve
--help`` prints it, and ``tests/service/test_settings.py`` checks that README.md documents each
variable. The CLI client reads ``SEMSEARCH_URL``/``SEMSEARCH_API_KEY`` through the same
machinery (``service/client.py``). Precedence: flag, then variable, then default. Nothing else in
the service reads ``os.environ``.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from types import NoneType, UnionType
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin, get_type_hints
from urllib.parse import urlsplit

import msgspec
from msgspec import Meta

ENV_PREFIX = "SEMSEARCH_"
LOCAL_MODEL_ID = "wordllama-l2-supercat"
#: ``Meta(extra=...)`` of a secret: masked in logs, and no CLI flag (``ps`` shows command lines).
SECRET = {"secret": True, "env_only": True}

S = TypeVar("S", bound=msgspec.Struct)


class SettingsError(ValueError):
    """Bad configuration; raised at start-up so the process refuses to run."""


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the service reads from its environment (one row of ``SETTINGS`` a field)."""

    host: Annotated[str, Meta(description="Interface to bind.")] = "127.0.0.1"
    port: Annotated[
        int, Meta(ge=0, le=65535, description="TCP port; 0 binds a free port and prints it.")
    ] = 8000
    data_dir: Annotated[
        Path,
        Meta(
            description="Directory for the index, the embedding cache, uploaded files, "
            "fine-tuning jobs and batches."
        ),
    ] = Path("./data")
    api_keys: Annotated[
        tuple[str, ...],
        Meta(
            description="Comma-separated bearer keys clients must send; unset means no auth.",
            extra=SECRET,
        ),
    ] = ()
    upstream_url: Annotated[
        str | None,
        Meta(description="OpenAI-compatible base URL, e.g. https://api.openai.com/v1."),
    ] = None
    upstream_api_key: Annotated[
        str | None,
        Meta(
            description="Bearer key for the upstream (falls back to OPENAI_API_KEY); never logged.",
            extra={**SECRET, "fallback_env": "OPENAI_API_KEY"},
        ),
    ] = None
    upstream_models: Annotated[
        tuple[str, ...],
        Meta(
            description="Comma-separated model ids always sent upstream (wins over local ids). "
            "Empty: unknown ids go upstream when an upstream is set."
        ),
    ] = ()
    default_model: Annotated[
        str, Meta(description="Model used when a caller (the search API) names none.")
    ] = LOCAL_MODEL_ID
    cache_max_mb: Annotated[
        float,
        Meta(
            ge=0,
            description="Size bound of the persistent upstream embedding cache (LRU); "
            "0 disables it.",
        ),
    ] = 1024.0
    upstream_timeout: Annotated[float, Meta(gt=0, description="Seconds per upstream request.")] = (
        30.0
    )
    upstream_max_retries: Annotated[
        int, Meta(ge=0, description="Retries on upstream 429, 5xx, connect errors and timeouts.")
    ] = 4
    upstream_backoff: Annotated[
        float, Meta(ge=0, description="Base seconds of the exponential backoff (full jitter).")
    ] = 0.5
    upstream_backoff_max: Annotated[
        float, Meta(ge=0, description="Longest single wait in seconds, Retry-After included.")
    ] = 20.0
    upstream_concurrency: Annotated[
        int, Meta(ge=1, description="Upstream requests in flight at once, across all clients.")
    ] = 8
    upstream_batch_tokens: Annotated[
        int,
        Meta(
            ge=1,
            description="Estimated tokens per upstream request (also at most 2048 inputs); "
            "larger batches are split.",
        ),
    ] = 100_000
    forward_timeout: Annotated[
        float,
        Meta(
            gt=0,
            description="Seconds a forwarded request (chat, completions, any /v1 route served "
            "upstream) may wait for the upstream's next bytes: its answer, or a stream's next "
            "chunk; a generation that keeps streaming is never cut.",
        ),
    ] = 600.0
    max_body_mb: Annotated[
        float, Meta(gt=0, description="Largest request body accepted (else 413).")
    ] = 64.0
    max_file_mb: Annotated[
        float,
        Meta(gt=0, description="Largest upload to /v1/files (else 413), enforced while streaming."),
    ] = 512.0
    max_documents_per_request: Annotated[
        int, Meta(ge=1, description="Documents one ingest request may carry (else 413).")
    ] = 2048
    log_level: Annotated[str, Meta(description="Logging level: debug, info, warning, error.")] = (
        "info"
    )
    ray_address: Annotated[
        str | None,
        Meta(
            description="Run on Ray (the ray extra): a cluster address such as 10.0.0.5:6379, "
            "or auto to start a local Ray on 127.0.0.1 with token auth. Enables sharded "
            "collections (POST /collections with shards).",
            extra={"flag": "ray"},
        ),
    ] = None
    ray_timeout: Annotated[
        float,
        Meta(
            gt=0,
            description="Seconds a call to a shard may take on Ray before the request gets 503 "
            "with Retry-After.",
        ),
    ] = 30.0

    @classmethod
    def load(
        cls, flags: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Merge flags (``None`` = not given), variables and defaults, then validate."""
        settings = load_settings(cls, SETTINGS, flags, environ)
        settings.validate()
        return settings

    def validate(self) -> None:
        """Fail fast on values that would only break later, on the first request (the bounds
        of single values are their fields' ``Meta``, checked by ``load_settings``)."""
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
        if self.ray_address is not None:
            if not self.ray_address.strip():
                raise SettingsError("SEMSEARCH_RAY_ADDRESS must not be empty")
            # Looked up, not imported: Ray is the optional ray extra (service/cluster/).
            if importlib.util.find_spec("ray") is None:
                raise SettingsError(
                    "SEMSEARCH_RAY_ADDRESS is set but Ray is not installed: pip install "
                    '"semsearch[ray]"'
                )
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise SettingsError(f"SEMSEARCH_LOG_LEVEL: unknown level {self.log_level!r}")

    def redacted(self) -> dict[str, Any]:
        """The settings as a dict with secrets masked, safe to log."""
        out: dict[str, Any] = msgspec.to_builtins(self, enc_hook=str)
        for setting in SETTINGS:
            if setting.secret and out.get(setting.name):
                out[setting.name] = "***"
        return out


# -- the table ----------------------------------------------------------------------------------


class Setting(msgspec.Struct, frozen=True, kw_only=True):
    """One row of a settings table, read off one field of a settings Struct."""

    name: str
    env: str
    help: str
    default: Any
    parse: Callable[[str], Any]
    secret: bool = False
    env_only: bool = False
    fallback_env: str | None = None
    flag_name: str | None = None

    @property
    def flag(self) -> str | None:
        if self.env_only:
            return None
        return self.flag_name or self.name.replace("_", "-")


def settings_table(cls: type[msgspec.Struct], prefix: str = ENV_PREFIX) -> tuple[Setting, ...]:
    """The rows of ``cls``: every field is ``Annotated[type, Meta(description=...)]`` with a
    default; ``Meta(extra=...)`` may mark it ``secret``/``env_only`` or name a
    ``fallback_env``."""
    hints = get_type_hints(cls, include_extras=True)
    fields, defaults = cls.__struct_fields__, cls.__struct_defaults__
    if len(defaults) != len(fields):
        raise TypeError(f"every field of {cls.__name__} needs a default")
    rows = []
    for name, default in zip(fields, defaults, strict=True):
        base, meta = _unwrap(hints[name])
        extra = meta.extra or {}
        rows.append(
            Setting(
                name=name,
                env=prefix + name.upper(),
                help=meta.description or "",
                default=default,
                parse=_parser(base),
                secret=bool(extra.get("secret")),
                env_only=bool(extra.get("env_only")),
                fallback_env=extra.get("fallback_env"),
                flag_name=extra.get("flag"),
            )
        )
    return tuple(rows)


def load_settings(
    cls: type[S],
    table: tuple[Setting, ...],
    flags: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> S:
    """``cls`` from flags (``None`` = not given), then variables, then defaults. A value that
    does not parse or breaks its field's bounds is a ``SettingsError`` naming its source."""
    flags = flags or {}
    environ = environ if environ is not None else {}
    values: dict[str, Any] = {}
    for setting in table:
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
        return msgspec.convert(values, cls, strict=False, dec_hook=_dec_hook)
    except msgspec.ValidationError as exc:
        raise SettingsError(_explain(str(exc), table, values)) from None


_AT = re.compile(r"^(?P<message>.*) - at `\$\.(?P<field>\w+)`$")
_BOUND = re.compile(r"^Expected `\w+` (?P<rule>[<>]=? \S+)$")


def _explain(error: str, table: tuple[Setting, ...], values: Mapping[str, Any]) -> str:
    """msgspec's "Expected `int` >= 1 - at `$.upstream_concurrency`" as
    "SEMSEARCH_UPSTREAM_CONCURRENCY: must be >= 1, got 0"."""
    at = _AT.match(error)
    if at is None:
        return error
    field = at.group("field")
    env = next((s.env for s in table if s.name == field), field)
    bound = _BOUND.match(at.group("message"))
    if bound is None:
        return f"{env}: {at.group('message')}"
    return f"{env}: must be {bound.group('rule')}, got {values.get(field)!r}"


def _unwrap(hint: Any) -> tuple[Any, Meta]:
    """``Annotated[T | None, Meta(...)]`` -> ``(T, the Meta)``."""
    if get_origin(hint) is not Annotated:
        raise TypeError(f"a setting needs Annotated[type, Meta(description=...)], got {hint}")
    base, *annotations = get_args(hint)
    meta = next((a for a in annotations if isinstance(a, Meta)), None)
    if meta is None or not meta.description:
        raise TypeError(f"a setting needs a Meta(description=...), got {hint}")
    if get_origin(base) in (Union, UnionType):
        base = next(arg for arg in get_args(base) if arg is not NoneType)
    return base, meta


def _parser(base: Any) -> Callable[[str], Any]:
    if base == tuple[str, ...]:
        return _csv
    parsers: dict[Any, Callable[[str], Any]] = {str: _str, int: _int, float: _float, Path: Path}
    return parsers[base]


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


SETTINGS: tuple[Setting, ...] = settings_table(Settings)
