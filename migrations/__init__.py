"""Alembic schema migrations for cdht, shipped inside the package so an installed ``cdht`` can migrate.

There is no ``alembic.ini``: :mod:`service.persistence.migrate` builds the Alembic configuration in code,
with the database URL from the settings. ``env.py`` is the Alembic environment; ``versions/`` holds the
revisions.
"""

from pathlib import Path

SCRIPT_LOCATION = Path(__file__).resolve().parent
