"""Helpers the tests share: databases, apps, the CLI, payloads, authority seats, load drivers and checks.

A test module imports shared helpers from here (or from ``tests.helpers`` and the other support modules beside
the tests, e.g. ``tests/units/support.py``), never from another test module or a ``conftest.py``:
tests/test_architecture.py fails on such an import.
"""
