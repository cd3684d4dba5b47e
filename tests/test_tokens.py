from __future__ import annotations

import base64
import datetime as dt
import json
import threading
from collections.abc import Iterator

import pytest

from pledge.errors import ConfigError, InputError, TokenExpired, TokenInvalid, TokenReplayed
from pledge.storage import Database
from pledge.tokens import TokenService

KEY = b"s" * 32
OLD = b"o" * 32
NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def tokens(clock: Clock) -> TokenService:
    return TokenService(KEY, clock=clock)


@pytest.fixture
def stored(db_url: str, clock: Clock) -> Iterator[TokenService]:
    db = Database(db_url)
    db.migrate()
    yield TokenService(KEY, db, clock=clock)
    db.dispose()


CLAIMS = {"s": "s_abc", "p": "newsletter", "c": "email"}


def test_round_trip(tokens: TokenService) -> None:
    token = tokens.issue("unsubscribe", CLAIMS, dt.timedelta(days=1))
    assert tokens.verify(token, "unsubscribe") == CLAIMS
    assert all(c.isalnum() or c in "-_." for c in token)  # safe in a URL as is
    assert tokens.issue("unsubscribe", CLAIMS, dt.timedelta(days=1)) != token  # unique ids


def test_every_single_character_flip_is_rejected(tokens: TokenService) -> None:
    token = tokens.issue("unsubscribe", CLAIMS, dt.timedelta(days=1))
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_."
    for i, original in enumerate(token):
        for replacement in (alphabet[(alphabet.index(original) + 1) % len(alphabet)], "é", "\x00"):
            tampered = token[:i] + replacement + token[i + 1 :]
            with pytest.raises(TokenInvalid):
                tokens.verify(tampered, "unsubscribe")
    # Every bit of every byte, too.
    raw = token.encode()
    for i in range(len(raw)):
        for bit in range(8):
            flipped = bytearray(raw)
            flipped[i] ^= 1 << bit
            with pytest.raises(TokenInvalid):
                tokens.verify(flipped.decode("latin-1"), "unsubscribe")


def test_forged_tokens_are_rejected(tokens: TokenService) -> None:
    forger = TokenService(b"x" * 32)
    forged = forger.issue("unsubscribe", CLAIMS, dt.timedelta(days=1))
    with pytest.raises(TokenInvalid):
        tokens.verify(forged, "unsubscribe")
    # A payload of one's own choosing with a signature lifted from a real token.
    real = tokens.issue("unsubscribe", CLAIMS, dt.timedelta(days=1))
    body = {
        "u": "unsubscribe",
        "i": "x",
        "x": 4_000_000_000,
        "c": {"s": "s_victim", "p": "newsletter", "c": "email"},
    }
    payload = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    with pytest.raises(TokenInvalid):
        tokens.verify(payload + "." + real.split(".")[1], "unsubscribe")


@pytest.mark.parametrize(
    "junk",
    ["", ".", "abc", "abc.", ".abc", "a.b.c", "x" * 5000, "é.é", "\x00", "a..b", " " + "a.b"],
)
def test_malformed_tokens_are_rejected(tokens: TokenService, junk: str) -> None:
    with pytest.raises(TokenInvalid):
        tokens.verify(junk, "unsubscribe")


def test_non_string_tokens_are_rejected(tokens: TokenService) -> None:
    with pytest.raises(TokenInvalid):
        tokens.verify(None, "unsubscribe")  # type: ignore[arg-type]
    with pytest.raises(TokenInvalid):
        tokens.verify(b"abc.def", "unsubscribe")  # type: ignore[arg-type]


def test_wrong_use_is_rejected(tokens: TokenService) -> None:
    token = tokens.issue("verify_email", CLAIMS, dt.timedelta(days=1))
    with pytest.raises(TokenInvalid, match="another use"):
        tokens.verify(token, "unsubscribe")


def test_expiry(tokens: TokenService, clock: Clock) -> None:
    token = tokens.issue("unsubscribe", CLAIMS, dt.timedelta(hours=1))
    clock.now = NOW + dt.timedelta(minutes=59)
    assert tokens.verify(token, "unsubscribe")
    clock.now = NOW + dt.timedelta(hours=1)
    with pytest.raises(TokenExpired):
        tokens.verify(token, "unsubscribe")


