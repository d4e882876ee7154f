"""The read commands' fast path (#21): `list`, `show` and `stats` read the ledger through plain
DB-API (stdlib sqlite3; psycopg for PostgreSQL) with hand-written SELECTs, so they start without
importing SQLAlchemy, SQLModel, pydantic-settings or the service (`import sqlalchemy` alone costs
~8x a bare interpreter; the goal is 12x for the whole command, bench/startup.py).

`open_reader` returns None whenever this path cannot answer the way the ORM path would: the
ledger is missing or not at the schema head (a first run migrates through the ORM path), or the
URL is one this module does not speak. The caller then takes the ORM path.

The tables are the ones the Alembic migrations define (ledger/migrations/versions/); the values
are converted as SQLAlchemy's types would hand them back (models.py: UTCDateTime, Numeric(14, 6),
JSON), and tests compare both paths' output on SQLite and PostgreSQL. Money arithmetic is
rules/billing.py's; the statistics' SQL mirrors rollups.statistics (ledger/fastread_stats.py).

Imports: the standard library and rules/ only (not even config: pydantic-settings is most of a
fast read's budget), so the ledger's location is read here the way `Settings` reads it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

VERSIONS = Path(__file__).parent / "migrations" / "versions"

# What `list` and `show` read of an instance (the ORM's Instance attribute names; `metadata` is
# the column of `meta`).
COLUMNS = (
    "id",
    "user_id",
    "task_id",
    "provider",
    "instance_type",
    "region",
    "status",
    "public_ip",
    "private_ip",
    "cloud_instance_id",
    "disk_size_gb",
    "auto_terminate_minutes",
    "cost_per_hour",
    "total_cost",
    "compute_cost",
    "storage_cost",
    "storage_price_gb_month",
    "public_ip_price_per_hour",
    "public_ip_cost",
    "purpose",
    "tags",
    "metadata",
    "allowed_ssh_cidrs",
    "ssh_key_fingerprint",
    "engine",
    "error",
    "error_code",
    "created_at",
    "expires_at",
    "hard_deadline",
    "ready_at",
    "terminated_at",
    "updated_at",
    "billed_from",
)
MONEY = {"cost_per_hour", "total_cost", "compute_cost", "storage_cost", "storage_price_gb_month"}
MONEY |= {"public_ip_price_per_hour", "public_ip_cost"}
JSON_COLUMNS = {"tags", "metadata", "allowed_ssh_cidrs"}
MOMENTS = {"created_at", "expires_at", "hard_deadline", "ready_at", "terminated_at"}
MOMENTS |= {"updated_at", "billed_from"}

ATTEMPT_COLUMNS = (
    "number",
    "provider",
    "region",
    "zone",
    "instance_type",
    "spot",
    "price_per_hour",
    "stack_name",
    "outcome",
    "started_at",
    "ended_at",
    "failure_class",
    "provider_code",
    "message",
)


def head_revision() -> str:
    """The newest migration's revision: its file name's number (0001_initial.py ...)."""
    return max(p.name[:4] for p in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))


def _env(environ: Mapping[str, str], name: str) -> str | None:
    """`Settings`' reading of PROVISIONER_<NAME>: case-insensitive, as pydantic-settings'."""
    wanted = f"provisioner_{name}"
    for key, value in environ.items():
        if key.lower() == wanted:
            return value
    return None


def ledger_location(environ: Mapping[str, str] | None = None) -> tuple[str, Path]:
    """(the ledger URL, the data dir) as `Settings().effective_database_url` and `.home` give
    them (config.py)."""
    environ = os.environ if environ is None else environ
    home = Path(_env(environ, "home") or "~/.provisioner").expanduser()
    return _env(environ, "database_url") or f"sqlite:///{home / 'ledger.db'}", home


@dataclass
class Row:
    """An instance as the ORM's `Instance` has it (attribute names and Python types)."""

    values: dict[str, Any]
    attempts: list[dict[str, Any]] = field(default_factory=list)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.values["metadata" if name == "meta" else name]
        except KeyError:
            raise AttributeError(name) from None


