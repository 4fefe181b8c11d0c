"""Analyzers (``index/analysis/``): each step alone, then each language on fixed examples."""

from __future__ import annotations

import threading

import pytest

from index import InvalidArgumentError, lexical_languages
from index.analysis import Analyzer
from index.analysis.languages import stopwords
from index.analysis.steps import Stem, drop_stopwords, normalise, tokenise


def test_steps_one_by_one() -> None:
    full_width = "\uff26\uff55\uff4c\uff4c"  # "Full" in full-width letters
    assert normalise(f"{full_width} \ufb01sh ÉTÉ") == "full fish été"  # NFKC, then lower case
    assert tokenise("don't-panic_2x, 3.5 café") == ["don", "t", "panic", "2x", "3", "5", "café"]
    assert drop_stopwords(["the", "cat", "of", "doom"], frozenset({"the", "of"})) == [
        "cat",
        "doom",
    ]
    assert Stem("english")(["running", "cities", "quickly"]) == ["run", "citi", "quick"]


@pytest.mark.parametrize(
    ("language", "text", "words", "terms"),
    [
        pytest.param(
            "english",
            "The runners were running quickly through the CITIES",
            ["runners", "running", "quickly", "cities"],
            ["runner", "run", "quick", "citi"],
            id="english",
        ),
        pytest.param(
            "german",
            "Die Kinder spielten in den Häusern",
            ["kinder", "spielten", "häusern"],
            ["kind", "spielt", "haus"],
            id="german",
        ),
        pytest.param(
            "french",
            "Les enfants jouaient dans les maisons",
            ["enfants", "jouaient", "maisons"],
            ["enfant", "jou", "maison"],
            id="french",
        ),
        pytest.param(
            "spanish",
            "Los niños jugaban en las casas",
            ["niños", "jugaban", "casas"],
            ["niñ", "jug", "cas"],
            id="spanish",
        ),
        pytest.param(
            "russian",
            "Дети играли в домах",
            ["дети", "играли", "домах"],
            ["дет", "игра", "дом"],
            id="russian",
        ),
        pytest.param(
            # Finnish has a stemmer but no stopword list here: nothing is dropped.
            "finnish",
            "Lapset leikkivät taloissa ja",
            ["lapset", "leikkivät", "taloissa", "ja"],
            ["laps", "leikkiv", "talo", "ja"],
            id="finnish-no-stopwords",
        ),
        pytest.param(
            "none",
            "The Runners were RUNNING",
            ["the", "runners", "were", "running"],
            ["the", "runners", "were", "running"],
            id="none",
        ),
    ],
)
def test_languages_on_fixed_examples(
    language: str, text: str, words: list[str], terms: list[str]
) -> None:
    analyzer = Analyzer.for_language(language)
    assert analyzer.words(text) == words
    assert analyzer.terms(text) == terms
    assert analyzer.terms_text(text) == " ".join(terms)


def test_every_snowball_language_builds_and_stems() -> None:
    assert lexical_languages()[0] == "none" and "english" in lexical_languages()
    for language in lexical_languages():
        assert Analyzer.for_language(language).terms("Café 42") != []


def test_english_stopwords_cover_the_pieces_of_contractions() -> None:
    english = stopwords("english")
    assert {"the", "and", "don", "t", "isn"} <= english
    assert "cat" not in english
    assert Analyzer.for_language("english").terms("Don't you know it isn't there?") == ["know"]


def test_an_unknown_language_is_refused_by_name() -> None:
    with pytest.raises(InvalidArgumentError) as caught:
        Analyzer("klingon")
    assert caught.value.param == "lexical.language"
    assert "english" in caught.value.message


def test_analyzers_are_safe_across_threads() -> None:
    """PyStemmer's stemmers keep state: each thread must get its own."""
    analyzer = Analyzer.for_language("english")
    words = [f"{stem}{suffix}" for stem in ("connect", "run", "happ") for suffix in ("ing", "s")]
    expected = analyzer.stems(words)
    errors: list[object] = []

    def work() -> None:
        for _ in range(2000):
            if analyzer.stems(words) != expected:
                errors.append(analyzer.stems(words))

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
