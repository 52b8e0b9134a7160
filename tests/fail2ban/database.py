"""A fail2ban database written the way fail2ban writes it, for tests that need exact rows.

The schema is fail2ban 1.1's (server/database.py, version 4); test_real_fail2ban checks it
against the database a real fail2ban-server creates.
"""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
import sqlite3

SCHEMA = """
CREATE TABLE fail2banDb(version INTEGER);
CREATE TABLE jails(name TEXT NOT NULL UNIQUE, enabled INTEGER NOT NULL DEFAULT 1);
CREATE INDEX jails_name ON jails(name);
CREATE TABLE logs(jail TEXT NOT NULL, path TEXT, firstlinemd5 TEXT, lastfilepos INTEGER DEFAULT 0,
  FOREIGN KEY(jail) REFERENCES jails(name) ON DELETE CASCADE, UNIQUE(jail, path),
  UNIQUE(jail, path, firstlinemd5));
CREATE INDEX logs_path ON logs(path);
CREATE INDEX logs_jail_path ON logs(jail, path);
CREATE TABLE bans(jail TEXT NOT NULL, ip TEXT, timeofban INTEGER NOT NULL, bantime INTEGER NOT NULL,
  bancount INTEGER NOT NULL default 1, data JSON, FOREIGN KEY(jail) REFERENCES jails(name) );
CREATE INDEX bans_jail_timeofban_ip ON bans(jail, timeofban);
CREATE INDEX bans_jail_ip ON bans(jail, ip);
CREATE INDEX bans_ip ON bans(ip);
CREATE TABLE bips(ip TEXT NOT NULL, jail TEXT NOT NULL, timeofban INTEGER NOT NULL,
  bantime INTEGER NOT NULL, bancount INTEGER NOT NULL default 1, data JSON,
  PRIMARY KEY(ip, jail), FOREIGN KEY(jail) REFERENCES jails(name) );
CREATE INDEX bips_timeofban ON bips(timeofban);
CREATE INDEX bips_ip ON bips(ip);
"""

_INSERT_BAN = (
    "INSERT INTO bans(jail, ip, timeofban, bantime, bancount, data) VALUES(?, ?, ?, ?, 1, '{}')"
)
_INSERT_BIP = (
    "INSERT OR REPLACE INTO bips(jail, ip, timeofban, bantime, bancount, data) "
    "VALUES(?, ?, ?, ?, 1, '{}')"
)

_UPSERT_JAIL = (
    "INSERT INTO jails(name, enabled) VALUES(?, ?) "
    "ON CONFLICT(name) DO UPDATE SET enabled = excluded.enabled"
)


class Fail2banDb:
    """Writes rows as fail2ban does: each write is its own committed transaction."""

    def __init__(self, path: Path, *jails: str) -> None:
        """Create the database with the given jails enabled."""
        self.path = path
        with closing(self._connect()) as connection, connection:
            connection.executescript(SCHEMA)
            connection.execute("INSERT INTO fail2banDb(version) VALUES(4)")
            connection.executemany("INSERT INTO jails(name) VALUES(?)", [(j,) for j in jails])

    def _connect(self) -> sqlite3.Connection:
        # fail2ban's own connection settings (server/database.py).
        connection = sqlite3.connect(self.path, isolation_level="DEFERRED")
        connection.execute("PRAGMA journal_mode = MEMORY")
        return connection

    def _write(self, *statements: tuple[str, tuple[object, ...]]) -> None:
        """Run statements in one committed transaction on a connection of its own."""
        with closing(self._connect()) as connection, connection:
            for sql, parameters in statements:
                connection.execute(sql, parameters)

    def ban(self, jail: str, ip: str, timeofban: int, bantime: int = 3600) -> None:
        """A ban: a history row, and the latest ban of this IP in this jail."""
        parameters = (jail, ip, timeofban, bantime)
        self._write((_INSERT_BAN, parameters), (_INSERT_BIP, parameters))

    def unban(self, jail: str, ip: str) -> None:
        """A manual unban (fail2ban-client set JAIL unbanip IP) deletes both rows."""
        self._write(
            ("DELETE FROM bips WHERE jail = ? AND ip = ?", (jail, ip)),
            ("DELETE FROM bans WHERE jail = ? AND ip = ?", (jail, ip)),
        )

    def purge(self, before: int) -> None:
        """fail2ban's hourly purge of the history older than dbpurgeage."""
        self._write(("DELETE FROM bans WHERE timeofban < ?", (before,)))

    def enable(self, jail: str, *, enabled: bool = True) -> None:
        """A jail starting (enabled) or stopping."""
        self._write((_UPSERT_JAIL, (jail, int(enabled))))
