"""Many ups at once in one process on the embedded SQLite ledger (what `serve` does with
PROVISIONER_MAX_PARALLEL workers). Each admission holds SQLite's write lock on one connection
while its budget check reads on another; with a capped connection pool, 16 at once each held
one and waited for a second until the busy timeout: "database is locked" after 30 s, and the
ups failed."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from factories import make_request

from provisioner.config import Settings
from provisioner.ops.service import Provisioner


def test_sixteen_ups_at_once_on_sqlite_all_land(tmp_path, monkeypatch):
    monkeypatch.delenv("PROVISIONER_DATABASE_URL", raising=False)
    service = Provisioner(Settings(home=tmp_path / "home", engine="simulated"))
    assert service.ledger.engine.dialect.name == "sqlite"
    with ThreadPoolExecutor(16) as pool:
        outcomes = list(
            pool.map(lambda n: service.provision(make_request(task_id=f"t-{n}")), range(24))
        )
    assert {o.status for o in outcomes} == {"READY"}
    assert len({o.id for o in outcomes}) == 24
    with ThreadPoolExecutor(16) as pool:
        ended = list(pool.map(lambda o: service.terminate(o.id), outcomes))
    assert {e.status for e in ended} == {"TERMINATED"}
