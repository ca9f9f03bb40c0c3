"""Where a ledger keeps its tables: an SQLite file (the default) or PostgreSQL, and their migrations.

A ledger is opened by URL: a path or ``sqlite:///path/to/ledger.db`` for SQLite, or
``postgresql://user@host:port/db`` (any libpq URL) for PostgreSQL through psycopg 3. Opening
applies the migrations the database lacks, in order, each in its own transaction, and records them
in ``schema_version``; a database newer than this library is refused.

Both databases run the same SQL: ``?`` placeholders are rewritten for psycopg, and the few
differences (identity columns, the enterprise lock, append-only triggers) live in ``Dialect``.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from incentives.errors import LedgerError, LedgerUnavailable, Location


@dataclass(frozen=True)
class Dialect:
    name: str
    identity: str           # an auto-numbered primary key column
    placeholder: str


SQLITE = Dialect("sqlite", "INTEGER PRIMARY KEY AUTOINCREMENT", "?")
POSTGRES = Dialect("postgresql", "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", "%s")

# Versioned migrations: never edit one that has shipped; add the next.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (1, "events, facts, entitlements, journal and postings", [
        "CREATE TABLE ledger_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE events (seq {identity}, id TEXT NOT NULL UNIQUE, type TEXT NOT NULL, at TEXT NOT NULL,
           credit_code TEXT, body TEXT NOT NULL)""",
        """CREATE TABLE enterprises (credit_code TEXT PRIMARY KEY, profile TEXT, version TEXT NOT NULL,
           city TEXT, county TEXT)""",
        """CREATE TABLE records (credit_code TEXT NOT NULL, record_id TEXT NOT NULL, version TEXT NOT NULL,
           body TEXT, PRIMARY KEY (credit_code, record_id))""",
        """CREATE TABLE flags (credit_code TEXT NOT NULL, rule_id TEXT NOT NULL, unit TEXT NOT NULL,
           flag TEXT NOT NULL, event_id TEXT NOT NULL, PRIMARY KEY (credit_code, rule_id, unit, flag))""",
        """CREATE TABLE entitlements (credit_code TEXT NOT NULL, rule_id TEXT NOT NULL, unit TEXT NOT NULL,
           payer TEXT NOT NULL, assessed BIGINT NOT NULL, owed BIGINT NOT NULL, paid BIGINT NOT NULL,
           state TEXT NOT NULL, record_id TEXT, deadline TEXT, city TEXT, county TEXT,
           PRIMARY KEY (credit_code, rule_id, unit, payer), CHECK (paid >= 0), CHECK (owed >= 0))""",
        """CREATE TABLE journal (seq {identity}, id TEXT NOT NULL UNIQUE, event_id TEXT NOT NULL,
           at TEXT NOT NULL, credit_code TEXT NOT NULL, rule_id TEXT NOT NULL, unit TEXT NOT NULL,
           clause TEXT NOT NULL, rulebook_hash TEXT NOT NULL, from_state TEXT, to_state TEXT NOT NULL,
           owed TEXT NOT NULL, paid TEXT NOT NULL, record_id TEXT, reason TEXT NOT NULL)""",
        """CREATE TABLE postings (seq {identity}, id TEXT NOT NULL UNIQUE, journal_id TEXT NOT NULL,
           debit TEXT NOT NULL, credit TEXT NOT NULL, amount BIGINT NOT NULL CHECK (amount > 0),
           payer TEXT NOT NULL, credit_code TEXT NOT NULL, rule_id TEXT NOT NULL, county TEXT,
           at TEXT NOT NULL)""",
        "CREATE INDEX journal_by_enterprise ON journal (credit_code)",
        "CREATE INDEX postings_by_enterprise ON postings (credit_code)",
        "CREATE INDEX entitlements_by_deadline ON entitlements (deadline)",
    ]),
    (2, "journal, postings and events are append-only", ["{append_only}"]),
    (3, "the date of the earliest notice, confirmation or refusal", ["ALTER TABLE flags ADD COLUMN at TEXT"]),
]

_APPEND_ONLY = ("events", "journal", "postings")


def _append_only(dialect: Dialect) -> list[str]:
    if dialect is SQLITE:
        return [f"CREATE TRIGGER {t}_{op.lower()} BEFORE {op} ON {t} BEGIN "
                f"SELECT RAISE(ABORT, '{t} is append-only'); END"
                for t in _APPEND_ONLY for op in ("UPDATE", "DELETE")]
    return ["""CREATE FUNCTION ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
               BEGIN RAISE EXCEPTION '% is append-only', TG_TABLE_NAME; END $$"""] + [
        f"CREATE TRIGGER {t}_append_only BEFORE UPDATE OR DELETE ON {t} "
        f"FOR EACH ROW EXECUTE FUNCTION ledger_append_only()" for t in _APPEND_ONLY]


