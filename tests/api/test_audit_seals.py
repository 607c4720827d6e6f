"""Seals of cases' tables in signed checkpoints (``table_seals``, PostgreSQL): a case is sealed only when its tables
match its newest event's digest; a checkpoint carries forward the seals of the previous one, once its signature
verifies, for the cases whose head has not moved, and seals only the others; whatever is carried, a change to a
case's tables is still found by the incremental verify. SQLite keeps no seals: there the same steps sign heads
alone and find the same changes. Both databases."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from service import walkthrough as w
from service.domain.audit import checkpoints
from service.domain.audit import incremental as incremental_verify
from service.domain.audit.table_seals import seals_now
from service.domain.audit.verify import CASE_COLUMNS, CASE_TABLES
from service.persistence.keys import key_id, signing_key
from service.persistence.tables import AuditCheckpoint
from tests.helpers import DEFINITION, Api
from tests.support.audit import execute, incremental, planned, sign
from tests.support.cli import in_process


def _postgres(api: Api) -> bool:
    return str(api.settings.database_url).startswith("postgresql")


async def _heads(api: Api, signed: dict[str, Any]) -> dict[str, list[Any]]:
    document = await api.ok(await api.get(api.who("auditor", "VN"), f"/v1/audit/checkpoints/{signed['id']}"))
    return document["heads"]


def _sealing(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The case chains each checkpoint signed from now on gave ``seal_heads`` to seal anew."""
    calls: list[list[str]] = []
    seal_heads = checkpoints.seal_heads

    async def counted(session: Any, heads: dict[str, list[Any]], *args: Any) -> int:
        calls.append(sorted(heads))
        return await seal_heads(session, heads, *args)

    monkeypatch.setattr(checkpoints, "seal_heads", counted)
    return calls


async def _rewrite(api: Api, checkpoint_id: str, heads: dict[str, list[Any]], key: Ed25519PrivateKey | None) -> None:
    """Give a stored checkpoint other heads: signed again with ``key`` (as a checkpoint signed before seals existed,
    or by another key), or left with its old digest and signature (as an intruder would)."""
    async with api.app.state.services.sessions() as session, session.begin():
        row = await session.get(AuditCheckpoint, checkpoint_id)
        assert row is not None
        row.heads = heads
        if key is not None:
            row.key_id = key_id(key.public_key())
            row.digest = checkpoints.checkpoint_digest(checkpoints.document_of(row))
            row.signature = base64.b64encode(key.sign(bytes.fromhex(row.digest))).decode("ascii")


