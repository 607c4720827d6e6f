"""The annual results report as PDF: the DOCX rendered by LibreOffice (``soffice --headless --convert-to pdf``),
where the deployment has installed it (Debian: ``libreoffice-writer-nogui`` and ``fonts-liberation2``).

The DOCX names Times New Roman; LibreOffice on Linux draws it with Liberation Serif, which has the same metrics, and
from version 2 (Debian ``fonts-liberation2``; ``fonts-liberation`` is 1.07) covers Vietnamese: the PDF keeps the
DOCX's layout and every diacritic in one typeface (with 1.07, letters such as Ộ, Ạ, Ơ come from a fallback font).
Each conversion runs in a directory of its own with a LibreOffice profile of its own (conversions at once do not
share, nor lock, a profile), in a worker thread of the caller's choosing, bounded by a timeout. Without a renderer
the export is refused 503 (problem+json naming what to install): a PDF is never stubbed."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from service.domain.errors import Reason, Unavailable

RENDERERS = ("soffice", "libreoffice")


def find_renderer(configured: str | None = None) -> str | None:
    """The renderer to run: ``configured`` (a path or a command name) or, unset, soffice/libreoffice on PATH."""
    for candidate in [configured] if configured else RENDERERS:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def missing_renderer(configured: str | None) -> Unavailable:
    where = f"CDHT_PDF_RENDERER={configured} is not an executable" if configured else "soffice is not on PATH"
    return Unavailable(
        f"PDF export needs LibreOffice on the server ({where}); install libreoffice-writer-nogui and "
        "fonts-liberation2, or export the DOCX",
        reasons=[Reason("pdf_renderer_missing", where)],
    )


def docx_to_pdf(docx: bytes, renderer: str, *, timeout: float = 120.0) -> bytes:
    """The PDF LibreOffice renders from ``docx`` (blocking: call it in a worker thread)."""
    with tempfile.TemporaryDirectory(prefix="cdht-pdf-") as work:
        folder = Path(work)
        source = folder / "report.docx"
        source.write_bytes(docx)
        command = [
            renderer,
            f"-env:UserInstallation={(folder / 'profile').as_uri()}",
            "--headless",
            "--norestore",
            "--nolockcheck",
            "--convert-to",
            "pdf:writer_pdf_Export",
            "--outdir",
            str(folder),
            str(source),
        ]
        environment = {**os.environ, "HOME": str(folder)}
        try:
            result = subprocess.run(
                command, capture_output=True, timeout=timeout, env=environment, cwd=folder, check=False
            )
        except subprocess.TimeoutExpired as exc:
            raise _failed(f"LibreOffice did not finish within {timeout:g} s") from exc
        except OSError as exc:
            raise _failed(f"LibreOffice could not be started: {exc}") from exc
        target = folder / "report.pdf"
        if result.returncode != 0 or not target.is_file():
            said = (result.stderr or result.stdout).decode("utf-8", "replace").strip()[-300:]
            raise _failed(f"LibreOffice exited with {result.returncode}: {said or 'no output'}")
        return target.read_bytes()


def _failed(message: str) -> Unavailable:
    return Unavailable(f"the PDF could not be rendered: {message}", reasons=[Reason("pdf_render_failed", message)])
