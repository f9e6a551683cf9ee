"""Insights (SPEC §8): `runbook-bot stats` over runs made through the real app,
on PostgreSQL and on SQLite (percentile_cont there, sorted durations here),
drills excluded; and the percentile helper against PostgreSQL's own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from bot.drills.stats_render import percentile
from bot.store.migrate import upgrade
from tests.rig import SlackStandIn
from tests.test_cli import run as run_cli
from tests.test_drills import drill, walk
from tests.test_e2e_runbook import is_step


@pytest.fixture(params=["postgresql", "sqlite"])
async def database_url(request: pytest.FixtureRequest, clean_db: str, tmp_path: Path) -> str:
    if request.param == "postgresql":
        return clean_db
    url = f"sqlite+aiosqlite:///{tmp_path / 'stats.db'}"
    await upgrade(url)
    return url


async def test_stats_per_priority_and_runbook_drills_excluded(
    make_bot, slack: SlackStandIn, database_url: str, tmp_path: Path
) -> None:
    bot = await make_bot(database_url=database_url)
    # Two real RB-04 runs: one completed with step 2 skipped, one aborted.
    for k in range(2):
        response = await bot.command("/runbook", f"start RB-04 leak {k}", user_id="UALICE")
        assert response.status == 200
        await bot.settle()
        if k == 0:
            await walk(bot, slack, skip=(2,), reasons={2: "Already  rotated by hand"})
            await bot.command("/incident", "resolve INC-1")
        else:
            await bot.settle()
            steps = [c for c in slack.calls if is_step(c)]
            await bot.click(steps[-1], "step_approve", user_id="UBOB")
            await bot.settle()
            await bot.command("/runbook", "abort INC-2")
        await bot.settle()
    # A drill of RB-04 with every step skipped: never counted.
    await drill(bot, slack, "RB-04 staging")
    await walk(bot, slack, skip=tuple(range(1, 30)), reasons={2: "only a drill"})

    env = {"DATABASE_URL": database_url}
    out = run_cli(["stats", "--format", "json", "--days", "30"], tmp_path, **env)
    assert out.returncode == 0, out.stderr
    stats = json.loads(out.stdout)
    assert stats["days"] == 30 and stats["drills_excluded"] is True
    assert sum(p["incidents"] for p in stats["priorities"]) == 2
    [level] = stats["priorities"]
    assert level["resolved"] == 1 and level["acknowledged"] == 2
    assert level["time_to_resolve_s"]["median"] is not None
    assert level["time_to_acknowledge_s"]["median"] >= 0
    [rb04] = stats["runbooks"]
    assert (rb04["runbook"], rb04["runs"], rb04["completed"]) == ("RB-04", 2, 1)
    assert rb04["completion_rate"] == 0.5
    assert rb04["rto_runs"] == 2 and rb04["rto_met"] == 1  # RTO 30m; the aborted one never met it
    assert rb04["median_duration_s"] is not None
    # The reason given in Skip's modal (one line), the drill's not.
    reasons = ["Already rotated by hand"]
    step = rb04["most_skipped"][0]["step"]
    assert rb04["most_skipped"] == [{"step": step, "skipped": 1, "reasons": reasons}]
    assert rb04["most_skipped"][0]["step"].startswith("Prerequisites 2 (")

    md = run_cli(["stats"], tmp_path, **env)
    assert md.returncode == 0, md.stderr
    assert (
        "| Runbook | Runs | Completed | Median duration | RTO met | Most skipped steps |"
        in md.stdout
    )
    assert "| RB-04 | 2 | 50% |" in md.stdout and "1/2" in md.stdout
    assert "×1 (latest: “Already rotated by hand”)" in md.stdout


async def test_percentile_matches_postgresql(pg_url: str) -> None:
    values = [3.0, 1.0, 4.0, 1.5, 9.0, 2.6, 5.0]
    engine = create_async_engine(pg_url)
    try:
        async with engine.connect() as conn:
            row = (
                await conn.execute(
                    text(
                        "SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY v), "
                        "percentile_cont(0.9) WITHIN GROUP (ORDER BY v) "
                        "FROM unnest(CAST(:vs AS float8[])) AS v"
                    ),
                    {"vs": values},
                )
            ).one()
    finally:
        await engine.dispose()
    ordered = sorted(values)
    assert percentile(ordered, 0.5) == pytest.approx(row[0])
    assert percentile(ordered, 0.9) == pytest.approx(row[1])
    assert percentile([], 0.5) is None


def imported_modules(stderr: str) -> set[str]:
    """The modules a process imported, from its ``PYTHONPROFILEIMPORTTIME`` lines."""
    return {
        line.rsplit("|", 1)[1].strip()
        for line in stderr.splitlines()
        if line.startswith("import time:") and "|" in line
    }


async def test_stats_command_loads_no_sqlalchemy(database_url: str, tmp_path: Path) -> None:
    # `runbook-bot stats` runs its SQL straight over asyncpg / sqlite3: SQLAlchemy's
    # import alone took longer than the query (docs/performance.md). Run as users run it.
    env = {"DATABASE_URL": database_url, "PYTHONPROFILEIMPORTTIME": "1"}
    out = run_cli(["stats", "--format", "json"], tmp_path, **env)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["priorities"] == []
    modules = imported_modules(out.stderr)
    assert "bot.drills.stats" in modules and "json" in modules  # the lines were read
    assert not {m for m in modules if m.split(".")[0] in ("sqlalchemy", "aiosqlite")}


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("sqlite+aiosqlite:///{tmp}/never-migrated.db", "no such table: incidents"),
        (
            "postgresql+asyncpg://no_such_role_xyz:pw@127.0.0.1:5432/no_such_db_xyz",
            'role "no_such_role_xyz" does not exist',
        ),
    ],
    ids=["sqlite-not-migrated", "postgres-bad-role"],
)
def test_stats_on_an_unusable_database_is_one_line(tmp_path: Path, url: str, reason: str) -> None:
    out = run_cli(["stats"], tmp_path, DATABASE_URL=url.format(tmp=tmp_path))
    assert out.returncode == 1
    assert out.stderr.strip() == f"runbook-bot: DATABASE_URL: cannot use the database: {reason}"
