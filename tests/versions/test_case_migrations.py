"""Versions of a definition: an open case keeps the version it was opened under until a national admin migrates
it; a migration moves the cases the new version can carry on, refuses the others with reasons, audits each move,
and resumes after an interruption."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import func, select

from service import walkthrough as w
from service.domain.actor import Actor
from service.domain.audit.canonical import case_chain
from service.domain.bulk import case_migrations as migrations
from service.domain.bulk import migration_checks
from service.domain.cases.casefile import load_case_file
from service.domain.cases.replay import case_as_of
from service.domain.errors import NotAuthorised
from service.persistence.tables import AuditEvent, OutboxMessage
from tests.helpers import DEFINITION, Api
from tests.support.apps import add_communes
from tests.support.definitions import NEW_VERSION, ship
from workflows.registry import Registry

OLD = "tt25-2023"
MAP = {"plan_issued": "plan_adopted", "collecting_evidence": "gathering_evidence"}  # the second is no state of NEW
ADMIN = Actor(sub="admin-vn", name="Quản trị", roles=("admin",), unit="VN")


def body(**over: Any) -> dict[str, Any]:
    return {"procedure": "cdht_xa", "from_version": OLD, "to_version": NEW_VERSION, "state_map": MAP, **over}


async def open_cases(api: Api) -> dict[str, str]:
    """Five cycle-2025 cases on the old version: C1, C5 plan_issued; C2 collecting_evidence; C3, C4 planning."""
    await add_communes(api, "P1", ["C4", "C5"])
    ids = {}
    for unit in ("C1", "C2", "C3", "C4", "C5"):
        case_id, leader = await api.new_case(unit, 2025)
        ids[unit] = case_id
        if unit in ("C1", "C2", "C5"):
            await api.ok(await api.fire(leader, case_id, "issue_plan", w.issue_plan(2025)))
        if unit == "C2":
            await api.ok(await api.fire(leader, case_id, "assign_indicators", w.assign_indicators(DEFINITION)))
    return ids


async def events(api: Api, case_id: str) -> list[AuditEvent]:
    async with api.app.state.services.sessions() as session:
        query = select(AuditEvent).where(AuditEvent.chain == case_chain(case_id)).order_by(AuditEvent.seq)
        return list((await session.execute(query)).scalars())


async def case(api: Api, case_id: str, **params: str) -> dict[str, Any]:
    return await api.ok(await api.get(api.who("province_director", "P1"), f"/v1/cases/{case_id}", **params))


async def test_two_versions_loaded_an_open_case_keeps_its_version_and_new_cases_pin_the_newest(
    api: Api, next_registry: Registry
) -> None:
    old_id, old_leader = await api.new_case("C1", 2025)
    ship(api, next_registry)
    assert next_registry.current("cdht_xa").definition.version == NEW_VERSION
    assert next_registry.get("cdht_xa", OLD) is not None
    new_id, new_leader = await api.new_case("C3", 2025)
    assert (await case(api, old_id))["version"] == OLD
    assert (await case(api, new_id))["version"] == NEW_VERSION
    # The same trigger fires under each case's own rules: the old version's state names, the new one's.
    fired_old = await api.ok(await api.fire(old_leader, old_id, "issue_plan", w.issue_plan(2025)))
    fired_new = await api.ok(await api.fire(new_leader, new_id, "issue_plan", w.issue_plan(2025)))
    assert fired_old["case"]["state"] == "plan_issued"
    assert fired_new["case"]["state"] == "plan_adopted"
    assert (await case(api, old_id))["version"] == OLD


async def test_dry_run_lists_movable_and_refused_cases_with_reasons_and_changes_nothing(
    api: Api, next_registry: Registry
) -> None:
    ids = await open_cases(api)
    ship(api, next_registry)
    before = {unit: len(await events(api, case_id)) for unit, case_id in ids.items()}
    admin = api.who("admin", "VN")
    plan = await api.ok(await api.client.post("/v1/cases/migrations", headers=admin.headers, json=body()))
    assert plan["dry_run"] is True
    assert plan["counts"] == {"movable": 4, "refused": 1, "final_skipped": 0}
    movable = {row["case_id"]: (row["state"], row["to_state"]) for row in plan["movable"]}
    assert movable == {
        ids["C1"]: ("plan_issued", "plan_adopted"),
        ids["C5"]: ("plan_issued", "plan_adopted"),
        ids["C3"]: ("planning", "planning"),  # not in the map: kept, the new version has it
        ids["C4"]: ("planning", "planning"),
    }
    assert [row["case_id"] for row in plan["movable"]] == sorted(movable)  # in case id order
    [refused] = plan["refused"]
    assert refused["case_id"] == ids["C2"] and refused["unit"] == "C2"
    assert [r["code"] for r in refused["reasons"]] == ["mapped_state_missing"]
    assert "gathering_evidence" in refused["reasons"][0]["message"]
    for unit, case_id in ids.items():
        assert (await case(api, case_id))["version"] == OLD
        assert len(await events(api, case_id)) == before[unit]
    # Without the rename in the map, plan_issued cannot be carried: the new version has no such state.
    unmapped = await api.ok(
        await api.client.post("/v1/cases/migrations", headers=admin.headers, json=body(state_map={}))
    )
    codes = {row["unit"]: [r["code"] for r in row["reasons"]] for row in unmapped["refused"]}
    assert codes == {"C1": ["state_not_mapped"], "C5": ["state_not_mapped"]}
    assert {row["unit"] for row in unmapped["movable"]} == {"C2", "C3", "C4"}


async def test_execution_moves_each_case_with_one_audit_event_and_the_chains_verify(
    api: Api, next_registry: Registry
) -> None:
    ids = await open_cases(api)
    ship(api, next_registry)
    before = {unit: await case(api, case_id) for unit, case_id in ids.items()}
    counts = {unit: len(await events(api, case_id)) for unit, case_id in ids.items()}
    api.clock.set("2025-02-01T02:00:00")
    admin = api.who("admin", "VN")
    run = await api.ok(
        await api.client.post("/v1/cases/migrations", headers=admin.headers, json=body(dry_run=False)), 201
    )
    assert run["status"] == "completed" and run["moved"] == 4 and run["remaining"] == 0
    assert [(r["case_id"], [x["code"] for x in r["reasons"]]) for r in run["refused"]] == [
        (ids["C2"], ["mapped_state_missing"])
    ]
    assert run["after_case_id"] == max(ids.values())
    for unit in ("C1", "C3", "C4", "C5"):
        moved = await case(api, ids[unit])
        assert moved["version"] == NEW_VERSION
        assert moved["state"] == {"C1": "plan_adopted", "C5": "plan_adopted"}.get(unit, "planning")
        history = await events(api, ids[unit])
        assert len(history) == counts[unit] + 1
        last = history[-1]
        assert (last.kind, last.trigger, last.actor_role, last.actor_sub) == (
            "case_migrated",
            "migrate_version",
            "admin",
            admin.sub,
        )
        assert (last.from_state, last.to_state) == (before[unit]["state"], moved["state"])
        payload = (await api.ok(await api.get(admin, f"/v1/cases/{ids[unit]}/history")))[-1]["payload"]
        assert payload == {
            "from_version": OLD,
            "to_version": NEW_VERSION,
            "from_state": before[unit]["state"],
            "to_state": moved["state"],
            "migration_id": run["id"],
            "settings_added": {"days_to_acknowledge_test": 7},
        }
        verified = await api.ok(await api.get(admin, "/v1/audit/verify", case=ids[unit]))
        assert verified["ok"] is True, verified
    # The refused case is untouched: its version, state, row version and history.
    untouched = await case(api, ids["C2"])
    assert (untouched["version"], untouched["state"], untouched["etag"]) == (
        OLD,
        "collecting_evidence",
        before["C2"]["etag"],
    )
    assert len(await events(api, ids["C2"])) == counts["C2"]
    everything = await api.ok(await api.get(admin, "/v1/audit/verify"))
    assert everything["ok"] is True, everything
    # Subscribers hear of each move as a transition of the case.
    async with api.app.state.services.sessions() as session:
        rows = (
            (
                await session.execute(
                    select(OutboxMessage).where(OutboxMessage.case_id == ids["C1"]).order_by(OutboxMessage.seq)
                )
            )
            .scalars()
            .all()
        )
    assert rows[-1].type == "case.transitioned"
    assert rows[-1].body["data"]["trigger"] == "migrate_version"
    assert rows[-1].body["data"]["version"] == NEW_VERSION
    assert rows[-1].body["data"]["from_version"] == OLD
    # The admin chain records the run: its request and its totals.
    async with api.app.state.services.sessions() as session:
        kinds = (
            (await session.execute(select(AuditEvent.kind).where(AuditEvent.chain == "admin").order_by(AuditEvent.seq)))
            .scalars()
            .all()
        )
    assert kinds[-2:] == ["case_migration_started", "case_migration_completed"]


async def test_after_a_migration_the_case_runs_under_the_new_version_and_as_of_rebuilds_both_sides(
    api: Api, next_registry: Registry
) -> None:
    ids = await open_cases(api)
    ship(api, next_registry)
    leader = api.who("commune_leader", "C1")
    api.clock.set("2025-02-01T02:00:00")
    admin = api.who("admin", "VN")
    await api.ok(
        await api.client.post(
            "/v1/cases/migrations", headers=admin.headers, json=body(dry_run=False, cases=[ids["C1"]])
        ),
        201,
    )
    api.clock.set("2025-02-03T02:00:00")
    assigned = await api.ok(await api.fire(leader, ids["C1"], "assign_indicators", w.assign_indicators(DEFINITION)))
    assert (assigned["case"]["state"], assigned["case"]["version"]) == ("collecting_evidence", NEW_VERSION)
    officer = api.who("commune_officer", "C1")
    await api.ok(await api.upload(officer, ids["C1"], "TC1.1"), 201)
    # As of before the migration the case is the old version's; after it, the new version's; now, as it is.
    earlier = await case(api, ids["C1"], as_of="2025-01-31T00:00:00Z")
    assert (earlier["version"], earlier["state"]) == (OLD, "plan_issued")
    between = await case(api, ids["C1"], as_of="2025-02-02T00:00:00Z")
    assert (between["version"], between["state"]) == (NEW_VERSION, "plan_adopted")
    latest = await case(api, ids["C1"], as_of="2025-02-03T03:00:00Z")
    assert (latest["version"], latest["state"]) == (NEW_VERSION, "collecting_evidence")
    assert latest["etag"] == (await case(api, ids["C1"]))["etag"]
    verified = await api.ok(await api.get(admin, "/v1/audit/verify", case=ids["C1"]))
    assert verified["ok"] is True, verified
    # The replay pins the setting the new version added from the migration on, as the engine did.
    services = api.app.state.services
    async with services.sessions() as session:
        before, _ = await case_as_of(session, services.registry, ids["C1"], datetime(2025, 1, 31, tzinfo=UTC))
        after, _ = await case_as_of(session, services.registry, ids["C1"])
        stored = await load_case_file(session, services.registry, ids["C1"], lock=False)
    assert "days_to_acknowledge_test" not in before.settings
    assert after.settings == stored.settings and after.settings["days_to_acknowledge_test"] == 7
    # The restriction held: the other cases stayed on the old version.
    assert {(await case(api, ids[u]))["version"] for u in ("C3", "C4", "C5")} == {OLD}


async def test_a_stopped_migration_resumes_after_its_last_batch_and_a_completed_one_is_left_alone(
    api: Api, next_registry: Registry
) -> None:
    ids = await open_cases(api)
    ship(api, next_registry)
    services = api.app.state.services
    now = api.clock.set("2025-02-01T02:00:00")
    spec = migration_checks.MigrationSpec("cdht_xa", OLD, NEW_VERSION, dict(MAP), batch_size=2)
    migration_id = await migrations.start(services.sessions, next_registry, spec, actor=ADMIN, now=now)
    await migrations.run(services.sessions, next_registry, migration_id, actor=ADMIN, now=now, max_batches=1)
    admin = api.who("admin", "VN")
    first = await api.ok(await api.get(admin, f"/v1/cases/migrations/{migration_id}"))
    ordered = sorted(ids.values())
    assert first["status"] == "running"
    assert first["after_case_id"] == ordered[1]
    assert first["moved"] + len(first["refused"]) == 2
    assert first["remaining"] == 3
    assert [(await case(api, case_id))["version"] for case_id in ordered[2:]] == [OLD] * len(ordered[2:])
    resumed = await api.ok(await api.client.post(f"/v1/cases/migrations/{migration_id}/resume", headers=admin.headers))
    assert (resumed["status"], resumed["moved"], len(resumed["refused"]), resumed["remaining"]) == (
        "completed",
        4,
        1,
        0,
    )
    total = await count_events(api)
    again = await api.ok(await api.client.post(f"/v1/cases/migrations/{migration_id}/resume", headers=admin.headers))
    assert again == resumed
    assert await count_events(api) == total


async def count_events(api: Api) -> int:
    async with api.app.state.services.sessions() as session:
        return (await session.execute(select(func.count()).select_from(AuditEvent))).scalar_one()


async def test_a_crash_mid_run_keeps_the_finished_batches_and_resume_completes(
    api: Api, next_registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = await open_cases(api)
    ship(api, next_registry)
    services = api.app.state.services
    now = api.clock.set("2025-02-01T02:00:00")
    ordered = sorted(ids.values())
    plan_refused = ids["C2"]
    spec = migration_checks.MigrationSpec("cdht_xa", OLD, NEW_VERSION, dict(MAP), batch_size=2)
    migration_id = await migrations.start(services.sessions, next_registry, spec, actor=ADMIN, now=now)
    real_move = migrations._move

    def failing_move(session, cf, *args, **kwargs):  # type: ignore[no-untyped-def]
        if cf.case.id in ordered[2:4]:  # the second batch (one of its two cases at least is movable)
            raise RuntimeError("the server went away")
        return real_move(session, cf, *args, **kwargs)

    monkeypatch.setattr(migrations, "_move", failing_move)
    with pytest.raises(RuntimeError):
        await migrations.run(services.sessions, next_registry, migration_id, actor=ADMIN, now=now)
    monkeypatch.setattr(migrations, "_move", real_move)
    admin = api.who("admin", "VN")
    stopped = await api.ok(await api.get(admin, f"/v1/cases/migrations/{migration_id}"))
    assert (stopped["status"], stopped["after_case_id"]) == ("running", ordered[1])
    first_batch = {c for c in ordered[:2] if c != plan_refused}
    assert {c for c in ordered if (await case(api, c))["version"] == NEW_VERSION} == first_batch
    resumed = await api.ok(await api.client.post(f"/v1/cases/migrations/{migration_id}/resume", headers=admin.headers))
    assert (resumed["status"], resumed["moved"], len(resumed["refused"])) == ("completed", 4, 1)
    for case_id in ordered:
        migrated = [e for e in await events(api, case_id) if e.kind == "case_migrated"]
        assert len(migrated) == (0 if case_id == plan_refused else 1)
    assert (await api.ok(await api.get(admin, "/v1/audit/verify")))["ok"] is True


async def test_named_cases_only_and_a_final_or_unknown_one_is_refused(api: Api, next_registry: Registry) -> None:
    done_id, leader = await api.new_case("C3", 2025)
    await api.walk(done_id, leader, cycle=2025, until="review_meeting_held")
    await api.ok(await api.fire(leader, done_id, "decline_submission", {"reason": "Chưa đủ điều kiện"}))
    open_id, _ = await api.new_case("C1", 2025)
    ship(api, next_registry)
    admin = api.who("admin", "VN")
    everything = await api.ok(await api.client.post("/v1/cases/migrations", headers=admin.headers, json=body()))
    assert everything["counts"] == {"movable": 1, "refused": 0, "final_skipped": 1}
    named = body(cases=[done_id, open_id, "no-such-case"], dry_run=False)
    api.clock.set("2026-02-01T02:00:00")
    run = await api.ok(await api.client.post("/v1/cases/migrations", headers=admin.headers, json=named), 201)
    reasons = {r["case_id"]: [x["code"] for x in r["reasons"]] for r in run["refused"]}
    assert reasons == {done_id: ["case_final"], "no-such-case": ["case_unknown"]}
    assert run["moved"] == 1
    assert (await case(api, done_id))["version"] == OLD
    assert (await case(api, open_id))["version"] == NEW_VERSION


async def test_only_a_national_admin_migrates(api: Api, next_registry: Registry) -> None:
    ids = await open_cases(api)
    ship(api, next_registry)
    for who in (api.who("admin", "P1"), api.who("auditor", "VN"), api.who("minister", "VN")):
        for dry_run in (True, False):
            refused = await api.client.post("/v1/cases/migrations", headers=who.headers, json=body(dry_run=dry_run))
            assert refused.status_code == 403, refused.text
            assert refused.json()["reasons"][0]["code"] == "not_authorised"
            assert "needs role admin at unit VN" in refused.json()["reasons"][0]["message"]
    admin = api.who("admin", "VN")
    api.clock.set("2025-02-01T02:00:00")
    spec = migration_checks.MigrationSpec("cdht_xa", OLD, NEW_VERSION, dict(MAP), batch_size=1)
    services = api.app.state.services
    migration_id = await migrations.start(
        services.sessions, next_registry, spec, actor=ADMIN, now=api.clock.settings.now
    )
    province_admin = api.who("admin", "P1")
    resumed = await api.client.post(f"/v1/cases/migrations/{migration_id}/resume", headers=province_admin.headers)
    assert resumed.status_code == 403, resumed.text
    read = await api.get(province_admin, f"/v1/cases/migrations/{migration_id}")
    assert read.status_code == 403, read.text
    assert [(await case(api, case_id))["version"] for case_id in ids.values()] == [OLD] * len(ids.values())
    # A national auditor may follow the progress.
    assert (await api.ok(await api.get(api.who("auditor", "VN"), f"/v1/cases/migrations/{migration_id}")))["moved"] == 0
    with pytest.raises(NotAuthorised, match="needs role admin at unit VN") as refused:
        await migrations.run(
            services.sessions,
            next_registry,
            migration_id,
            actor=Actor(sub="p1", name="P1", roles=("admin",), unit="P1"),
            now=api.clock.settings.now,
        )
    assert [reason.code for reason in refused.value.reasons] == ["not_authorised"]
    assert (await api.ok(await api.get(admin, f"/v1/cases/migrations/{migration_id}")))["status"] == "running"


async def test_a_malformed_migration_is_refused_before_anything_is_recorded(api: Api, next_registry: Registry) -> None:
    ship(api, next_registry)
    admin = api.who("admin", "VN")
    bad_map = await api.client.post(
        "/v1/cases/migrations", headers=admin.headers, json=body(state_map={"no_such_state": "planning"})
    )
    assert bad_map.status_code == 422, bad_map.text
    assert bad_map.json()["reasons"][0]["code"] == "state_map_invalid"
    unknown = await api.client.post("/v1/cases/migrations", headers=admin.headers, json=body(to_version="tt99-2099"))
    assert unknown.status_code == 404, unknown.text
    assert unknown.json()["reasons"][0]["code"] == "version_unknown"
    same = await api.client.post(
        "/v1/cases/migrations", headers=admin.headers, json=body(to_version=OLD, dry_run=False)
    )
    assert same.status_code == 422 and same.json()["reasons"][0]["code"] == "same_version"
    missing = await api.get(admin, "/v1/cases/migrations/no-such-migration")
    assert missing.status_code == 404
    async with api.app.state.services.sessions() as session:
        kinds = (await session.execute(select(AuditEvent.kind).where(AuditEvent.chain == "admin"))).scalars().all()
    assert "case_migration_started" not in kinds
