"""Every database read and write. One short transaction per call.

Each state change is a conditional UPDATE (only if the row is still in the state the caller saw)
plus its event row, committed together: two processes can never both move one instance.
"""

from __future__ import annotations

import builtins
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlmodel import Session, col, select

from provisioner.config import private_file
from provisioner.ledger import forecast_models as _forecast_tables  # noqa: F401  (#23 table)
from provisioner.ledger import pool_models as _pool_tables  # noqa: F401  (#22 tables)
from provisioner.ledger import rollups
from provisioner.ledger import web_sessions as _session_tables  # noqa: F401  (#26 table)
from provisioner.ledger.models import Instance, InstanceEvent
from provisioner.ledger.spend import cost_expressions, in_window, seconds_alive
from provisioner.rules.costs import round_money
from provisioner.rules.errors import ConflictError, NotFoundError, ValidationError, shown_id
from provisioner.rules.lifecycle import Status

SCHEMA_HEAD = "0016"  # the newest migration; tests check it matches migrations/versions

# PostgreSQL connection limits (see create_db_engine).
POOL_SIZE = 10
POOL_OVERFLOW = 20
STATEMENT_TIMEOUT_MS = 30_000
LOCK_TIMEOUT_MS = 10_000
IDLE_IN_TRANSACTION_MS = 60_000


def create_db_engine(url: str) -> sa.Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            # SQLite gives its -wal and -shm files the database file's mode: 0600 (#10).
            private_file(Path(parsed.database))
            for suffix in ("-wal", "-shm"):
                if Path(parsed.database + suffix).exists():
                    private_file(Path(parsed.database + suffix))
        # No cap on connections: an admission holds SQLite's write lock (BEGIN IMMEDIATE) on one
        # connection while its budget check reads on another; with a capped pool, 16 concurrent
        # ups each held one and waited for a second until the 30 s busy timeout ("database is
        # locked"). SQLite connections are file handles; WAL readers never wait for the writer.
        engine = sa.create_engine(
            url,
            connect_args={"timeout": 30, "check_same_thread": False},
            pool_size=5,
            max_overflow=-1,
        )

        @sa.event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cursor = dbapi_conn.cursor()
            # The busy timeout first: switching a new file to WAL needs its lock, and a first
            # use from several threads had one fail at once with "database is locked".
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    _require_postgres_driver()
    # A server: a pool sized for the API's worker threads plus request handlers, connections
    # checked before use (a restarted server or a dropped idle connection is replaced, not an
    # error), recycled hourly, and server-side limits so a stuck statement or a transaction left
    # open by a dead client cannot hold row locks for ever. A URL's own `options` are kept.
    limits = (
        f"-c statement_timeout={STATEMENT_TIMEOUT_MS} "
        f"-c lock_timeout={LOCK_TIMEOUT_MS} "
        f"-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_MS}"
    )
    options = " ".join(filter(None, [parsed.query.get("options"), limits]))  # type: ignore[list-item]
    return sa.create_engine(
        parsed.difference_update_query(["options"]),
        pool_pre_ping=True,
        pool_size=POOL_SIZE,
        max_overflow=POOL_OVERFLOW,
        pool_timeout=30,
        pool_recycle=3600,
        connect_args={"connect_timeout": 10, "options": options},
    )


def _require_postgres_driver() -> None:
    """psycopg is the `postgres` extra (#21): without it, one line naming the extra, not
    SQLAlchemy's ModuleNotFoundError."""
    try:
        import psycopg  # noqa: F401
    except ImportError as exc:
        raise ValidationError(
            "databaseUrl",
            "PROVISIONER_DATABASE_URL is a PostgreSQL URL but its driver is not installed: "
            "pip install 'provisioner[postgres]'",
        ) from exc


def _schema_revision(engine: sa.Engine) -> str | None:
    with engine.connect() as conn:
        if not sa.inspect(conn).has_table("alembic_version"):
            return None
        return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()


def ensure_schema(engine: sa.Engine) -> None:
    """Apply Alembic migrations when the database is not at SCHEMA_HEAD (cheap check first)."""
    if _schema_revision(engine) == SCHEMA_HEAD:
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(Path(__file__).parent / "migrations"))
    database = engine.url.database
    if engine.dialect.name == "sqlite" and database and database != ":memory:":
        from filelock import FileLock

        # Two first-time processes must not both create the tables.
        with FileLock(database + ".migrate.lock", mode=0o600):
            if _schema_revision(engine) == SCHEMA_HEAD:
                return
            with engine.begin() as conn:
                config.attributes["connection"] = conn
                command.upgrade(config, "head")
        return
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # One migrator at a time across replicas; released at commit.
            conn.execute(sa.text("SELECT pg_advisory_xact_lock(7301150201)"))
        config.attributes["connection"] = conn
        command.upgrade(config, "head")


