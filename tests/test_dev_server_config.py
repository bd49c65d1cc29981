"""How the tests' dev server is configured, checked on the server itself (kept apart from modules that define
workflows: their imports are re-imported inside the workflow sandbox)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.servers import dev_server


async def test_dev_server_database_is_in_wal_mode(tmp_path: Path) -> None:
    # WAL is a property of the database file: what the server set there is what it writes with (ADR 16).
    async with dev_server(tmp_path):
        with sqlite3.connect(f"file:{tmp_path / 'temporal.db'}?mode=ro", uri=True) as db:
            (mode,) = db.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"
