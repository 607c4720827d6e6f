"""``cdht seed-demo``: a province, a district, communes, their users, and cases in several states.

Every case is walked through the real engine with the clock set to the day each step would happen, so the demo's
history, deadlines and audit chain are what production would hold. Running it again creates nothing new and
prints the tokens again.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from service import walkthrough as w
from service.auth import issue_dev_token
from service.config import Settings
from service.domain import reports  # noqa: F401  (registers the report collector the demo's compile fires)
from service.domain.actor import Actor, system_actor
from service.domain.authority import NATIONAL_ROOT
from service.domain.cases import engine, evidence, opening
from service.domain.evidence import store_evidence_file
from service.domain.units.tree import create_unit
from service.persistence import migrate
from service.persistence.db import make_engine, session_factory, unit_of_work
from service.persistence.tables import AdminUnit
from workflows.registry import Registry

PROVINCE, DISTRICT = "DEMO-LS", "DEMO-HL"
UNITS = [
    # code, name, level, parent, disadvantaged, valid_to
    (PROVINCE, "Tỉnh Lạng Sơn (demo)", "province", None, False, None),
    (DISTRICT, "Huyện Hữu Lũng (demo)", "district", PROVINCE, False, date(2025, 6, 30)),
    ("DEMO-X01", "Xã Thái Sơn (demo)", "commune", DISTRICT, False, None),
    ("DEMO-X02", "Xã Hòa Lạc (demo)", "commune", DISTRICT, True, None),
    ("DEMO-X03", "Xã Minh Tiến (demo)", "commune", DISTRICT, False, None),
    ("DEMO-X04", "Xã Yên Vượng (demo)", "commune", DISTRICT, True, None),
    ("DEMO-X05", "Xã Hữu Lũng (demo)", "commune", PROVINCE, False, None),
]
SOURCE = "demo data for `cdht seed-demo`; not the official list"


@dataclass(frozen=True)
class DemoUser:
    sub: str
    name: str
    role: str
    unit: str
    org: str | None = None

    @property
    def actor(self) -> Actor:
        return Actor(self.sub, self.name, (self.role,), self.unit, self.org)


def _commune_users() -> list[DemoUser]:
    """Every commune role of every demo commune: its leader, its culture and society officer, and a member speaking
    for its Hội Khuyến học (the organisation TC2 and TC5 are assigned to)."""
    users = []
    for code, name, level, *_ in UNITS:
        if level != "commune":
            continue
        short, commune = code[-3:].lower(), name.removeprefix("Xã ").removesuffix(" (demo)")
        users += [
            DemoUser(f"leader-{short}", f"Chủ tịch UBND xã {commune}", "commune_leader", code),
            DemoUser(f"officer-{short}", f"Công chức văn hóa - xã hội xã {commune}", "commune_officer", code),
            DemoUser(
                f"member-{short}-hkh", f"Chủ tịch Hội Khuyến học xã {commune}", "commune_member", code, "hoi_khuyen_hoc"
            ),
        ]
    return users


USERS = [
    *_commune_users(),
    DemoUser("district-officer", "Chuyên viên Phòng GDĐT Hữu Lũng", "district_officer", DISTRICT),
    DemoUser("district-head", "Trưởng phòng GDĐT Hữu Lũng", "district_head", DISTRICT),
    DemoUser("council-secretary-district", "Thư ký Hội đồng cấp huyện", "council_member", DISTRICT),
    DemoUser("province-officer", "Chuyên viên Sở GDĐT Lạng Sơn", "province_officer", PROVINCE),
    DemoUser("province-director", "Giám đốc Sở GDĐT Lạng Sơn", "province_director", PROVINCE),
    DemoUser("council-secretary", "Thư ký Hội đồng đánh giá (Sở GDĐT)", "council_member", PROVINCE),
    DemoUser("auditor", "Thanh tra Bộ GDĐT", "auditor", NATIONAL_ROOT),
    DemoUser("admin", "Quản trị hệ thống", "admin", NATIONAL_ROOT),
]
BY_SUB = {u.sub: u for u in USERS}


def at(day: str) -> datetime:
    """09:00 local time on ``day`` (Asia/Ho_Chi_Minh is UTC+7)."""
    return datetime.fromisoformat(f"{day}T02:00:00").replace(tzinfo=timezone.utc)


async def _pdf() -> AsyncIterator[bytes]:
    yield w.MINIMAL_PDF


class Walker:
    """Drives one case through the engine, one unit of work per step, as the named users."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], registry: Registry, settings: Settings) -> None:
        self.sessions, self.registry, self.settings = sessions, registry, settings
        self.definition = registry.current("cdht_xa").definition

    async def open(self, sub: str, unit: str, cycle: int, day: str, **kw: Any) -> str:
        async with unit_of_work(self.sessions) as session:
            outcome = await opening.open_case(
                session,
                registry=self.registry,
                actor=BY_SUB[sub].actor,
                procedure=kw.get("procedure", "cdht_xa"),
                unit_code=unit,
                cycle=cycle,
                kind=kw.get("kind", "first"),
                target_level=kw.get("target_level"),
                now=at(day),
            )
        return outcome.case.id

    async def step(
        self,
        case_id: str,
        sub: str,
        trigger: str,
        payload: dict[str, Any],
        day: str,
        indicator: str | None = None,
        actor: Actor | None = None,
    ) -> None:
        async with unit_of_work(self.sessions) as session:
            await engine.apply_transition(
                session,
                registry=self.registry,
                case_id=case_id,
                trigger=trigger,
                actor=actor or BY_SUB[sub].actor,
                payload=payload,
                now=at(day),
                indicator=indicator,
            )

    async def evidence(self, case_id: str, code: str, actor: Actor, day: str) -> None:
        stored = await store_evidence_file(
            _pdf(),
            data_dir=self.settings.data_dir,
            max_bytes=10**6,
            declared_type="application/pdf",
            filename=f"minh-chung-{code}.pdf",
        )
        async with unit_of_work(self.sessions) as session:
            await evidence.record_evidence(
                session,
                registry=self.registry,
                case_id=case_id,
                indicator=code,
                actor=actor,
                stored=stored,
                title=f"Minh chứng {code}",
                now=at(day),
            )

    async def collect(
        self,
        case_id: str,
        leader: str,
        unit: str,
        cycle: int,
        *,
        level: int = 1,
        upto: int | None = None,
        low_tc5: bool = False,
    ) -> None:
        """Issue the plan, assign, and submit and accept evidence for the first ``upto`` indicators."""
        officer = Actor(f"officer-{unit[-3:].lower()}", f"Công chức UBND xã {unit}", ("commune_officer",), unit)
        await self.step(case_id, leader, "issue_plan", w.issue_plan(cycle), f"{cycle}-01-15")
        await self.step(case_id, leader, "assign_indicators", w.assign_indicators(self.definition), f"{cycle}-01-20")
        for index, indicator in enumerate(self.definition.indicators[:upto]):
            day = (date(cycle, 3, 1) + timedelta(days=index * 10)).isoformat()
            await self.evidence(case_id, indicator.code, officer, day)
            payload = w.submit_evidence(self.definition, indicator.code, level=level)
            if low_tc5 and indicator.code == "TC5.1":
                # The commune rates itself pass; the figures say otherwise, and the service shows it.
                payload["figures"] = {"share": 55.0}
            await self.step(case_id, "", "submit_evidence", payload, day, indicator=indicator.code, actor=officer)
            await self.step(case_id, leader, "accept", {}, day, indicator=indicator.code)

    async def self_assess(self, case_id: str, leader: str, cycle: int) -> None:
        await self.step(
            case_id, leader, "complete_self_assessment", w.complete_self_assessment(cycle), f"{cycle + 1}-01-10"
        )
        await self.step(case_id, leader, "record_review_meeting", w.record_review_meeting(cycle), f"{cycle + 1}-01-20")

    async def review(
        self, case_id: str, cycle: int, *, officer: str, head: str, secretary: str, failed: tuple[str, ...] = ()
    ) -> None:
        await self.step(
            case_id, officer, "receive_dossier", {"received_on": f"{cycle + 1}-02-16"}, f"{cycle + 1}-02-16"
        )
        await self.step(
            case_id, head, "form_council", w.form_council(cycle, secretary_sub=secretary), f"{cycle + 1}-03-01"
        )
        await self.step(
            case_id,
            secretary,
            "record_appraisal",
            w.record_appraisal(self.definition, cycle, failed=failed),
            f"{cycle + 1}-03-10",
        )