class Store:
    """One connection to a ledger database, with its dialect; every write runs in ``transaction``."""

    def __init__(self, url: str | Path) -> None:
        text = str(url)
        self.url = text
        if text.startswith(("postgresql://", "postgres://")):
            self.dialect = POSTGRES
            try:
                import psycopg
            except ImportError as e:
                raise LedgerError("PostgreSQL needs psycopg 3: pip install 'incentives[postgres]'",
                                  location=Location(text)) from e
            try:
                self.conn: Any = psycopg.connect(text, autocommit=True)
            except psycopg.Error as e:
                raise LedgerUnavailable(f"cannot connect: {e}".strip(), location=Location(_safe(text))) from e
            self._errors: tuple[type[Exception], ...] = (psycopg.Error,)
            self._integrity: tuple[type[Exception], ...] = (psycopg.errors.UniqueViolation,)
            self._deadlock: tuple[type[Exception], ...] = (psycopg.errors.DeadlockDetected,
                                                            psycopg.errors.SerializationFailure)
        else:
            path = str(sqlite_path(text))
            self.dialect = SQLITE
            try:
                self.conn = sqlite3.connect(path, isolation_level=None, timeout=60, check_same_thread=False)
                self.conn.execute("PRAGMA journal_mode=WAL")
                self.conn.execute("PRAGMA synchronous=NORMAL")
                self.conn.execute("PRAGMA busy_timeout=60000")
                # a ledger of a whole register outgrows SQLite's default 2 MB page cache
                self.conn.execute("PRAGMA cache_size=-65536")
            except sqlite3.Error as e:
                raise LedgerError(f"cannot open: {e}", location=Location(path)) from e
            self._errors = (sqlite3.Error,)
            self._integrity = (sqlite3.IntegrityError,)
            self._deadlock = ()   # one writer at a time: SQLite waits (busy_timeout), it never deadlocks
        self._migrate()

    # ---------------------------------------------------------------- SQL
    def _sql(self, query: str) -> str:
        return query if self.dialect is SQLITE else query.replace("?", "%s")

    def execute(self, query: str, params: Sequence[Any] = ()) -> Any:
        return self.conn.execute(self._sql(query), tuple(params))

    def executemany(self, query: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        if self.dialect is SQLITE:
            self.conn.executemany(query, rows)
        else:
            with self.conn.cursor() as cur:
                cur.executemany(self._sql(query), rows)

    def all(self, query: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.execute(query, params).fetchall())

    def one(self, query: str, params: Sequence[Any] = ()) -> tuple[Any, ...] | None:
        row = self.execute(query, params).fetchone()
        return None if row is None else tuple(row)

    def begin(self) -> None:
        """Start a write transaction; SQLite takes its one writer lock now, not at the first write."""
        self.execute("BEGIN IMMEDIATE" if self.dialect is SQLITE else "BEGIN")

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        try:
            self.execute("ROLLBACK")
        except self._errors:
            pass

    def lock_enterprise(self, code: str) -> None:
        """Hold the enterprise until commit: a second writer for it waits (PostgreSQL row lock;
        SQLite already serialises writers)."""
        if self.dialect is POSTGRES:
            self.execute("SELECT pg_advisory_xact_lock(hashtext(?))", (code,))

    def lock_clock(self, exclusive: bool) -> None:
        """A clock event excludes record events everywhere; record events only exclude clocks."""
        if self.dialect is POSTGRES:
            fn = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
            self.execute(f"SELECT {fn}(hashtext('ledger clock'))")

    def is_duplicate(self, error: Exception) -> bool:
        return isinstance(error, self._integrity)

    def is_deadlock(self, error: Exception) -> bool:
        """The server failed the transaction to end a deadlock (or a serialization failure): it may be retried."""
        return isinstance(error, self._deadlock)

    @property
    def errors(self) -> tuple[type[Exception], ...]:
        return self._errors

    def close(self) -> None:
        self.conn.close()

    # ---------------------------------------------------------------- migrations
    def version(self) -> int:
        try:
            row = self.one("SELECT MAX(version) FROM schema_version")
        except self._errors:
            self.rollback()
            return 0
        return int(row[0]) if row and row[0] is not None else 0

    def _migrate(self) -> None:
        try:
            self.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                         "description TEXT NOT NULL, applied TEXT NOT NULL)")
        except self._errors as e:
            raise LedgerError(f"cannot create schema_version: {e}", location=Location(_safe(self.url))) from e
        latest = MIGRATIONS[-1][0]
        for number, description, statements in MIGRATIONS:
            self.begin()
            try:
                if self.dialect is POSTGRES:  # two processes opening a new database migrate one after the other
                    self.execute("SELECT pg_advisory_xact_lock(hashtext('ledger migrations'))")
                if self.one("SELECT 1 FROM schema_version WHERE version = ?", (number,)):
                    self.rollback()
                    continue
                for statement in statements:
                    for sql in (_append_only(self.dialect) if statement == "{append_only}" else [statement]):
                        self.conn.execute(sql.replace("{identity}", self.dialect.identity))
                self.execute("INSERT INTO schema_version VALUES (?, ?, ?)",
                             (number, description, dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")))
                self.commit()
            except self._errors as e:
                self.rollback()
                raise LedgerError(f"migration {number} ({description}) failed: {e}",
                                  location=Location(_safe(self.url))) from e
        have = self.version()
        if have > latest:
            raise LedgerError(f"the database is at schema version {have}, newer than this library's {latest}",
                              location=Location(_safe(self.url)))


def sqlite_path(url: str | Path) -> Path | None:
    """The file of a SQLite ledger URL (a path, ``sqlite:///…``), or None for PostgreSQL."""
    text = str(url)
    if text.startswith(("postgresql://", "postgres://")):
        return None
    return Path(text.removeprefix("sqlite:///").removeprefix("sqlite://"))


def _safe(url: str) -> str:
    """The URL without a password, for messages."""
    if "://" in url and "@" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        return f"{scheme}://{creds.split(':', 1)[0]}@{host}"
    return url
