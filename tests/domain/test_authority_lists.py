"""The list clauses of ``authority`` hold against ``can_read``: for random unit trees (orphans included), units
that ceased, successions between any two units, cases about the unit or an organisation, and random actors (any
roles, a learning unit's head, units inside, outside or unknown to the tree, any organisation, the service's own
timers), a case is listed (``readable_cases``) exactly when it is read by id (``can_read`` over its unit path),
an audit event is listed (``readable_events``) exactly when its case (or, for an event of no case, its unit) is
read, and the codes the audit search filters by (``scope_codes`` of the roots) are the units ``within`` names.
Run on each database of the suite."""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timezone
from typing import Any

import anyio.from_thread
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from service.domain import authority
from service.domain.actor import Actor, system_actor
from service.domain.units.paths import unit_path
from service.persistence.db import make_engine, session_factory
from service.persistence.queries import scope_codes
from service.persistence.tables import AdminUnit, AuditEvent, Case, UnitSuccession
from tests.support.databases import BACKENDS, empty_postgres, run_in_thread
from workflows.schema import ROLES

ROOT = authority.NATIONAL_ROOT
ORGS = ("ORG-A", "ORG-B")
LEVELS = ("province", "district", "commune")
MAX_DEPTH = 7  # unit_path reads a unit and 7 above it; the trees stay within that


@dataclass(frozen=True)
class World:
    units: tuple[tuple[str, str | None, bool], ...]  # code, parent (None: a root beside VN), ceased
    successions: tuple[tuple[str, str], ...]  # predecessor, successor
    cases: tuple[tuple[str, str], ...]  # unit, subject ("" for the unit's own case)
    actors: tuple[Actor, ...]


@st.composite
def worlds(draw: st.DrawFn) -> World:
    depth = {ROOT: 0}
    units = []
    for index in range(draw(st.integers(1, 10))):
        parent = draw(st.sampled_from([code for code, d in depth.items() if d < MAX_DEPTH] + [None]))
        code = f"U{index}"
        depth[code] = 0 if parent is None else depth[parent] + 1
        units.append((code, parent, draw(st.booleans())))
    codes = sorted(depth)
    pairs = st.tuples(st.sampled_from(codes[:-1] if codes[-1] == ROOT else codes), st.sampled_from(codes))
    successions = draw(st.lists(pairs.filter(lambda pair: pair[0] != pair[1]), max_size=8, unique=True))
    cases = draw(st.lists(st.tuples(st.sampled_from(codes), st.sampled_from(("", *ORGS))), min_size=1, max_size=8))
    roles = st.one_of(
        st.just(("learning_unit_head",)),
        st.lists(st.sampled_from(sorted(ROLES)), min_size=1, max_size=2, unique=True).map(tuple),
    )
    person = st.builds(
        lambda index, roles, unit, org: Actor(f"actor-{index}", "A", roles, unit, org),
        st.integers(0, 99),
        roles,
        st.sampled_from([*codes, "ELSEWHERE"]),
        st.sampled_from((None, "", *ORGS)),
    )
    actors = draw(st.lists(st.one_of(person, st.just(system_actor("test"))), min_size=1, max_size=6))
    return World(tuple(units), tuple(successions), tuple(cases), tuple(actors))


@dataclass
class Database:
    portal: Any
    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]


@pytest.fixture(scope="module", params=BACKENDS)
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Database]:
    if request.param == "sqlite":
        path = tmp_path_factory.mktemp("authority") / "cdht.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_migrated")
        run_in_thread(lambda: empty_postgres(url))
    with anyio.from_thread.start_blocking_portal() as portal:
        engine = portal.call(lambda: _make_engine(url))
        try:
            yield Database(portal, engine, session_factory(engine))
        finally:
            portal.call(engine.dispose)


async def _make_engine(url: str) -> AsyncEngine:
    return make_engine(url)


async def _store(sessions: async_sessionmaker[AsyncSession], world: World) -> None:
    """The world in the tables, in place of the previous example's."""
    async with sessions() as session, session.begin():
        for table in (AuditEvent, Case, UnitSuccession):
            await session.execute(delete(table))
        await session.execute(delete(AdminUnit).where(AdminUnit.code != ROOT))
    async with sessions() as session, session.begin():
        for code, parent, ceased in world.units:
            level = LEVELS[min(_depth(world, code), len(LEVELS)) - 1] if parent else "province"
            valid_to = date(2025, 6, 30) if ceased else None
            session.add(AdminUnit(code=code, name=code, level=level, parent_code=parent, valid_to=valid_to))
        for before, after in world.successions:
            session.add(UnitSuccession(predecessor_code=before, successor_code=after, **SUCCESSION))
        for index, (unit, subject) in enumerate(world.cases):
            case_id = f"case-{index}"
            session.add(Case(id=case_id, unit_code=unit, subject=subject, cycle=2000 + index, **CASE))
            session.add(_event(f"case:{case_id}", unit, case_id))
        for code in (ROOT, *(code for code, _, _ in world.units)):
            session.add(_event(f"unit:{code}", code, None))
        session.add(_event("nowhere", None, None))