def instance_from_row(row: Any) -> Instance:
    """An Instance from a RETURNING row (column names, as `metadata` maps to `meta`)."""
    mapping = row._mapping
    return Instance(**{attr: mapping[column.name] for attr, column in _COLUMNS.items()})


_COLUMNS = {prop.key: prop.columns[0] for prop in sa.inspect(Instance).column_attrs}


def _filters(
    user_id: str | None, status: Status | None, since: datetime | None
) -> builtins.list[Any]:
    filters: builtins.list[Any] = []
    if user_id is not None:
        filters.append(col(Instance.user_id) == user_id)
    if status is not None:
        filters.append(col(Instance.status) == status.value)
    if since is not None:
        filters.append(col(Instance.created_at) >= since)
    return filters


NEWEST_FIRST = (col(Instance.created_at).desc(), col(Instance.id).desc())  # `list`'s order


class Ledger:
    def __init__(self, url: str, *, migrate: bool = True):
        self.url = url
        self.engine = create_db_engine(url)
        if migrate:
            ensure_schema(self.engine)

    def dispose(self) -> None:
        self.engine.dispose()

    # -- instances ---------------------------------------------------------------------------

    def add(self, instance: Instance, *, event_type: str, detail: str | None = None) -> Instance:
        with Session(self.engine, expire_on_commit=False) as session:
            session.add(instance)
            session.flush()
            session.add(
                InstanceEvent(
                    instance_id=instance.id,
                    type=event_type,
                    status=instance.status,
                    at=instance.created_at,
                    detail=detail,
                )
            )
            if instance.terminated_at is not None:  # recorded already ended (imports, tests)
                session.flush()
                for statement in rollups.add_ended(
                    self.engine.dialect.name, instance.id, instance.terminated_at
                ):
                    session.execute(statement)
            session.commit()
            return instance

    def get(self, instance_id: str) -> Instance | None:
        with Session(self.engine, expire_on_commit=False) as session:
            return session.get(Instance, instance_id)

    def require(self, instance_id: str) -> Instance:
        instance = self.get(instance_id)
        if instance is None:
            raise NotFoundError(f"Instance {shown_id(instance_id)} not found")
        return instance

    def list(
        self,
        *,
        user_id: str | None = None,
        status: Status | None = None,
        task_id: str | None = None,
        statuses: Iterable[Status] | None = None,
        limit: int | None = None,
        expired_by: datetime | None = None,
        unended: bool = False,
    ) -> list[Instance]:
        """Newest first. `expired_by`: only those whose expiresAt is at or before it; `unended`:
        only those without terminatedAt (the reaper's filters, done by the database)."""
        query = select(Instance)
        if expired_by is not None:
            query = query.where(col(Instance.expires_at) <= expired_by)
        if unended:
            query = query.where(col(Instance.terminated_at).is_(None))
        if user_id is not None:
            query = query.where(Instance.user_id == user_id)
        if status is not None:
            query = query.where(Instance.status == status.value)
        if statuses is not None:
            query = query.where(col(Instance.status).in_([s.value for s in statuses]))
        if task_id is not None:
            query = query.where(Instance.task_id == task_id)
        query = query.order_by(*NEWEST_FIRST)
        if limit is not None:
            query = query.limit(limit)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.exec(query).all())

    def transition(
        self,
        instance_id: str,
        *,
        expected: Status | Sequence[Status],
        target: Status,
        at: datetime,
        event_type: str,
        detail: str | None = None,
        where: Sequence[sa.ColumnElement[bool]] = (),
        **fields: Any,
    ) -> Instance:
        """Move the instance to `target` if it is still in `expected` (and matches `where`, e.g.
        its lease is free); record the event."""
        expected_values = (
            [expected.value] if isinstance(expected, Status) else [s.value for s in expected]
        )
        values = {"status": target.value, "updated_at": at, **fields}
        conditions = [
            col(Instance.id) == instance_id,
            col(Instance.status).in_(expected_values),
            *where,
        ]
        ending = fields.get("terminated_at") is not None
        if ending:  # an instance ends once: its rollup counts it once
            conditions.append(col(Instance.terminated_at).is_(None))
        dialect = self.engine.dialect.name
        # Every statement is built before the transaction starts: SQLite holds its write lock
        # from the UPDATE to the commit, and other threads want the GIL meanwhile.
        event = sa.insert(InstanceEvent).values(
            instance_id=instance_id, type=event_type, status=target.value, at=at, detail=detail
        )
        rollup = rollups.add_ended(dialect, instance_id, at) if ending else []
        # RETURNING hands back the moved row: no second read.
        move = (
            sa.update(Instance)
            .where(*conditions)
            .values(**values)
            .returning(*Instance.__table__.columns)  # type: ignore[attr-defined]
        )
        with self.engine.connect() as conn:
            if where and dialect == "postgresql":
                # A claim: skip a row another transaction is claiming rather than queue behind it.
                locked = conn.execute(
                    sa.select(col(Instance.id)).where(*conditions).with_for_update(skip_locked=True)
                ).first()
                if locked is None:
                    conn.rollback()
                    raise self._conflict(instance_id, expected_values)
            row = conn.execute(move).first()
            if row is None:
                conn.rollback()
                raise self._conflict(instance_id, expected_values)
            conn.execute(event)
            for statement in rollup:
                conn.execute(statement)
            conn.commit()
        return instance_from_row(row)

    def _conflict(self, instance_id: str, expected_values: builtins.list[str]) -> ConflictError:
        current = self.require(instance_id)
        if current.status in expected_values:  # the state matched: the lease or a guard did not
            return ConflictError(
                f"Instance {instance_id} is busy: another process is running its "
                f"{current.operation or 'operation'} (or it changed meanwhile)"
            )
        return ConflictError(
            f"Instance {instance_id} is {current.status}, not "
            f"{' or '.join(expected_values)}; another operation changed it"
        )

    def update(self, instance_id: str, *, at: datetime, **fields: Any) -> Instance:
        """Change fields without changing the state (outputs, error notes)."""
        with Session(self.engine, expire_on_commit=False) as session:
            row = session.execute(
                sa.update(Instance)
                .where(col(Instance.id) == instance_id)
                .values(updated_at=at, **fields)
                .returning(*Instance.__table__.columns)  # type: ignore[attr-defined]
            ).first()
            session.commit()
        if row is None:
            raise NotFoundError(f"Instance {instance_id} not found")
        return instance_from_row(row)

    def note(
        self, instance_id: str, *, event_type: str, status: Status, at: datetime, detail: str
    ) -> None:
        """An event that is not a state change (a failed destroy awaiting retry, a warning)."""
        with Session(self.engine) as session:
            session.add(
                InstanceEvent(
                    instance_id=instance_id,
                    type=event_type,
                    status=status.value,
                    at=at,
                    detail=detail,
                )
            )
            session.commit()

    def events(self, instance_id: str, *, skip: int = 0) -> builtins.list[InstanceEvent]:
        """In order; `skip`: past the first N (a live stream reads only what is new, #26)."""
        query = (
            select(InstanceEvent)
            .where(InstanceEvent.instance_id == instance_id)
            .order_by(col(InstanceEvent.at), col(InstanceEvent.id))
            .offset(skip)
        )
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.exec(query).all())

    def engines_in_use(self, statuses: Iterable[Status]) -> set[str]:
        """The engines of instances in these states (one row per engine, not per instance)."""
        query = sa.select(col(Instance.engine)).distinct()
        query = query.where(col(Instance.status).in_([s.value for s in statuses]))
        with Session(self.engine) as session:
            return {row[0] for row in session.execute(query)}

    # -- statistics ----------------------------------------------------------------------------

    def statistics(
        self,
        *,
        now: datetime,
        user_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        billing: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The seed's statistics (definitions in the README) over instances created in
        [since, until): from rollups, the window's partial days and the live rows (rollups.py)."""
        return rollups.statistics(
            self.engine, now=now, user_id=user_id, since=since, until=until, billing=billing
        )

    def statistics_scan(
        self,
        *,
        now: datetime,
        user_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        billing: Mapping[str, Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """The same statistics by aggregate queries over every row: the reference the rollups
        are tested against (and what `statistics` did before #16)."""
        dialect = self.engine.dialect.name
        seconds = seconds_alive(dialect, now)
        compute, storage = cost_expressions(dialect, now, billing)

        def scoped(query: Any) -> Any:
            query = in_window(query, since, until)
            return query if user_id is None else query.where(Instance.user_id == user_id)

        with Session(self.engine) as session:
            totals = session.execute(
                scoped(
                    sa.select(
                        sa.func.count(),
                        # Still holding (or maybe holding) cloud resources.
                        sa.func.sum(sa.case((col(Instance.terminated_at).is_(None), 1), else_=0)),
                        sa.func.sum(compute),
                        sa.func.sum(storage),
                        sa.func.avg(seconds),
                    ).select_from(Instance)
                )
            ).one()
            by_provider = session.execute(
                scoped(
                    sa.select(col(Instance.provider), sa.func.count()).group_by(
                        col(Instance.provider)
                    )
                )
            ).all()
            by_type = session.execute(
                scoped(
                    sa.select(col(Instance.instance_type), sa.func.count()).group_by(
                        col(Instance.instance_type)
                    )
                )
            ).all()
        count, running, compute_cost, storage_cost, avg_seconds = totals
        compute_total = round_money(Decimal(str(compute_cost or 0)))
        storage_total = round_money(Decimal(str(storage_cost or 0)))
        total = compute_total + storage_total
        return {
            "compute_cost": compute_total,
            "storage_cost": storage_total,
            "total_provisioned": int(count or 0),
            "currently_running": int(running or 0),
            "total_cost": total,
            "average_duration_hours": round(float(avg_seconds or 0) / 3600.0, 4),
            "average_cost": round_money(total / count) if count else Decimal(0),
            "provider_breakdown": {p: n for p, n in sorted(by_provider)},
            "instance_type_breakdown": dict(sorted(by_type, key=lambda r: (-r[1], r[0]))),
        }

    # -- the CLI's list: a page and how many match ------------------------------------------------

    def newest(
        self,
        *,
        user_id: str | None = None,
        status: Status | None = None,
        since: datetime | None = None,
        limit: int | None,
    ) -> tuple[builtins.list[Instance], int]:
        """Up to `limit` (None: all) matching instances, newest first, and how many match in
        all; filtered, sorted and counted by the database."""
        filters = _filters(user_id, status, since)
        query = select(Instance).where(*filters).order_by(*NEWEST_FIRST)
        if limit is not None:
            query = query.limit(limit)
        counted = sa.select(sa.func.count()).select_from(Instance).where(*filters)
        with Session(self.engine, expire_on_commit=False) as session:
            rows = list(session.exec(query).all())
            total = len(rows)
            if limit is not None and total >= limit:
                total = int(session.execute(counted).scalar() or 0)
        return rows, total

    def iter_newest(
        self,
        *,
        user_id: str | None = None,
        status: Status | None = None,
        since: datetime | None = None,
        batch: int = 1000,
    ) -> Iterator[builtins.list[Instance]]:
        """Every matching instance, newest first, `batch` rows at a time from one query (`list
        --all`: memory stays one batch whatever the ledger's size)."""
        query = select(Instance).where(*_filters(user_id, status, since)).order_by(*NEWEST_FIRST)
        with Session(self.engine, expire_on_commit=False) as session:
            result = session.exec(query.execution_options(yield_per=batch))
            for part in result.partitions(batch):
                yield builtins.list(part)  # the identity map holds rows weakly: a batch at a time

    def iter_newest_ids(
        self,
        *,
        user_id: str | None = None,
        status: Status | None = None,
        since: datetime | None = None,
        batch: int = 5000,
    ) -> Iterator[builtins.list[str]]:
        """The ids `iter_newest` would give, in its order, without loading the rows."""
        query = sa.select(col(Instance.id)).where(*_filters(user_id, status, since))
        with self.engine.connect() as conn:
            result = conn.execution_options(yield_per=batch).execute(query.order_by(*NEWEST_FIRST))
            for part in result.scalars().partitions(batch):
                yield builtins.list(part)

    # -- paging (#3) ---------------------------------------------------------------------------

    def page(
        self,
        *,
        user_id: str | None = None,
        status: Status | None = None,
        limit: int,
        after: tuple[datetime, str] | None = None,
    ) -> builtins.list[Instance]:
        """Up to `limit` instances, newest first, strictly after the (createdAt, id) `after`."""
        query = select(Instance)
        if user_id is not None:
            query = query.where(Instance.user_id == user_id)
        if status is not None:
            query = query.where(Instance.status == status.value)
        if after is not None:
            created_at, instance_id = after
            query = query.where(
                sa.or_(
                    col(Instance.created_at) < created_at,
                    sa.and_(col(Instance.created_at) == created_at, col(Instance.id) < instance_id),
                )
            )
        query = query.order_by(*NEWEST_FIRST)
        with Session(self.engine, expire_on_commit=False) as session:
            return list(session.exec(query.limit(limit)).all())
