"""`cdht audit verify` checks an export without the database; `cdht audit checkpoint` signs the chains' heads."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import sqlite3
import stat
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service.config import ConfigurationError, Settings
from service.domain.audit.canonical import GENESIS, event_hash, format_time
from service.domain.audit.checkpoints import checkpoint_digest
from service.domain.audit.offline import load_checkpoints, verify_lines
from tests.helpers import chained_event
from tests.support.cli import cdht

START = datetime(2025, 3, 1, 2, 0, tzinfo=timezone.utc)


def chain_records(chain: str, count: int, *, start: datetime = START) -> list[dict[str, Any]]:
    records, prev = [], GENESIS
    for seq in range(1, count + 1):
        event = chained_event(
            chain=chain,
            seq=seq,
            prev=prev,
            kind="unit_added",
            actor_sub="admin-1",
            actor_name="Quản trị",
            actor_role="admin",
            occurred_at=start + timedelta(minutes=seq),
            payload={"code": f"X{seq}", "name": "Xã Một"},
        )
        prev = event.hash
        records.append({**vars(event), "occurred_at": format_time(event.occurred_at)})
    return records


def lines_of(*chains: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(record, ensure_ascii=False) for chain in chains for record in chain]


def rehash(record: dict[str, Any]) -> str:
    moment = datetime.strptime(record["occurred_at"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)
    return event_hash(SimpleNamespace(**{**record, "occurred_at": moment}))  # type: ignore[arg-type]


def signed(key: Ed25519PrivateKey, heads: dict[str, list[Any]], *, created_at: datetime = START) -> dict[str, Any]:
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    document = {
        "id": str(uuid.uuid4()),
        "created_at": created_at.isoformat(),
        "heads": heads,
        "key_id": hashlib.sha256(raw).hexdigest()[:16],
    }
    digest = checkpoint_digest(document)
    return {**document, "digest": digest, "signature": base64.b64encode(key.sign(bytes.fromhex(digest))).decode()}


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


def pem(key: Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


# --- chains --------------------------------------------------------------------------------------------------


def test_valid_export_through_the_cli_exits_zero_with_counts(tmp_path: Path) -> None:
    export = write(tmp_path / "a.jsonl", lines_of(chain_records("admin", 3), chain_records("webhooks", 2)))
    result = cdht("audit", "verify", str(export), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("OK: 5 events in 2 chains verified (5 lines)")


def test_changed_byte_through_the_cli_exits_one_naming_the_line(tmp_path: Path) -> None:
    lines = lines_of(chain_records("admin", 3), chain_records("webhooks", 2))
    lines[3] = lines[3].replace("Xã Một", "Xã Mốt", 1)
    result = cdht("audit", "verify", str(write(tmp_path / "a.jsonl", lines)), cwd=tmp_path)
    assert result.returncode == 1
    assert result.stdout.strip() == (
        "FAILED: line 4, chain webhooks, seq 1: hash does not match the event's contents: the event was changed"
    )


def test_missing_export_file_exits_two(tmp_path: Path) -> None:
    result = cdht("audit", "verify", str(tmp_path / "nothing.jsonl"), cwd=tmp_path)
    assert result.returncode == 2
    assert "nothing.jsonl" in result.stderr


def test_relinked_line_fails_on_prev_hash() -> None:
    records = chain_records("admin", 3)
    records[2]["prev_hash"] = records[0]["hash"]
    records[2]["hash"] = rehash(records[2])
    report = verify_lines(lines_of(records))
    assert report.bad == {
        "line": 3,
        "chain": "admin",
        "seq": 3,
        "problem": "prev_hash does not match the previous event's hash",
    }


def test_chain_starting_after_seq_one_fails_unless_partial() -> None:
    lines = lines_of(chain_records("admin", 4))[1:]
    strict = verify_lines(lines)
    assert strict.bad is not None and (strict.bad["line"], strict.bad["seq"]) == (1, 2)
    partial = verify_lines(lines, partial=True)
    assert partial.ok and (partial.events, partial.partial_chains) == (3, 1)


def test_chain_appearing_twice_fails_as_unordered() -> None:
    admin = chain_records("admin", 2)
    lines = lines_of(admin[:1], chain_records("webhooks", 1), admin[1:])
    report = verify_lines(lines)
    assert report.bad is not None and report.bad["line"] == 3
    assert "not ordered" in report.bad["problem"]


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda line: line[:-1], "not valid JSON"),
        (lambda line: json.dumps({k: v for k, v in json.loads(line).items() if k != "citation"}), "citation"),
        (lambda line: line.replace('"seq": 2', '"seq": "2"'), "seq is not an integer"),
        (lambda line: line.replace('Z"', '+00:00"', 1), "occurred_at"),
        (lambda line: "uid,chain,seq", "CSV export"),
    ],
)
def test_malformed_line_fails_naming_it(change: Any, problem: str) -> None:
    lines = lines_of(chain_records("admin", 3))
    target = 0 if problem == "CSV export" else 1
    lines[target] = change(lines[target])
    report = verify_lines(lines)
    assert report.bad is not None, report.text()
    assert report.bad["line"] == target + 1
    assert problem in report.bad["problem"]


# --- checkpoints ---------------------------------------------------------------------------------------------


def test_export_matching_a_checkpoint_passes_through_the_cli(tmp_path: Path) -> None:
    key = Ed25519PrivateKey.generate()
    admin, hooks = chain_records("admin", 3), chain_records("webhooks", 2)
    checkpoint = signed(key, {"admin": [2, admin[1]["hash"]], "webhooks": [2, hooks[1]["hash"]]})
    (tmp_path / "cp.json").write_text(json.dumps([checkpoint]))
    (tmp_path / "key.pem").write_bytes(pem(key))
    export = write(tmp_path / "a.jsonl", lines_of(admin, hooks))
    result = cdht("audit", "verify", str(export), "--checkpoints", "cp.json", "--public-key", "key.pem", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 checkpoints signed by key" in result.stdout and "2 heads match" in result.stdout


def test_a_sealed_head_is_checked_offline_by_its_seq_and_hash() -> None:
    """A head may carry a case's tables' seal third (``table_seals``): it is signed with the head, and the offline
    verifier, which has no tables, checks the seq and hash as for any head; a changed seal breaks the signature."""
    key = Ed25519PrivateKey.generate()
    admin = chain_records("admin", 3)
    checkpoint = signed(key, {"admin": [2, admin[1]["hash"], "5" * 64]})
    report = verify_lines(lines_of(admin), checkpoints=[checkpoint], public_key=key.public_key())
    assert report.ok and report.heads_matched == 1, report.text()
    checkpoint["heads"]["admin"][2] = "6" * 64
    changed = verify_lines(lines_of(admin), checkpoints=[checkpoint], public_key=key.public_key())
    assert changed.bad is not None and "do not match its digest" in changed.bad["problem"]


def test_rehashed_chain_end_fails_against_the_checkpoint() -> None:
    key = Ed25519PrivateKey.generate()
    admin = chain_records("admin", 3)
    checkpoint = signed(key, {"admin": [3, admin[2]["hash"]]})
    admin[2]["payload"] = admin[2]["payload"].replace("X3", "X4")
    admin[2]["hash"] = rehash(admin[2])
    lines = lines_of(admin)
    assert verify_lines(lines).ok  # the chain alone cannot tell
    report = verify_lines(lines, checkpoints=[checkpoint], public_key=key.public_key())
    assert report.bad is not None and (report.bad["line"], report.bad["seq"]) == (3, 3)
    assert f"differs from checkpoint {checkpoint['id']}" in report.bad["problem"]


def test_forged_checkpoint_signature_fails() -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    admin = chain_records("admin", 2)
    forged = signed(other, {"admin": [2, admin[1]["hash"]]})
    forged["key_id"] = signed(key, {})["key_id"]  # claims the right key,
    forged["digest"] = checkpoint_digest(forged)  # and recomputes the digest: only the signature gives it away
    report = verify_lines(lines_of(admin), checkpoints=[forged], public_key=key.public_key())
    assert report.bad is not None and report.bad["line"] is None
    assert "signature does not verify" in report.bad["problem"]
    wrong_key = verify_lines(lines_of(admin), checkpoints=[signed(other, {})], public_key=key.public_key())
    assert wrong_key.bad is not None and "not with the given key" in wrong_key.bad["problem"]


def test_changed_checkpoint_heads_fail_on_the_digest() -> None:
    key = Ed25519PrivateKey.generate()
    admin = chain_records("admin", 2)
    checkpoint = signed(key, {"admin": [2, admin[1]["hash"]]})
    checkpoint["heads"] = {"admin": [1, admin[0]["hash"]]}
    report = verify_lines(lines_of(admin), checkpoints=[checkpoint], public_key=key.public_key())
    assert report.bad is not None and "do not match its digest" in report.bad["problem"]


def test_a_checkpoint_moved_in_time_fails_its_signature() -> None:
    key = Ed25519PrivateKey.generate()
    admin = chain_records("admin", 2)
    checkpoint = signed(key, {"admin": [2, admin[1]["hash"]]})
    checkpoint["created_at"] = (START - timedelta(days=30)).isoformat()  # made to look older than it is
    report = verify_lines(lines_of(admin), checkpoints=[checkpoint], public_key=key.public_key())
    assert report.bad is not None and "do not match its digest" in report.bad["problem"]


def test_events_removed_after_an_older_checkpoint_fail() -> None:
    key = Ed25519PrivateKey.generate()
    admin, hooks = chain_records("admin", 3), chain_records("webhooks", 2)
    checkpoint = signed(key, {"admin": [3, admin[2]["hash"]], "webhooks": [2, hooks[1]["hash"]]})
    truncated = verify_lines(lines_of(admin[:2], hooks), checkpoints=[checkpoint], public_key=key.public_key())
    assert truncated.bad is not None and (truncated.bad["chain"], truncated.bad["seq"]) == ("admin", 3)
    assert "the export ends the chain at 2" in truncated.bad["problem"]
    removed = verify_lines(lines_of(admin), checkpoints=[checkpoint], public_key=key.public_key())
    assert removed.bad is not None and "the chain is missing from the export" in removed.bad["problem"]


def test_heads_newer_than_the_export_are_skipped() -> None:
    key = Ed25519PrivateKey.generate()
    admin = chain_records("admin", 3)
    later = signed(key, {"admin": [3, admin[2]["hash"]]}, created_at=START + timedelta(days=1))
    report = verify_lines(lines_of(admin[:2]), checkpoints=[later], public_key=key.public_key())
    assert report.ok, report.text()
    assert (report.heads_matched, report.heads_after_export) == (0, 1)


def test_checkpoint_files_are_read_in_every_documented_shape() -> None:
    one = {"id": "a", "heads": {}}
    assert load_checkpoints(json.dumps(one)) == [one]
    assert load_checkpoints(json.dumps([one, one])) == [one, one]
    assert load_checkpoints(json.dumps({"items": [one]})) == [one]
    assert load_checkpoints(json.dumps(one) + "\n" + json.dumps(one) + "\n") == [one, one]


# --- the checkpoint command and the signing key -------------------------------------------------------------


def test_checkpoint_command_signs_with_a_generated_dev_key(tmp_path: Path) -> None:
    assert cdht("migrate", cwd=tmp_path).returncode == 0
    with sqlite3.connect(tmp_path / "var" / "cdht.sqlite3") as db:
        db.execute("INSERT INTO chain_head (chain, seq, hash) VALUES ('admin', 4, :h)", {"h": "a" * 64})
    result = cdht("audit", "checkpoint", "--output", "cp.json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    document = json.loads((tmp_path / "cp.json").read_text())
    assert document["heads"] == {"admin": [4, "a" * 64]}
    assert (document["events_total"], document["chains_total"]) == (4, 1)
    key_file = tmp_path / "var" / "audit-signing-key.pem"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    key.public_key().verify(base64.b64decode(document["signature"]), bytes.fromhex(document["digest"]))  # type: ignore[union-attr]
    with sqlite3.connect(tmp_path / "var" / "cdht.sqlite3") as db:
        assert db.execute("SELECT id, digest FROM audit_checkpoint").fetchall() == [
            (document["id"], document["digest"])
        ]


def test_production_without_a_signing_key_refuses_to_start(tmp_path: Path) -> None:
    settings = Settings(
        env="production",
        auth_issuer="https://id.example",
        auth_audience="cdht",
        auth_jwks_url="https://id.example/jwks",
        webhook_key=Fernet.generate_key().decode(),  # a valid key: production checks it at start too
    )
    with pytest.raises(ConfigurationError, match="CDHT_AUDIT_SIGNING_KEY_FILE"):
        settings.check()
    settings.audit_signing_key_file = tmp_path / "absent.pem"
    with pytest.raises(ConfigurationError, match="CDHT_AUDIT_SIGNING_KEY_FILE"):
        settings.check()
    key_file = tmp_path / "key.pem"
    key_file.write_bytes(
        Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    settings.audit_signing_key_file = key_file
    settings.check()


def test_events_removed_after_a_checkpoint_made_before_the_export_fail_even_when_it_is_newer_than_them() -> None:
    key = Ed25519PrivateKey.generate()
    admin = chain_records("admin", 3)
    checkpoint = signed(key, {"admin": [3, admin[2]["hash"]]})
    checkpoint_at = datetime.fromisoformat(str(checkpoint["created_at"]))
    preamble = json.dumps(
        {
            "export": {
                "format": "cdht-audit-jsonl/1",
                "complete": True,
                "taken_at": (checkpoint_at + timedelta(days=2)).isoformat(),
            }
        }
    )
    lines = [preamble, *lines_of(admin[:2])]  # the last event cut, on a quiet day (its checkpoint is newer)
    report = verify_lines(lines, checkpoints=[checkpoint], public_key=key.public_key())
    assert report.bad is not None and (report.bad["chain"], report.bad["seq"]) == ("admin", 3)
    later = json.dumps(
        {
            "export": {
                "format": "cdht-audit-jsonl/1",
                "complete": True,
                "taken_at": (checkpoint_at - timedelta(days=1)).isoformat(),
            }
        }
    )
    assert verify_lines([later, *lines_of(admin[:2])], checkpoints=[checkpoint], public_key=key.public_key()).ok