def _depth(world: World, code: str) -> int:
    parents = {unit: parent for unit, parent, _ in world.units}
    depth = 0
    while parents.get(code) is not None:
        code, depth = parents[code], depth + 1  # type: ignore[assignment]
    return depth


SUCCESSION = {"effective_on": date(2025, 7, 1), "basis": "resolution", "source": "test"}
CASE = {
    "procedure": "cdht_xa",
    "version": "tt25-2023",
    "profile": "two_tier",
    "kind": "first",
    "state": "planning",
    "opened_by": "test",
    "created_at": datetime(2025, 1, 20, 2, tzinfo=timezone.utc),
    "updated_at": datetime(2025, 1, 20, 2, tzinfo=timezone.utc),
}


def _event(chain: str, unit: str | None, case_id: str | None) -> AuditEvent:
    return AuditEvent(
        uid=str(uuid.uuid4()),
        chain=chain,
        seq=1,
        case_id=case_id,
        unit_code=unit,
        kind="test",
        actor_sub="test",
        actor_name="test",
        occurred_at=datetime(2025, 1, 20, 2, tzinfo=timezone.utc),
        payload="{}",
        prev_hash="",
        hash="",
    )


async def _check(sessions: async_sessionmaker[AsyncSession], world: World) -> None:
    await _store(sessions, world)
    async with sessions() as session:
        paths = {code: (await unit_path(session, code))[1] for code in {ROOT, *(u for u, _, _ in world.units)}}
        every_unit = set((await session.execute(select(AdminUnit.code))).scalars())
        cases = (await session.execute(select(Case.id, Case.unit_code, Case.subject))).all()
        events = (await session.execute(select(AuditEvent.id, AuditEvent.unit_code, AuditEvent.case_id))).all()
        for actor in world.actors:
            scope = authority.jurisdiction_of(actor, await _continued(session, actor))
            assert scope == await authority.jurisdiction(session, actor)
            read = {
                case.id
                for case in cases
                if authority.can_read(actor, paths[case.unit_code], case.subject or None).allowed
            }
            listed = set((await session.execute(select(Case.id).where(authority.readable_cases(scope)))).scalars())
            assert listed == read, (actor, scope)

            expected = {event.id for event in events if _event_read(actor, event, read, paths)}
            query = select(AuditEvent.id).where(authority.readable_events(scope))
            assert set((await session.execute(query)).scalars()) == expected, (actor, scope)

            within = select(AdminUnit.code).where(authority.within(AdminUnit.code, scope))
            units_within = set((await session.execute(within)).scalars())
            codes = await scope_codes(session, scope.roots)
            assert (every_unit if codes is None else set(codes)) == units_within, (actor, scope)


def _event_read(actor: Actor, event: Any, read: set[str], paths: dict[str, authority.UnitPath]) -> bool:
    """A case's event is read when its case is; an event of no case when its unit is (none without a unit but by
    the service's own timers)."""
    if event.case_id is not None:
        return event.case_id in read
    if event.unit_code is None:
        return actor.is_system
    return authority.can_read(actor, paths[event.unit_code]).allowed


async def _continued(session: AsyncSession, actor: Actor) -> list[str]:
    """The ceased units the actor's unit continues, read here from the succession rows (not the query helper)."""
    if actor.is_system:
        return []
    rows = await session.execute(
        select(UnitSuccession.predecessor_code, AdminUnit.valid_to)
        .join(AdminUnit, AdminUnit.code == UnitSuccession.predecessor_code)
        .where(UnitSuccession.successor_code == actor.unit)
    )
    return sorted(code for code, valid_to in rows.all() if valid_to is not None)


@given(world=worlds())
@settings(max_examples=80, deadline=None, database=None)
def test_the_list_clauses_list_exactly_what_can_read_reads(database: Database, world: World) -> None:
    database.portal.call(_check, database.sessions, world)