class Reader:
    """One DB-API connection to a ledger at the schema head."""

    def __init__(self, conn: Any, dialect: str):
        self.conn = conn
        self.dialect = dialect
        self.mark = "?" if dialect == "sqlite" else "%s"

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Reader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- values as SQLAlchemy's types give them -------------------------------------------------

    def bind_moment(self, moment: datetime) -> Any:
        """A moment as UTCDateTime binds it: naive UTC (SQLite: SQLAlchemy's text form)."""
        naive = moment.astimezone(UTC).replace(tzinfo=None)
        return naive.strftime("%Y-%m-%d %H:%M:%S.%f") if self.dialect == "sqlite" else naive

    def moment(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC)

    def money(self, value: Any) -> Decimal | None:
        """Numeric(14, 6): SQLite keeps a float, handed back as SQLAlchemy does ("%.6f")."""
        if value is None or isinstance(value, Decimal):
            return value
        return Decimal(f"{value:.6f}")

    def json_value(self, value: Any) -> Any:
        return json.loads(value) if isinstance(value, str) else value

    def _row(self, record: Sequence[Any]) -> Row:
        values: dict[str, Any] = {}
        for name, value in zip(COLUMNS, record, strict=True):
            if name in MOMENTS:
                value = self.moment(value)
            elif name in MONEY:
                value = self.money(value)
            elif name in JSON_COLUMNS:
                value = self.json_value(value)
            values[name] = value
        return Row(values)

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        cursor = self.conn.cursor()
        try:
            cursor.execute(sql.replace("?", self.mark), tuple(params))
            return list(cursor.fetchall())
        finally:
            cursor.close()

    # -- reads ----------------------------------------------------------------------------------

    def get(self, instance_id: str) -> Row | None:
        found = self.query(
            f"SELECT {', '.join(COLUMNS)} FROM instances WHERE id = ?", [instance_id]
        )
        if not found:
            return None
        row = self._row(found[0])
        row.attempts = self.attempts(row)
        return row

    def ids_starting(self, prefix: str, limit: int) -> list[str]:
        """Instance ids that start with `prefix`, sorted (ledger/id_prefix.py's look-up)."""
        pattern = prefix.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
        found = self.query(
            "SELECT id FROM instances WHERE id LIKE ? ESCAPE '/' ORDER BY id LIMIT ?",
            [pattern, limit],
        )
        return [str(record[0]) for record in found]

    def pool_names_starting(self, prefix: str, limit: int) -> list[str]:
        """Pool names that start with `prefix`, sorted (shell completion, cli/completion.py)."""
        pattern = prefix.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
        found = self.query(
            "SELECT name FROM pools WHERE name LIKE ? ESCAPE '/' ORDER BY name LIMIT ?",
            [pattern, limit],
        )
        return [str(record[0]) for record in found]

    def attempts(self, row: Row) -> list[dict[str, Any]]:
        """The instance's attempts (#12), as ledger/attempts.py orders them; rows made before
        failover existed have none."""
        if "capacity" not in (row.meta or {}):
            return []
        records = self.query(
            f"SELECT {', '.join(ATTEMPT_COLUMNS)} FROM instance_attempts WHERE instance_id = ? "
            "ORDER BY number",
            [row.id],
        )
        attempts = []
        for record in records:
            a = dict(zip(ATTEMPT_COLUMNS, record, strict=True))
            a["spot"] = bool(a["spot"])
            a["price_per_hour"] = self.money(a["price_per_hour"])
            a["started_at"] = self.moment(a["started_at"])
            a["ended_at"] = self.moment(a["ended_at"])
            attempts.append(a)
        return attempts

    def _filters(
        self, user_id: str | None, status: str | None, since: datetime | None
    ) -> tuple[str, list[Any]]:
        where, params = [], []
        if user_id is not None:
            where.append("user_id = ?")
            params.append(user_id)
        if status is not None:
            where.append("status = ?")
            params.append(status)
        if since is not None:
            where.append("created_at >= ?")
            params.append(self.bind_moment(since))
        return (" WHERE " + " AND ".join(where) if where else ""), params

    def newest(
        self,
        *,
        user_id: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        limit: int | None,
    ) -> tuple[list[Row], int]:
        """`Ledger.newest`: up to `limit` matching rows newest first, and how many match."""
        where, params = self._filters(user_id, status, since)
        sql = f"SELECT {', '.join(COLUMNS)} FROM instances{where} ORDER BY created_at DESC, id DESC"
        if limit is not None:
            sql += f" LIMIT {int(limit)}"
        rows = [self._row(r) for r in self.query(sql, params)]
        total = len(rows)
        if limit is not None and total >= limit:
            total = int(self.query(f"SELECT count(*) FROM instances{where}", params)[0][0])
        for row in rows:
            row.attempts = self.attempts(row)
        return rows, total

    def iter_newest(
        self,
        *,
        user_id: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        batch: int = 1000,
    ) -> Iterator[Row]:
        """Every matching row, newest first, `batch` rows at a time (`list --all`)."""
        where, params = self._filters(user_id, status, since)
        sql = f"SELECT {', '.join(COLUMNS)} FROM instances{where} ORDER BY created_at DESC, id DESC"
        cursor = self.conn.cursor()
        try:
            cursor.execute(sql.replace("?", self.mark), tuple(params))
            while records := cursor.fetchmany(batch):
                rows = [self._row(r) for r in records]
                for row in rows:
                    row.attempts = self.attempts(row)
                yield from rows
        finally:
            cursor.close()

    def iter_newest_ids(
        self,
        *,
        user_id: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        batch: int = 5000,
    ) -> Iterator[list[str]]:
        """The ids `iter_newest` would give, in its order, a batch at a time."""
        where, params = self._filters(user_id, status, since)
        cursor = self.conn.cursor()
        try:
            cursor.execute(
                f"SELECT id FROM instances{where} ORDER BY created_at DESC, id DESC".replace(
                    "?", self.mark
                ),
                tuple(params),
            )
            while records := cursor.fetchmany(batch):
                yield [r[0] for r in records]
        finally:
            cursor.close()


