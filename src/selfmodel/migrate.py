"""``selfmodel migrate``: create or upgrade the PostgreSQL schema the config's store names.

Safe to run again (a database at the current version is left alone), while gateways and
workers run (migrations only add), and from several hosts at once (an advisory lock makes
one of them apply each step). SQLite and Redis stores create what they need when they
start, so for them this command only says so.
"""

from __future__ import annotations

import asyncio

from selfmodel.config import Config
from selfmodel.doctor import safe_url


def run_migrate(config: Config) -> int:
    url = config.store_url()
    if not url.startswith(("postgresql://", "postgres://")):
        print(f"{safe_url(url)}: nothing to migrate (SQLite and Redis stores create what "
              "they need when they start)")
        return 0
    from selfmodel.store.postgres import migrate_database

    before, after = asyncio.run(migrate_database(url))
    if before == after:
        print(f"{safe_url(url)}: the schema is at version {after}, nothing to do")
    else:
        print(f"{safe_url(url)}: schema migrated from version {before} to {after}")
    return 0