async def seed(settings: Settings, *, migrate_first: bool = True) -> None:
    url = settings.resolved_database_url
    if migrate_first:
        await migrate.upgrade(url)
    db = make_engine(url)
    sessions = session_factory(db)
    registry = settings.registry()
    try:
        async with sessions() as session:
            seeded = await session.get(AdminUnit, PROVINCE) is not None
        if not seeded:
            await _create(sessions, registry, settings)
            print("Demo data created.")
        else:
            print("Demo data already present; nothing created.")
    finally:
        await db.dispose()
    print("\nDemo users (dev tokens, valid 30 days). Use as: Authorization: Bearer <token>\n")
    print_tokens(settings, "text")


def env_name(user: DemoUser) -> str:
    """The shell variable of a user's token in ``cdht demo-tokens --format env``: TOKEN_LEADER_X01, …"""
    return "TOKEN_" + user.sub.upper().replace("-", "_")


def tokens(settings: Settings) -> list[tuple[DemoUser, str]]:
    """A dev token (valid 30 days) for every demo user: every role of every demo commune, the reviewing offices
    of both tiers, the councils' secretaries, a national auditor and a national admin."""
    return [
        (
            user,
            issue_dev_token(
                settings,
                sub=user.sub,
                roles=[user.role],
                unit=user.unit,
                org=user.org,
                name=user.name,
                ttl_seconds=30 * 24 * 3600,
            ),
        )
        for user in USERS
    ]