async def test_signing_again_seals_only_the_cases_with_new_events(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    quiet, _ = await planned(api, "C1")
    moved, leader = await planned(api, "C2")
    sealing = _sealing(monkeypatch)
    first = await _heads(api, await sign(api))
    await api.ok(await api.fire(leader, moved, "assign_indicators", w.assign_indicators(DEFINITION)))
    opened, _ = await planned(api, "C3")
    second = await _heads(api, await sign(api))
    if _postgres(api):
        every = sorted(f"case:{case}" for case in (quiet, moved))
        assert sealing == [every, sorted([f"case:{moved}", f"case:{opened}"])]
        assert second[f"case:{quiet}"] == first[f"case:{quiet}"] and len(first[f"case:{quiet}"]) == 3
        assert len(second[f"case:{moved}"]) == len(second[f"case:{opened}"]) == 3
        assert second[f"case:{moved}"][2] != first[f"case:{moved}"][2]
        assert (await _heads(api, await sign(api))) == second and sealing[2:] == [[]]  # nothing new: nothing sealed
    else:
        assert sealing == [] and {len(head) for head in second.values()} == {2}
    report = await incremental(api)
    assert (report["ok"], report["events_checked"]) == (True, 0), report


async def test_tables_changed_between_two_checkpoints_are_still_found(api: Api) -> None:
    """The seal carried forward is that of the tables as they were when it was made: the incremental verify from the
    newer checkpoint finds the tables differ from it, compares them with their digest and reports the case."""
    quiet, _ = await planned(api, "C1")
    await planned(api, "C2")
    first = await _heads(api, await sign(api))
    await execute(api, "UPDATE cases SET target_level = 3 WHERE id = :case", case=quiet)
    second = await _heads(api, await sign(api))
    assert second[f"case:{quiet}"] == first[f"case:{quiet}"]  # carried forward on PostgreSQL; no seal on SQLite
    report = await incremental(api)
    assert report["ok"] is False and report["first_bad_event"]["case_id"] == quiet
    assert "differs from the state its newest event recorded" in report["first_bad_event"]["problem"]


async def test_tables_changed_before_the_first_checkpoint_are_never_sealed(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A case whose tables did not match its digest when a checkpoint was signed has no seal there; the next
    checkpoint tries it again (it has none to carry) and does not seal it either."""
    sound, _ = await planned(api, "C1")
    changed, _ = await planned(api, "C2")
    await execute(api, "UPDATE cases SET target_level = 3 WHERE id = :case", case=changed)
    sealing = _sealing(monkeypatch)
    for _ in range(2):
        heads = await _heads(api, await sign(api))
        assert len(heads[f"case:{changed}"]) == 2
        assert len(heads[f"case:{sound}"]) == (3 if _postgres(api) else 2)
        report = await incremental(api)
        assert report["ok"] is False and report["first_bad_event"]["case_id"] == changed
    assert sealing == ([sorted([f"case:{sound}", f"case:{changed}"]), [f"case:{changed}"]] if _postgres(api) else [])


@pytest.mark.postgres
@pytest.mark.parametrize("forger", ["unsigned", "another key"])
async def test_no_seal_is_carried_from_a_checkpoint_that_does_not_verify(
    pg_api: Api, monkeypatch: pytest.MonkeyPatch, forger: str
) -> None:
    """Whoever can write the database could give the newest checkpoint the seal of tables they changed: that
    checkpoint no longer verifies with the service's key, so the next one carries nothing from it and compares
    every case with its digest again."""
    api = pg_api
    sound, _ = await planned(api, "C1")
    changed, _ = await planned(api, "C2")
    signed = await sign(api)
    await execute(api, "UPDATE cases SET target_level = 3 WHERE id = :case", case=changed)
    async with api.app.state.services.sessions() as session:
        forged = (await seals_now(session, [changed], CASE_COLUMNS, CASE_TABLES))[changed]
    heads = await _heads(api, signed)
    heads[f"case:{changed}"][2] = forged
    await _rewrite(api, signed["id"], heads, None if forger == "unsigned" else Ed25519PrivateKey.generate())
    sealing = _sealing(monkeypatch)
    after = await _heads(api, await sign(api))
    assert sealing == [sorted([f"case:{sound}", f"case:{changed}"])]
    assert len(after[f"case:{changed}"]) == 2 and after[f"case:{sound}"] == heads[f"case:{sound}"]
    report = await incremental(api)
    assert report["ok"] is False and report["first_bad_event"]["case_id"] == changed


@pytest.mark.postgres
async def test_after_a_checkpoint_without_seals_every_case_is_sealed(
    pg_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A checkpoint signed before seals existed (two-value heads, signed by the service's key) still verifies and
    is trusted; it has no seal to carry, so the next checkpoint seals every case."""
    api = pg_api
    first, _ = await planned(api, "C1")
    second, _ = await planned(api, "C2")
    signed = await sign(api)
    old = {chain: head[:2] for chain, head in (await _heads(api, signed)).items()}
    await _rewrite(api, signed["id"], old, signing_key(api.settings))
    assert (await incremental(api))["ok"] is True
    sealing = _sealing(monkeypatch)
    heads = await _heads(api, await sign(api))
    assert sealing == [sorted([f"case:{first}", f"case:{second}"])]
    assert {len(heads[f"case:{case}"]) for case in (first, second)} == {3}


async def test_the_cli_seals_every_case_afresh_when_asked(
    api: Api, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """``cdht audit checkpoint --reseal`` carries nothing forward (after an upgrade that changes the tables' text);
    without it the CLI carries forward like the API and the worker."""
    first, _ = await planned(api, "C1")
    second, _ = await planned(api, "C2")
    await sign(api)
    sealing = _sealing(monkeypatch)
    output = str(tmp_path / "checkpoint.json")
    assert await in_process(monkeypatch, api, "audit", "checkpoint", "--reseal", "--output", output) == 0
    assert await in_process(monkeypatch, api, "audit", "checkpoint", "--output", output) == 0
    assert sealing == ([sorted([f"case:{first}", f"case:{second}"]), []] if _postgres(api) else [])
    heads = json.loads(Path(output).read_text())["heads"]
    assert {len(heads[f"case:{case}"]) for case in (first, second)} == {3 if _postgres(api) else 2}


@pytest.mark.postgres
async def test_a_checkpoint_seals_only_tables_that_match_their_digest(pg_api: Api) -> None:
    """On PostgreSQL a checkpoint seals a case's tables into its head only when they match its newest event's digest
    as it signs (``table_seals``): a case changed before the checkpoint is signed without a seal, so the
    incremental verify still compares its tables with its digest, and reports it."""
    api = pg_api
    sound, _ = await planned(api, "C1")
    changed, _ = await planned(api, "C2")
    await execute(api, "UPDATE cases SET target_level = 3 WHERE id = :case", case=changed)
    heads = await _heads(api, await sign(api))
    assert len(heads[f"case:{sound}"]) == 3
    assert len(heads[f"case:{changed}"]) == 2
    report = await incremental(api)
    assert report["ok"] is False and report["first_bad_event"]["case_id"] == changed
    assert "differs from the state its newest event recorded" in report["first_bad_event"]["problem"]


@pytest.mark.postgres
async def test_a_sealed_case_is_compared_again_only_when_its_tables_changed(
    pg_api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A case sealed by the checkpoint with nothing new since is taken as it was while the server seals its tables
    the same; once they change (even to what the digest would not show) it is compared with its digest again."""
    api = pg_api
    first, _ = await planned(api, "C1")
    second, _ = await planned(api, "C2")
    await sign(api)
    compared: list[str] = []
    check_heads = incremental_verify.check_heads

    async def counted(session: Any, finished: list[Any], part: Any) -> None:
        compared.extend(chain.chain for chain in finished)
        await check_heads(session, finished, part)

    monkeypatch.setattr(incremental_verify, "check_heads", counted)
    assert (await incremental(api))["ok"] is True
    assert not {f"case:{first}", f"case:{second}"} & set(compared)
    await execute(api, "UPDATE cases SET subject = 'khác' WHERE id = :case", case=second)
    compared.clear()
    assert (await incremental(api))["ok"] is True  # the subject is not in the digest: the full verify finds it
    assert f"case:{second}" in compared and f"case:{first}" not in compared
    await execute(api, "UPDATE deadline SET status = 'closed' WHERE case_id = :case", case=first)
    report = await incremental(api)
    assert report["ok"] is False and report["first_bad_event"]["case_id"] == first
