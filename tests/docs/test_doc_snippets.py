"""Every code block of README.md and docs/*.md has a verdict; the runnable ones run against the testbed."""

from __future__ import annotations

from pathlib import Path

import anyio
import pytest

from awsasyncwrap.testbed import Testbed
from fix_moto import MotoServer
from polling import until

from ._runner import DocRunError, ExampleHosts, is_example_host, page_session, run_page, run_python
from ._snippets import ROOT, doc_pages, parse

PAGES = [p for p in doc_pages() if p.exists()]


def _id(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --- the convention ---------------------------------------------------------------------------


def test_every_block_has_a_verdict() -> None:
    errors = [error for path in PAGES for error in parse(path).errors]
    assert not errors, "\n".join(errors)


def test_skips_are_rare_and_give_a_reason() -> None:
    skipped = [b for path in PAGES for b in parse(path).blocks if b.skip is not None]
    assert all(b.skip for b in skipped)
    runnable = [b for path in PAGES for b in parse(path).runnable]
    assert len(skipped) * 5 <= len(runnable), [f"{b.where}: {b.skip}" for b in skipped]


def test_parser_reports_file_and_line(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# t\n\n```\nno tag\n```\n\n<!-- doc-test: skip -->\n```python\nx = 1\n```\n\n"
        "```rust\nfn main() {}\n```\n<!-- doc-test: frobnicate -->\n"
    )
    errors = parse(page).errors
    assert f"{page}:3: code block without a verdict" in errors[0]
    assert f"{page}:7: doc-test skip needs a reason" in errors[1]
    assert f"{page}:12: code block language 'rust' has no verdict" in errors[2]
    assert f"{page}:15: unknown doc-test directive 'frobnicate'" in errors[3]


async def test_runner_errors_point_at_the_block(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "# t\n\n<!-- doc-test: run x = 41 -->\n\n```python\ny = x + 1\nassert y == 42\n"
        "raise ValueError('boom')\n```\n\n```python\ndef f(:\n```\n"
    )
    blocks = parse(page).runnable
    assert [b.line for b in blocks] == [3, 6, 12] and blocks[0].hidden
    namespace: dict[str, object] = {}
    await run_python(blocks[0], namespace)
    with pytest.raises(DocRunError) as failed:
        await run_python(blocks[1], namespace)
    text = str(failed.value)
    assert text.startswith(f"{page}:6: python block failed: ValueError: boom")
    assert f'File "{page}", line 8' in text  # the traceback points into the page
    with pytest.raises(DocRunError, match=rf"^{page}:12: python block does not parse"):
        await run_python(blocks[2], namespace)


def test_example_hosts_are_recognized() -> None:
    assert is_example_host("mydb.cluster-xyz.us-east-1.rds.amazonaws.com")
    assert is_example_host("db-rw.example.com")
    assert is_example_host("db-ro.example.com:3306")
    assert not is_example_host("127.0.100.200")
    assert not is_example_host("notexample.community")


async def test_example_hosts_are_rewritten(pg_cluster: Testbed, mariadb_cluster: Testbed) -> None:
    import aiomysql
    import psycopg

    hosts = ExampleHosts({"postgres": pg_cluster, "mariadb": mariadb_cluster})
    conninfo, props = hosts.rewrite(
        psycopg.AsyncConnection.connect,
        "host=mydb.cluster-ro-xyz.us-east-1.rds.amazonaws.com dbname=app user=app sslmode=verify-full "
        "connect_timeout=3",
        {"plugins": "failover"},
    )
    rhost, rport = pg_cluster.reader_endpoint
    assert conninfo.startswith(f"host={rhost} port={rport} ") and conninfo.endswith("connect_timeout=3")
    assert "sslmode" not in conninfo and "dbname=postgres" in conninfo
    assert props["cluster_instance_host_pattern"] == pg_cluster.host_pattern
    _, kwargs = hosts.rewrite(
        aiomysql.connect,
        "",
        {"host": "db-rw.example.com", "user": "app", "password": "pw", "db": "app"}
        | {"srw_read_endpoint": "db-ro.example.com:3306"},
    )
    host, port = mariadb_cluster.cluster_endpoint
    assert (kwargs["host"], kwargs["port"], kwargs["db"]) == (host, port, mariadb_cluster.database)
    assert kwargs["srw_read_endpoint"] == "{}:{}".format(*mariadb_cluster.reader_endpoint)
    assert kwargs["wrapper_dialect"] == "aurora-mysql"
    untouched = {"host": "127.0.0.1", "port": 5}
    assert hosts.rewrite(aiomysql.connect, "", untouched) == ("", untouched)


# --- the pages ----------------------------------------------------------------------------------


@pytest.mark.timeout(300)
@pytest.mark.parametrize("path", [p for p in PAGES if parse(p).runnable], ids=_id)
async def test_doc_page_runs(
    path: Path, pg_cluster: Testbed, mariadb_cluster: Testbed, moto_server: MotoServer
) -> None:
    testbeds = {"postgres": pg_cluster, "mariadb": mariadb_cluster}
    await run_page(parse(path), testbeds, moto_server=moto_server)


# --- the README quickstart rides through failovers --------------------------------------------


@pytest.mark.timeout(120)
async def test_readme_quickstart_survives_failovers(pg_cluster: Testbed) -> None:
    """The quickstart's retry holds across a failover between statements and one during a statement."""
    quickstart = parse(ROOT / "README.md").runnable[0]
    async with page_session({"postgres": pg_cluster, "mariadb": pg_cluster}) as (namespace, _):
        await run_python(quickstart, namespace)
        query, conn = namespace["query"], namespace["conn"]
        assert await query("SELECT text FROM greeting WHERE id = 1") == [("hi",)]
        first = pg_cluster.writer
        # 1. the writer fails over while the connection is idle: the next statement is retried
        await pg_cluster.failover()
        assert await query("SELECT 42") == [(42,)]
        assert conn.current_host.host_id == pg_cluster.writer.id != first.id
        # 2. the writer fails over while a statement runs on it
        results: list[object] = []

        async def slow() -> None:
            results.append(await query("SELECT 7 FROM pg_sleep(2)"))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as tg:
                tg.start_soon(slow)
                await until(lambda: _sleeping_on(pg_cluster), timeout=10)
                await pg_cluster.failover()
        assert results == [[(7,)]]
        # the quickstart's idempotent write runs again on the new writer
        upsert = "INSERT INTO greeting VALUES (1, %s) ON CONFLICT (id) DO UPDATE SET text = excluded.text"
        await query(upsert, ("x",))
        assert await query("SELECT text FROM greeting") == [("x",)]


async def _sleeping_on(tb: Testbed) -> bool:
    """Whether the writer is running the test's pg_sleep (seen from a direct connection)."""
    import psycopg

    async with await psycopg.AsyncConnection.connect(tb.dsn(tb.writer, direct=True), autocommit=True) as c:
        cur = await c.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' AND query LIKE '%%FROM pg_sleep(2)'"
        )
        row = await cur.fetchone()
        return bool(row and row[0])
