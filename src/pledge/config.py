"""Settings: one typed object built at the edge (CLI, app factory, worker) and passed down.

Nothing in the core reads the environment. ``Settings.from_env`` is for the edges only.
Secrets never live in the repository: when none is given, a random one is created once in the
data directory (mode 0600) and reused, so tokens stay valid across restarts.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
from dataclasses import dataclass, field, replace
from pathlib import Path

from pledge.errors import ConfigError

__all__ = ["Secrets", "Settings", "SmtpSettings", "load_or_create_secrets"]


@dataclass(frozen=True, slots=True)
class SmtpSettings:
    host: str | None = None
    """None means: write messages to ``outbox`` as .eml files instead of sending."""
    port: int = 25
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = False
    sender: str = "privacy@localhost"
    outbox: Path = Path(".pledge/outbox")


@dataclass(frozen=True, slots=True)
class Secrets:
    signing_key: bytes = field(repr=False)
    """HMAC key for tokens (unsubscribe, verification, sessions)."""
    hash_key: bytes = field(repr=False)
    """Key for keyed hashes of personal data (erasure by hash, IP hashing); separate so rotating
    token keys does not change stored pseudonyms."""
    master_key: bytes = field(repr=False)
    """Wraps per-subject data keys for field encryption (32 bytes, AES-256)."""
    admin_key: str = field(repr=False)
    """API key for the admin API and console."""


@dataclass(frozen=True, slots=True)
class Settings:
    db_url: str = "sqlite:///.pledge/pledge.db"
    data_dir: Path = Path(".pledge")
    declaration: Path | None = None
    base_url: str = "http://127.0.0.1:8000"
    smtp: SmtpSettings = SmtpSettings()
    secrets: Secrets | None = None
    log_allowed_decisions: bool = False
    """Log every allowed decision one by one in the audit log (default: counted per purpose/category)."""
    worker: str = "inline"
    """``inline`` runs request steps in-process; ``dramatiq`` sends them to the broker."""
    broker_url: str = "redis://127.0.0.1:6379/0"
    audit_signing_key: Path | None = None
    """Ed25519 key (PEM) that signs audit tree heads; default ``data_dir/audit-signing-key.pem``,
    created once with mode 0600."""
    verification_expiry: dt.timedelta | None = dt.timedelta(days=30)
    """A request never verified is closed (rejected, ``verification_expired``) this long after it
    arrived, and the identities sealed in it are wiped; None keeps waiting forever."""

    def with_secrets(self) -> Settings:
        if self.secrets is not None:
            return self
        return replace(self, secrets=load_or_create_secrets(self.data_dir))

    @property
    def keys(self) -> Secrets:
        if self.secrets is None:
            raise ConfigError("settings have no secrets yet", hint="call Settings.with_secrets() at the edge")
        return self.secrets

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Settings:
        env = dict(os.environ if environ is None else environ)
        data_dir = Path(env.get("PLEDGE_DATA_DIR", ".pledge"))
        smtp = SmtpSettings(
            host=env.get("PLEDGE_SMTP_HOST") or None,
            port=_int(env, "PLEDGE_SMTP_PORT", 25),
            username=env.get("PLEDGE_SMTP_USER") or None,
            password=env.get("PLEDGE_SMTP_PASSWORD") or None,
            starttls=env.get("PLEDGE_SMTP_STARTTLS", "").lower() in ("1", "true", "yes"),
            sender=env.get("PLEDGE_SMTP_SENDER", "privacy@localhost"),
            outbox=Path(env.get("PLEDGE_OUTBOX", str(data_dir / "outbox"))),
        )
        values: dict[str, object] = {
            "db_url": env.get("PLEDGE_DB_URL", f"sqlite:///{data_dir / 'pledge.db'}"),
            "data_dir": data_dir,
            "declaration": Path(env["PLEDGE_DECLARATION"]) if env.get("PLEDGE_DECLARATION") else None,
            "base_url": env.get("PLEDGE_BASE_URL", "http://127.0.0.1:8000"),
            "smtp": smtp,
            "worker": env.get("PLEDGE_WORKER", "inline"),
            "broker_url": env.get("PLEDGE_BROKER_URL", "redis://127.0.0.1:6379/0"),
            "audit_signing_key": Path(env["PLEDGE_AUDIT_SIGNING_KEY"])
            if env.get("PLEDGE_AUDIT_SIGNING_KEY")
            else None,
            "log_allowed_decisions": env.get("PLEDGE_LOG_ALLOWED_DECISIONS", "").lower() in ("1", "true"),
            "verification_expiry": _expiry(env, "PLEDGE_VERIFICATION_EXPIRY", dt.timedelta(days=30)),
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from None


def _expiry(env: dict[str, str], name: str, default: dt.timedelta) -> dt.timedelta | None:
    """An ISO 8601 duration (``P30D``, ``P6W``, ``PT12H``), or ``off`` for never."""
    from pledge.declaration.durations import parse_duration

    raw = env.get(name, "").strip()
    if not raw:
        return default
    if raw.lower() in ("off", "never", "none"):
        return None
    try:
        parsed = parse_duration(raw)
    except ValueError:
        raise ConfigError(
            f"{name} must be an ISO 8601 duration such as P30D, or off (got {raw[:40]!r})"
        ) from None
    start = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)  # months and years as the calendar counts them from here
    length = parsed.add_to(start) - start
    if length <= dt.timedelta(0):
        raise ConfigError(f"{name} must be longer than nothing")
    return length


def load_or_create_secrets(data_dir: Path) -> Secrets:
    """Read ``data_dir/secrets.json``, creating it with fresh random keys the first time."""
    path = data_dir / "secrets.json"
    if path.exists():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            return Secrets(
                signing_key=bytes.fromhex(raw["signing_key"]),
                hash_key=bytes.fromhex(raw["hash_key"]),
                master_key=bytes.fromhex(raw["master_key"]),
                admin_key=raw["admin_key"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"{path}: unreadable secrets file ({exc})",
                hint="restore it from backup; deleting it invalidates every issued token",
            ) from None
    data_dir.mkdir(parents=True, exist_ok=True)
    created = Secrets(
        signing_key=secrets.token_bytes(32),
        hash_key=secrets.token_bytes(32),
        master_key=secrets.token_bytes(32),
        admin_key=secrets.token_urlsafe(24),
    )
    payload = json.dumps(
        {
            "signing_key": created.signing_key.hex(),
            "hash_key": created.hash_key.hex(),
            "master_key": created.master_key.hex(),
            "admin_key": created.admin_key,
        }
    )
    # Write beside, then link into place: a second process starting at the same moment either
    # wins the link or reads the winner's file, and nobody ever reads a half-written file.
    tmp = data_dir / f".secrets.{secrets.token_hex(6)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(payload)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return load_or_create_secrets(data_dir)
    finally:
        tmp.unlink()
    return created
