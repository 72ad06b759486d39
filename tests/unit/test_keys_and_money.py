from decimal import Decimal

import pytest

from marginlens.auth.keys import KEY_LENGTH, generate_key, grants, hash_key, is_well_formed
from marginlens.core.money import money_str, pct


def test_generated_keys_are_well_formed_and_distinct() -> None:
    keys = {generate_key() for _ in range(200)}
    assert len(keys) == 200
    assert all(is_well_formed(key) and len(key) == KEY_LENGTH for key in keys)


def test_a_typo_breaks_the_checksum() -> None:
    key = generate_key()
    position = 10
    typo = key[:position] + ("A" if key[position] != "A" else "B") + key[position + 1 :]
    assert not is_well_formed(typo)
    assert not is_well_formed(key[:-1]) and not is_well_formed("sk_" + key[3:]) and not is_well_formed("")


def test_hash_is_sha256_hex() -> None:
    assert hash_key("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


@pytest.mark.parametrize(
    ("held", "needed", "allowed"),
    [
        ("admin", "read", True),
        ("admin", "ingest", True),
        ("read", "read", True),
        ("read", "ingest", False),
        ("ingest", "read", False),
        ("ingest", "admin", False),
        ("read", "admin", False),
    ],
)
def test_scopes(held: str, needed: str, allowed: bool) -> None:
    assert grants(held, needed) is allowed  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("0.000066", "0.000066"),
        ("8340", "8340.00"),
        ("-43.95", "-43.95"),
        ("0", "0.00"),
        ("1E+3", "1000.00"),
        ("12.3456000", "12.3456"),
        ("-0.5", "-0.50"),
    ],
)
def test_money_strings(amount: str, text: str) -> None:
    assert money_str(Decimal(amount)) == text


def test_percentages_round_half_even() -> None:
    assert pct(Decimal("-43.95"), Decimal("233.25")) == Decimal("-18.84")
    assert pct(Decimal("6.98"), Decimal("134.29")) == Decimal("5.20")
    assert pct(Decimal("0.125"), Decimal("100")) == Decimal("0.12")  # half-even, not half-up
    assert pct(Decimal(1), Decimal(0)) is None


class CountingClient:
    """A DynamoDB client that knows no key: counts the reads authentication makes."""

    def __init__(self) -> None:
        self.reads = 0

    def get_item(self, **_: object) -> dict[str, object]:
        self.reads += 1
        return {}


def test_the_key_cache_is_bounded_and_forgets_unknown_keys_soon() -> None:
    from marginlens.auth.keys import MAX_CACHED_KEYS, NEGATIVE_CACHE_SECONDS, KeyStore, generate_key

    now = [0.0]
    client = CountingClient()
    store = KeyStore(client, "t", cache_seconds=30, clock=lambda: now[0])  # type: ignore[arg-type]
    fakes = [generate_key() for _ in range(MAX_CACHED_KEYS * 3)]  # valid checksums, unknown keys
    for fake in fakes:
        assert store.authenticate(fake) is None
    assert len(store._cache) == MAX_CACHED_KEYS  # bounded: the oldest were evicted
    assert client.reads == len(fakes)
    assert store.authenticate(fakes[-1]) is None and client.reads == len(fakes)  # a burst: cached
    now[0] += NEGATIVE_CACHE_SECONDS + 0.1
    assert store.authenticate(fakes[-1]) is None and client.reads == len(fakes) + 1  # forgotten soon


def test_money_reads_whatever_dynamodb_can_hold() -> None:
    from decimal import Decimal

    from marginlens.core.money import money_str, pct

    assert money_str(Decimal("9.9999999999999999999999999999999999999E+125")) == "9" * 38 + "0" * 88 + ".00"
    assert money_str(Decimal("1E+30")) == "1" + "0" * 30 + ".00"
    assert pct(Decimal("1E+40"), Decimal(1)) == Decimal("1E+42").quantize(Decimal("0.01"))