def print_tokens(settings: Settings, form: str) -> None:
    """The demo tokens as text (a comment line per user, then the token), shell assignments (``env``) or JSON."""
    issued = tokens(settings)
    if form == "json":
        print(
            json.dumps(
                [{**asdict(user), "env": env_name(user), "token": token} for user, token in issued],
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    for user, token in issued:
        org = f" (org {user.org})" if user.org else ""
        if form == "env":
            print(f"{env_name(user)}={token}  # {user.role} at {user.unit}{org}")
        else:
            print(f"# {user.sub}: {user.role} at {user.unit}{org}\n{token}\n")


async def _create(sessions: async_sessionmaker[AsyncSession], registry: Registry, settings: Settings) -> None:
    async with unit_of_work(sessions) as session:
        for code, name, level, parent, disadvantaged, valid_to in UNITS:
            await create_unit(
                session,
                actor=system_actor("seed-demo"),
                now=at("2024-01-02"),
                source_default=SOURCE,
                data={
                    "code": code,
                    "name": name,
                    "level": level,
                    "parent": parent,
                    "disadvantaged": disadvantaged,
                    "valid_to": valid_to,
                },
            )
    walk = Walker(sessions, registry, settings)
    review = {"officer": "province-officer", "head": "province-director", "secretary": "council-secretary"}

    # Cycle 2024, three-tier: the district office reviews and its head decides; recognised at level 1.
    case = await walk.open("leader-x01", "DEMO-X01", 2024, "2024-01-10")
    await walk.collect(case, "leader-x01", "DEMO-X01", 2024)
    await walk.self_assess(case, "leader-x01", 2024)
    await walk.step(case, "leader-x01", "submit_dossier", w.submit_dossier(2024, 1), "2025-02-10")
    await walk.review(
        case, 2024, officer="district-officer", head="district-head", secretary="council-secretary-district"
    )
    await walk.step(case, "district-head", "recognize", w.recognize(2024), "2025-03-20")

    # Cycle 2025, two-tier: the provincial Department reviews. One recognised, one refused, one not submitted,
    # one lapsed.
    case = await walk.open("leader-x05", "DEMO-X05", 2025, "2025-01-10")
    await walk.collect(case, "leader-x05", "DEMO-X05", 2025)
    await walk.self_assess(case, "leader-x05", 2025)
    await walk.step(case, "leader-x05", "submit_dossier", w.submit_dossier(2025, 1), "2026-02-10")
    await walk.review(case, 2025, **review)
    await walk.step(case, "province-director", "recognize", w.recognize(2025), "2026-03-20")

    case = await walk.open("leader-x02", "DEMO-X02", 2025, "2025-01-10")
    await walk.collect(case, "leader-x02", "DEMO-X02", 2025)
    await walk.self_assess(case, "leader-x02", 2025)
    await walk.step(case, "leader-x02", "submit_dossier", w.submit_dossier(2025, 1), "2026-02-12")
    await walk.review(case, 2025, failed=("TC3.2",), **review)
    await walk.step(
        case,
        "province-director",
        "refuse",
        w.refuse(2025, reasons=["Chỉ tiêu 3.2: thư viện xã chưa ứng dụng công nghệ thông tin"]),
        "2026-03-25",
    )

    case = await walk.open("leader-x03", "DEMO-X03", 2025, "2025-01-10")
    await walk.collect(case, "leader-x03", "DEMO-X03", 2025, low_tc5=True)
    await walk.self_assess(case, "leader-x03", 2025)
    await walk.step(
        case,
        "leader-x03",
        "decline_submission",
        {"reason": "TC5.1 chỉ đạt 55%, chưa đủ mức độ 1; xây dựng tiếp năm sau"},
        "2026-02-15",
    )

    case = await walk.open("leader-x04", "DEMO-X04", 2025, "2025-02-01")
    await walk.step(case, "leader-x04", "issue_plan", w.issue_plan(2025), "2025-02-05")
    await walk.step(case, "", "lapse", {}, "2026-03-01", actor=system_actor("deadlines"))

    # Cycle 2026, in progress: an upgrade to level 2 collecting evidence, and a plan just issued.
    case = await walk.open("leader-x01", "DEMO-X01", 2026, "2026-01-12", kind="upgrade")
    await walk.collect(case, "leader-x01", "DEMO-X01", 2026, level=2, upto=6)
    case = await walk.open("province-director", "DEMO-X03", 2026, "2026-01-12")
    await walk.step(case, "leader-x03", "issue_plan", w.issue_plan(2026), "2026-01-20")

    # The provincial Department's annual results report for cycle 2025: compiled and approved, not yet sent.
    report = await walk.open("province-officer", PROVINCE, 2025, "2026-05-08", procedure="bao_cao_ket_qua")
    await walk.step(report, "province-officer", "compile", {}, "2026-05-10")
    await walk.step(
        report,
        "province-director",
        "approve",
        {
            "document": w.docref("125/BC-SGDĐT", "2026-05-15"),
            "place": "Lạng Sơn",
            "signer_title": "GIÁM ĐỐC",
            "signer_name": "Hoàng Văn Em",
            "recipients": ["Bộ GDĐT (để b/c)", "UBND tỉnh (để b/c)", "Lưu: VT, GDTX"],
        },
        "2026-05-15",
    )
