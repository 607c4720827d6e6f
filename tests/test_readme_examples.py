"""The README's examples run as written: every ``sh`` block of README.md that calls ``curl`` is run with bash, in
order, against a real ``cdht serve`` of the demo (``cdht seed-demo``), as someone who ran ``make run`` would run
it. ``.venv/bin/cdht`` is this interpreter's ``cdht`` (``.venv/bin/`` its bin directory), ``http://127.0.0.1:8000``
the test server's address, and the repository's ``openapi/`` and ``tools/`` are linked where the blocks run; the
server allows the origin of the README's CORS example. A block fails on any HTTP error (its ``curl -f``) or failed
command (``set -euo pipefail``)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

from tests.reliability.procs import (
    REPO,
    ProcessGroup,
    run_cli,
    sqlite_environment,
)

README = REPO / "README.md"
BLOCK = re.compile(r"```sh\n(.*?)```", re.S)
CORS_ORIGIN = "http://localhost:5173"  # the README's CORS example


def curl_blocks(readme: str) -> list[str]:
    return [block for block in BLOCK.findall(readme) if re.search(r"\bcurl\b", block)]


def test_the_readme_examples_run_as_written(tmp_path: Path) -> None:
    assert shutil.which("curl"), "curl is not installed: the README's examples are curl commands (.ci/run installs it)"
    assert shutil.which("bash"), "bash is not installed"
    blocks = curl_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 3, "the README's quick start, walk and CORS examples"
    environment = sqlite_environment(
        tmp_path, dev_secret="readme-examples-" + "x" * 32, data_dir=tmp_path / "var", cors_origins=f'["{CORS_ORIGIN}"]'
    )
    run_cli(environment, "seed-demo")
    python = Path(sys.executable).absolute()  # not resolved: the venv's own bin directory
    cdht, bin_dir = f"{python} -m service.cli", python.parent
    for shared in ("openapi", "tools"):  # the repository's files the examples name, read where the examples run
        (tmp_path / shared).symlink_to(REPO / shared)
    with ProcessGroup(tmp_path / "logs") as group:
        server = group.serve(environment, "readme", workers=True)
        for number, block in enumerate(blocks, 1):
            script = re.sub(r"(?<![\w/])\.venv/bin/cdht\b", cdht, block)
            script = re.sub(r"(?<![\w/])\.venv/bin/", f"{bin_dir}/", script)
            script = script.replace("http://127.0.0.1:8000", server.url)
            result = subprocess.run(
                ["bash", "-euo", "pipefail", "-c", script],
                env=environment,
                cwd=tmp_path,
                capture_output=True,
                text=True,
                timeout=180,
            )
            assert result.returncode == 0, (
                f"README example {number} failed ({result.returncode}):\n{block}\n--- stdout\n{result.stdout[-3000:]}"
                f"\n--- stderr\n{result.stderr[-3000:]}\n--- server log\n{server.log_tail()}"
            )
        group.check_alive()