def test_keys_rotate(clock: Clock) -> None:
    before = TokenService(OLD, clock=clock)
    token = before.issue("unsubscribe", CLAIMS, dt.timedelta(days=1))
    after = TokenService(KEY, old_keys=[OLD], clock=clock)
    assert after.verify(token, "unsubscribe") == CLAIMS
    fresh = after.issue("unsubscribe", CLAIMS, dt.timedelta(days=1))
    with pytest.raises(TokenInvalid):
        before.verify(fresh, "unsubscribe")  # new tokens use the new key
    with pytest.raises(TokenInvalid):
        TokenService(KEY, clock=clock).verify(token, "unsubscribe")  # old key retired


def test_bad_configuration_and_arguments(tokens: TokenService) -> None:
    with pytest.raises(ConfigError):
        TokenService(b"short")
    with pytest.raises(ConfigError):
        TokenService(KEY, old_keys=[b"short"])
    with pytest.raises(InputError):
        tokens.issue("", CLAIMS, dt.timedelta(days=1))
    with pytest.raises(InputError):
        tokens.issue("unsubscribe", CLAIMS, dt.timedelta(0))
    with pytest.raises(InputError):
        tokens.issue("unsubscribe", {"n": 1}, dt.timedelta(days=1))  # type: ignore[dict-item]
    with pytest.raises(ConfigError):
        tokens.redeem(tokens.issue("unsubscribe", CLAIMS, dt.timedelta(days=1)), "unsubscribe")


def test_hostile_claims_survive_the_round_trip(tokens: TokenService) -> None:
    claims = {"q": "'; DROP TABLE x; --", "p": "100%", "u": "ünïcødé ☃ \u202e", "big": "x" * 2000}
    token = tokens.issue("unsubscribe", claims, dt.timedelta(days=1))
    assert tokens.verify(token, "unsubscribe") == claims


def test_redeem_once(stored: TokenService) -> None:
    token = stored.issue("unsubscribe", CLAIMS, dt.timedelta(days=1))
    assert stored.redeem(token, "unsubscribe") == CLAIMS
    with pytest.raises(TokenReplayed):
        stored.redeem(token, "unsubscribe")
    assert stored.verify(token, "unsubscribe") == CLAIMS  # verifying is not using


def test_redeem_in_a_rolled_back_transaction_can_be_retried(stored: TokenService) -> None:
    token = stored.issue("unsubscribe", CLAIMS, dt.timedelta(days=1))
    assert stored._db is not None
    with pytest.raises(ZeroDivisionError), stored._db.begin() as conn:
        stored.redeem(token, "unsubscribe", conn=conn)
        raise ZeroDivisionError
    assert stored.redeem(token, "unsubscribe") == CLAIMS


def test_concurrent_redemptions_have_one_winner(stored: TokenService, db_url: str, clock: Clock) -> None:
    token = stored.issue("unsubscribe", CLAIMS, dt.timedelta(days=1))
    outcomes: list[str] = []
    barrier = threading.Barrier(20)

    def redeem() -> None:
        db = Database(db_url)
        service = TokenService(KEY, db, clock=clock)
        barrier.wait()
        try:
            service.redeem(token, "unsubscribe")
            outcomes.append("won")
        except TokenReplayed:
            outcomes.append("replayed")
        finally:
            db.dispose()

    threads = [threading.Thread(target=redeem) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["replayed"] * 19 + ["won"]


def test_expired_redemptions_are_purged(stored: TokenService, clock: Clock) -> None:
    token = stored.issue("unsubscribe", CLAIMS, dt.timedelta(hours=1))
    stored.redeem(token, "unsubscribe")
    assert stored.purge_expired() == 0
    clock.now = NOW + dt.timedelta(hours=2)
    assert stored.purge_expired() == 1
    with pytest.raises(TokenExpired):  # and still cannot be replayed
        stored.redeem(token, "unsubscribe")
