"""Helpers to run semsearch for real in tests and benchmarks (as ``litestar.testing`` does).

``ServerProcess`` starts ``semsearch serve`` on a free loopback port; ``FaultUpstream`` is a
scripted OpenAI-compatible upstream on loopback that fails on cue. Neither is imported by the
service itself.
"""

from service.testing.server import LISTENING, ServerError, ServerProcess, clean_env
from service.testing.upstream import FaultUpstream, fake_tokens, fake_vector

__all__ = [
    "LISTENING",
    "FaultUpstream",
    "ServerError",
    "ServerProcess",
    "clean_env",
    "fake_tokens",
    "fake_vector",
]
