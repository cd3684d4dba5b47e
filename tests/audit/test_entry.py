"""The entry format, the rule that keeps raw personal data out of the log, and the signing key."""

from __future__ import annotations

import json
import stat
import threading
from pathlib import Path

import pytest

from pledge.audit import check_payload, pseudonym
from pledge.audit.entry import canonical_json, leaf_data, prepare
from pledge.audit.signing import (
    HeadSigner,
    load_or_create_signer,
    load_public_key,
    load_signer,
    public_keys,
    signing_key_path,
)
from pledge.config import Settings
from pledge.errors import ConfigError, InputError

# --- personal data is refused, naming the field but never echoing the value ---------------------

PERSONAL = [
    "ann@example.com",
    "write to Ann.Lee+shop@mail.example.co.uk please",
    "10.0.0.1",
    "client 192.168.1.20 connected",
    "1.2.3.4:8080",
    "::1",
    "2001:db8::8a2e:370:7334",
    "fe80::1%eth0",
    "[::ffff:10.0.0.1]",
]
HARMLESS = [
    "consent.grant",
    "user.contact.email",  # a category name, not an address
    "v1.2.3.4",
    "1.2.3.4.5",
    "policy 2.0.1",
    "2026-11-23T13:11:48.123456+00:00",
    "12:34:56:78",
    "face:bead:",
    "a@b",  # no domain
    "999.999.999.999",
    "ratio 0.75",
]


@pytest.mark.parametrize("value", PERSONAL)
def test_personal_data_is_refused_anywhere_in_a_payload(value: str) -> None:
    for payload in ({"who": value}, {"deep": [{"x": [value]}]}, {value: 1}):
        with pytest.raises(InputError) as caught:
            prepare("consent.grant", payload, None)
        assert value not in str(caught.value) and value not in (caught.value.hint or "")
    with pytest.raises(InputError):
        check_payload({"a": {"b": value}})
    with pytest.raises(InputError):
        prepare("consent.grant", {}, value)


@pytest.mark.parametrize("value", HARMLESS)
def test_harmless_values_pass(value: str) -> None:
    prepare("consent.grant", {"value": value, "list": [value]}, None)


def test_the_error_names_the_field() -> None:
    with pytest.raises(InputError, match=r"payload\.recipient\.contact\[1\]"):
        prepare("disclosure", {"recipient": {"contact": ["ok", "ops@partner.example"]}}, None)


@pytest.mark.parametrize(
    "subject", ["", " s_1", "s 1", "s_1\n", "x" * 201, "ann@example.com", "10.0.0.1", 'a"b', "a\\b", "ü"]
)
def test_subjects_must_be_pseudonymous_ids(subject: str) -> None:
    with pytest.raises(InputError):
        prepare("consent.grant", {}, subject)


@pytest.mark.parametrize(
    "kind", ["", "Consent", "consent grant", "consent.", ".x", "x" * 101, 'a"b', None, 3, ["x"]]
)
def test_kinds_are_dotted_lower_case_names(kind: object) -> None:
    with pytest.raises(InputError):
        prepare(kind, {}, None)  # type: ignore[arg-type]


def test_pseudonyms_are_stable_keyed_and_accepted_as_subjects() -> None:
    a = pseudonym(b"k" * 32, "ann@example.com")
    assert a == pseudonym(b"k" * 32, "ann@example.com")
    assert a != pseudonym(b"j" * 32, "ann@example.com")
    assert a != pseudonym(b"k" * 32, "Ann@example.com")
    assert "ann" not in a and len(a) == 34
    prepare("consent.grant", {}, a)


def test_canonical_json_and_leaf_data_are_byte_exact() -> None:
    assert canonical_json({"b": 1, "a": [True, None, "é"]}) == '{"a":[true,null,"é"],"b":1}'
    data = leaf_data(3, "2026-01-01T00:00:00.000000Z", "k", None, "{}")
    assert data == '{"index":3,"kind":"k","payload":{},"subject":null,"time":"2026-01-01T00:00:00.000000Z"}'
    assert json.loads(data)["subject"] is None
    with pytest.raises(InputError):
        canonical_json({"x": {1, 2}})


# --- the signing key ------------------------------------------------------------------------------


def test_the_key_is_created_once_with_mode_0600_and_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "audit.pem"
    first = load_or_create_signer(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_signer(path).key_id == first.key_id
    assert b"PRIVATE KEY" in path.read_bytes()


def test_concurrent_first_use_agrees_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "audit.pem"
    ids: list[str] = []
    threads = [
        threading.Thread(target=lambda: ids.append(load_or_create_signer(path).key_id)) for _ in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 1 and not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_the_key_path_comes_from_settings(tmp_path: Path) -> None:
    assert signing_key_path(Settings(data_dir=tmp_path)) == tmp_path / "audit-signing-key.pem"
    given = tmp_path / "elsewhere.pem"
    env = {"PLEDGE_DATA_DIR": str(tmp_path), "PLEDGE_AUDIT_SIGNING_KEY": str(given)}
    assert signing_key_path(Settings.from_env(env)) == given


def test_unusable_key_files_are_config_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n", encoding="utf-8")
    with pytest.raises(ConfigError):
        load_signer(bad)
    with pytest.raises(ConfigError):
        load_signer(tmp_path / "missing.pem")
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    other = tmp_path / "ec.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    with pytest.raises(ConfigError, match="Ed25519"):
        load_signer(other)


def test_public_keys_load_from_pem_hex_and_raw_bytes() -> None:
    signer = HeadSigner.generate()
    raw = bytes.fromhex(signer.public_hex)
    ids = {signer.key_id}
    for form in (signer.public_pem, signer.public_hex, raw, signer.public_key, signer.public_hex.upper()):
        assert set(public_keys(form)) == ids
    assert set(public_keys([signer.public_hex, HeadSigner.generate().public_pem])) >= ids
    for bad in (
        "",
        "zz" * 32,
        "ab" * 31,
        b"\x00" * 31,
        "-----BEGIN PUBLIC KEY-----\nx\n-----END PUBLIC KEY-----",
    ):
        with pytest.raises(ConfigError):
            load_public_key(bad)
