"""Print the OpenAPI document of ``create_app()`` (``make openapi`` writes it to ``openapi/openapi.json``)."""

from __future__ import annotations

import json
import sys

from service.config import Settings
from service.main import create_app


def document() -> str:
    app = create_app(Settings(env="test", database_url="sqlite+aiosqlite:///:memory:"))
    return json.dumps(app.openapi(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


if __name__ == "__main__":
    sys.stdout.write(document())
