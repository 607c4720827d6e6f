"""The console in a real browser: Chromium (Debian's ``/usr/bin/chromium``, installed by ``.ci/run``) driven by
Playwright, against a real ``cdht serve`` on SQLite with the demo data.

    with console_server(tmp, now="2027-02-20T09:00:00+07:00") as served:   # seed-demo, then cdht serve
        with browser() as chromium:
            leader = signed_in(chromium, served.url, "leader-x02")          # its own context (cookies)
            take_step(leader, "issue_plan", {"plan": {...}})
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.procs import (
    ProcessGroup,
    ServiceProcess,
    run_cli,
    sqlite_environment,
)

CHROMIUM = os.environ.get("CDHT_TEST_CHROMIUM", "/usr/bin/chromium")
SECRET = "console-test-secret-" + "x" * 32
VIEWPORT = {"width": 1366, "height": 768}


@dataclass
class Served:
    group: ProcessGroup
    process: ServiceProcess
    environment: dict[str, str]
    root: Path

    @property
    def url(self) -> str:
        return self.process.url

    def restart_at(self, now: str) -> None:
        """The same database and files served again with the clock at ``now`` (the days between two steps)."""
        self.process.stop()
        self.environment = {**self.environment, "CDHT_NOW": now}
        self.process = self.group.serve(self.environment, f"api-{now[:10]}", migrate=False)


@contextmanager
def console_server(root: Path, *, now: str, **settings: object) -> Iterator[Served]:
    """``cdht seed-demo`` on a fresh SQLite file, then ``cdht serve`` (workers off: the clock is frozen)."""
    environment = sqlite_environment(root, dev_secret=SECRET, now=now, workers_in_process="false", **settings)
    run_cli(environment, "seed-demo", timeout=300)
    with ProcessGroup(root / "logs") as group:
        process = group.serve(environment, "api", migrate=False)
        yield Served(group, process, environment, root)


def chromium_path() -> str:
    found = shutil.which(CHROMIUM) or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if found is None:
        pytest.fail(f"Chromium is not installed at {CHROMIUM}: run .ci/run or apt-get install chromium")
    return found


@contextmanager
def browser(args: list[str] | None = None) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=chromium_path(), args=args or ["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


def signed_in(chromium: Any, base: str, sub: str, *, lang: str | None = None) -> Any:
    """A page of a browser context of its own, signed in as the demo identity ``sub``."""
    context = chromium.new_context(viewport=VIEWPORT, base_url=base, accept_downloads=True, locale="vi-VN")
    page = context.new_page()
    page.goto("/console/sign-in")
    page.select_option("#sub", sub)
    with page.expect_navigation():
        page.click("form.signin button[type=submit]")
    assert page.url.endswith("/console/"), page.url
    return page


def step_form_id(trigger: str, indicator: str | None = None) -> str:
    return f"step-{trigger}" + (f"-{indicator.replace('.', '-')}" if indicator else "")


def _fill(form: Any, name: str, value: Any) -> None:
    field = form.locator(f'[name="{name}"]')
    if field.count() == 0 and isinstance(value, dict):
        for key, inner in value.items():
            _fill(form, f"{name}.{key}", inner)
        return
    assert field.count() == 1, f"the form has no field {name}"
    tag = field.evaluate("e => e.tagName + ':' + (e.type || '')")
    if tag.startswith("SELECT"):
        field.select_option(str(value))
    elif tag.startswith("TEXTAREA"):
        lines = isinstance(value, list) and all(isinstance(v, str) for v in value)
        field.fill("\n".join(value) if lines else json.dumps(value, ensure_ascii=False))
    elif tag == "INPUT:checkbox":
        field.set_checked(bool(value))
    else:
        field.fill(str(value))


def fill_step(page: Any, trigger: str, payload: dict[str, Any], *, indicator: str | None = None) -> Any:
    """The step's generated form filled with ``payload`` (by field name: ``plan.number`` for a property of an
    object, JSON in the text area of a list); returns the form."""
    form_id = step_form_id(trigger, indicator)
    form = page.locator(f"form#{form_id}")
    assert form.count() == 1, f"no form for {trigger} {indicator or ''} on {page.url}"
    details = page.locator(f"details:has(form#{form_id})")
    if details.count() and details.get_attribute("open") is None:
        details.locator("summary").click()
    for name, value in payload.items():
        _fill(form, name, value)
    return form


def take_step(page: Any, trigger: str, payload: dict[str, Any], *, indicator: str | None = None) -> None:
    """Fill and send a step's form; the page that comes back must say it was done."""
    form = fill_step(page, trigger, payload, indicator=indicator)
    with page.expect_navigation():
        form.locator("button[type=submit]").click()
    done = page.locator("p.done")
    assert done.count() == 1, f"{trigger} {indicator or ''} was not done:\n{page.inner_text('main')[:3000]}"


def upload(page: Any, indicator: str, path: Path, title: str) -> None:
    page.select_option("#upload-indicator", indicator)
    page.set_input_files("#upload-file", str(path))
    page.fill("#upload-title", title)
    with page.expect_navigation():
        page.click("#upload button[type=submit]")
