"""Batch splitting and usage sharing of the upstream client."""

from service.embeddings.schemas import MAX_INPUTS
from service.embeddings.upstream import estimate_tokens, share_tokens, split_batches


def test_split_respects_item_and_token_limits() -> None:
    assert split_batches(["x"] * 5000, 10**9) == [(0, 2048), (2048, 4096), (4096, 5000)]
    texts = ["word " * 30] * 10  # 51 estimated tokens each
    ranges = split_batches(texts, 120)
    assert ranges == [(0, 2), (2, 4), (4, 6), (6, 8), (8, 10)]
    assert split_batches(["a" * 10_000], 10) == [(0, 1)]  # one oversized input still goes
    assert all(b - a <= MAX_INPUTS for a, b in split_batches(["x"] * 9000, 10**9))


def test_share_tokens_sums_to_the_total() -> None:
    inputs = ["short", "a much longer text " * 5, "mid length text"]
    shares = share_tokens(inputs, 37)
    assert sum(shares) == 37 and shares[1] == max(shares)
    assert share_tokens([[1, 2, 3], [4]], 99) == [3, 1]  # token arrays count exactly
    assert estimate_tokens([1, 2]) == 2
