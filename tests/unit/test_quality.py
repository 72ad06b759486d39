"""QualityBook: users' scores over published ones, clouds' ids finding their maker's scores."""

from datetime import date
from decimal import Decimal

from marginlens.pricing.book import PriceBook
from marginlens.pricing.quality import QualityBook, QualityScore, UserScore, published, resolver


def user_score(key: str, index: str, score: str) -> UserScore:
    return UserScore(
        key,
        key,
        QualityScore(index, Decimal(score), "our eval", None, "2026-11-01", "user"),
        "2026-11-01T00:00:00Z",
    )


def test_a_users_score_wins_on_its_index_only() -> None:
    book = QualityBook(published(), [user_score("openai/gpt-4o-mini", "arena_text", "1111")])
    scores = book.scores("openai/gpt-4o-mini")
    assert scores["arena_text"].score == Decimal(1111) and scores["arena_text"].origin == "user"
    untouched = QualityBook(published()).scores("openai/gpt-4o")
    assert untouched["aa_intelligence"] == book.scores("openai/gpt-4o")["aa_intelligence"]


def test_a_model_without_a_score_is_unscored_not_zero() -> None:
    book = QualityBook(published())
    assert book.score("openai/gpt-4o-mini", "aider_polyglot") is None
    assert book.scores("acme/house-model") == {}
    assert "acme/house-model" not in book.candidates()
    assert (
        "house-llm" in QualityBook(published(), [user_score("house-llm", "arena_code", "1100")]).candidates()
    )


def test_cloud_ids_find_the_makers_published_scores() -> None:
    prices = PriceBook.baseline()
    book = QualityBook(published(), (), resolver(prices))
    haiku = book.score("anthropic/claude-3-haiku", "arena_text")
    assert haiku is not None
    bedrock = prices.resolve("us.anthropic.claude-3-haiku-20240307-v1:0")
    assert bedrock is not None and bedrock.ref.startswith("aws/")
    assert book.score(bedrock.ref, "arena_text") == haiku
    assert book.score("azure/gpt-4o", "arena_text") == book.score("openai/gpt-4o", "arena_text")
    assert QualityBook(published()).score(bedrock.ref, "arena_text") is None  # needs the price book


def test_every_published_score_carries_its_snapshots_source_and_date() -> None:
    data = published()
    for model in data.models:
        for score in model.scores.values():
            assert score.source_url and score.source == data.indexes[score.index].source
            assert date.fromisoformat(score.date).isoformat() == data.indexes[score.index].date
