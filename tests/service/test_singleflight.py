from __future__ import annotations

import asyncio

import pytest

from service.embeddings.singleflight import SingleFlight


def test_second_claim_waits_for_the_first() -> None:
    async def run() -> None:
        flight: SingleFlight[str, int] = SingleFlight()
        owned, futures = flight.claim(["a", "b", "a"])
        assert owned == ["a", "b"] and list(futures) == ["a", "b"]
        owned2, futures2 = flight.claim(["b", "c"])
        assert owned2 == ["c"]
        assert futures2["b"] is futures["b"]
        flight.resolve("b", 42)
        assert await futures2["b"] == 42
        flight.fail(["a", "c"], RuntimeError("boom"))
        with pytest.raises(RuntimeError):
            await futures["a"]
        assert len(flight) == 0
        assert flight.claim(["a"])[0] == ["a"]  # a failure is not remembered

    asyncio.run(run())


def test_unawaited_failure_does_not_warn() -> None:
    async def run() -> None:
        flight: SingleFlight[str, int] = SingleFlight()
        flight.claim(["x"])
        flight.fail(["x"], RuntimeError("nobody listens"))

    asyncio.run(run())  # filterwarnings=error and no "exception never retrieved" log
