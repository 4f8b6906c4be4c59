"""An app writing through a blue/green switchover of the testbed, with the ``bg`` plugin (both engines)."""

from __future__ import annotations

import pytest

from awsasyncwrap import release_resources
from awsasyncwrap.plugins.blue_green import Phase, status_services
from awsasyncwrap.testbed import BlueGreenDeployment, PhaseSeconds

from ._app import WriterApp, rows_on, wait_phase

pytestmark = pytest.mark.timeout(180)

HIGH = 0.1  # bg_interval_high_ms default: one poll
SLACK = 0.5  # scheduling noise on a loaded 2-core VM


async def through_switchover(bg: BlueGreenDeployment, app: WriterApp) -> None:
    """``app`` writes through a switchover: nothing fails, nothing lands on blue after the promotion, and
    calls wait only inside IN_PROGRESS."""
    await app.prepare()
    try:
        async with app.running():
            await wait_phase(Phase.CREATED)
            # one service, two monitor tasks, however many connections
            assert len(status_services()) == 1
            assert status_services()[0].task_count == 2
            await app.wait_rows(30)
            report = await bg.switchover(PhaseSeconds(preparation=1.0, notice=0.3, post=1.0))
            await app.wait_rows(30)
    finally:
        await app.aclose()
    assert app.errors == []
    green_rows = await rows_on(bg, bg.green.writer)
    blue_rows = await rows_on(bg, bg.blue.writer)
    assert app.acknowledged <= green_rows  # every acknowledged row is on green
    assert blue_rows <= green_rows  # nothing landed on blue that green does not have
    late = {c.row for c in app.calls if c.start > report.promoted_at}
    assert late and not (late & blue_rows)  # no write on blue after green was promoted
    # calls were held only inside IN_PROGRESS (give or take a poll)
    lo, hi = report.in_progress_at - HIGH - SLACK, report.post_at + HIGH + SLACK
    slow = [c for c in app.calls if c.end and c.end - c.start > 0.25]
    assert slow, "no call waited for the switchover"
    assert all(lo <= c.start and c.end <= hi for c in slow), (lo, hi, [(c.start, c.end) for c in slow])
    assert len(status_services()) == 1 and status_services()[0].task_count == 2
    await release_resources()
    assert status_services() == []


def _app(bg: BlueGreenDeployment, plugins: str) -> WriterApp:
    return WriterApp(bg, workers=4, plugins=plugins, props={"bg_interval_increased_ms": 300})


PLUGIN_SETS = pytest.mark.parametrize("plugins", ["bg", "bg,failover,host_monitoring"])


@PLUGIN_SETS
async def test_postgres_app_writes_through_switchover(
    pg_bluegreen: BlueGreenDeployment, plugins: str
) -> None:
    await through_switchover(pg_bluegreen, _app(pg_bluegreen, plugins))


@PLUGIN_SETS
async def test_mariadb_app_writes_through_switchover(
    mariadb_bluegreen: BlueGreenDeployment, plugins: str
) -> None:
    await through_switchover(mariadb_bluegreen, _app(mariadb_bluegreen, plugins))