def _sqlite(url: str) -> Reader | None:
    import sqlite3

    path = url.removeprefix("sqlite:///")
    if not path or path == ":memory:" or "?" in path or not Path(path).is_file():
        return None  # nothing to read yet: the ORM path creates and migrates it
    conn = sqlite3.connect(path, timeout=30)
    return Reader(conn, "sqlite")


def _postgresql(url: str) -> Reader | None:
    scheme, _, rest = url.partition("://")
    if scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
        return None  # another driver named: the ORM path uses it
    try:
        import psycopg
    except ImportError:  # the `postgres` extra is missing: the ORM path says so in one line
        return None

    conn = psycopg.connect(f"postgresql://{rest}", autocommit=True, connect_timeout=10)
    return Reader(conn, "postgresql")


def open_reader(url: str) -> Reader | None:
    """A reader on the ledger at `url`, or None: not at the schema head (or not there at all),
    or a URL this path does not speak; the caller then takes the ORM path."""
    if url.startswith("sqlite:///"):
        reader = _sqlite(url)
    elif url.startswith(("postgresql", "postgres:")):
        reader = _postgresql(url)
    else:
        return None
    if reader is None:
        return None
    try:
        found = reader.query("SELECT version_num FROM alembic_version")
    except Exception:  # no alembic_version table: a database never migrated
        found = []
    if [r[0] for r in found] != [head_revision()]:
        reader.close()
        return None
    return reader
