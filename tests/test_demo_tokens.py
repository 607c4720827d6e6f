"""Demo tokens for every role of every demo commune (``cdht demo-tokens``), each one the service accepts."""

from __future__ import annotations

import json
from pathlib import Path

from service.auth import TokenVerifier
from service.config import Settings
from service.demo import UNITS
from tests.support.cli import cdht

COMMUNE_ROLES = {"commune_leader", "commune_officer", "commune_member"}


def test_every_role_of_every_demo_commune_has_a_token(tmp_path: Path) -> None:
    env = {"CDHT_DATA_DIR": str(tmp_path), "CDHT_ENV": "dev"}
    listed = cdht("demo-tokens", "--format", "json", cwd=tmp_path, env=env)
    assert listed.returncode == 0, listed.stderr
    users = json.loads(listed.stdout)
    communes = [code for code, _, level, *_ in UNITS if level == "commune"]
    assert len(communes) == 5
    for commune in communes:
        assert {u["role"] for u in users if u["unit"] == commune} == COMMUNE_ROLES, commune
    verifier = TokenVerifier(Settings(env="dev", data_dir=tmp_path))
    for user in users:
        actor = verifier.verify(user["token"])
        assert (actor.sub, actor.roles, actor.unit, actor.org) == (
            user["sub"],
            (user["role"],),
            user["unit"],
            user["org"],
        )
    assert {u["env"] for u in users} >= {"TOKEN_LEADER_X01", "TOKEN_OFFICER_X05", "TOKEN_MEMBER_X03_HKH", "TOKEN_ADMIN"}
    shell = cdht("demo-tokens", "--format", "env", cwd=tmp_path, env=env).stdout
    assert shell.count("\nTOKEN_") + 1 == len(users) and "TOKEN_PROVINCE_DIRECTOR=ey" in shell
    refused = cdht("demo-tokens", cwd=tmp_path, env={**env, "CDHT_ENV": "production"})
    assert refused.returncode == 2 and "refused in production" in refused.stderr
