"""SessionState's decisions (pure logic, fake driver): pristine values, transfers, resets, appliers."""

from __future__ import annotations

from typing import Any

import pytest

from awsasyncwrap import SessionState
from awsasyncwrap.properties import Properties

from .fakedriver import FakeConnection, FakeDriverDialect

pytestmark = pytest.mark.timeout(10)


def test_pristine_is_the_value_before_the_first_change() -> None:
    state = SessionState()
    state.remember("autocommit", False, True)
    state.remember("autocommit", True, False)
    assert state.pristine == {"autocommit": False} and state.autocommit is False
    assert not state.changed
    state.remember("isolation_level", None, "SERIALIZABLE")
    assert state.changed
    assert state.resets(lambda name: getattr(state, name)) == [("isolation_level", None)]
    state.clear()
    assert state.pristine == {} and state.isolation_level is None
    with pytest.raises(ValueError, match=r"search_path.*autocommit"):
        state.remember("search_path", None, "app")


def test_transfers_only_what_differs_and_obeys_the_toggle() -> None:
    driver = FakeDriverDialect()
    conn = FakeConnection()
    state = SessionState()
    state.remember("autocommit", False, True)
    assert state.transfers(driver, conn) == [("autocommit", True)]
    conn.autocommit = True
    assert state.transfers(driver, conn) == []
    state.transfer_on_switch = False
    conn.autocommit = False
    assert state.transfers(driver, conn) == []


def test_reset_toggle_and_database_without_a_pristine_one() -> None:
    state = SessionState(reset_on_close=False)
    state.remember("read_only", None, True)
    assert state.resets(lambda name: getattr(state, name)) == []
    state = SessionState()
    state.remember("database", None, "other")
    assert state.resets(lambda name: getattr(state, name)) == []  # nothing to go back to


async def test_appliers_run_once_per_connection_in_order_and_replace_by_key() -> None:
    driver = FakeDriverDialect()
    ran: list[tuple[str, Any]] = []
    state = SessionState()
    state.add_applier(lambda c: ran.append(("a", c)), key="a")

    async def b(c: Any) -> None:
        ran.append(("b", c))

    state.add_applier(b)
    one, two = FakeConnection(), FakeConnection()
    await state.apply_to(one, driver)
    await state.apply_to(one, driver)
    await state.apply_to(two, driver)
    assert ran == [("a", one), ("b", one), ("a", two), ("b", two)]
    ran.clear()
    state.add_applier(lambda c: ran.append(("a2", c)), key="a")  # replaced in place: runs again
    await state.apply_to(one, driver)
    assert ran == [("a2", one)]
    assert len(state.appliers) == 2


async def test_an_applier_that_opens_a_transaction_is_committed() -> None:
    driver = FakeDriverDialect()
    state = SessionState()

    def opens(c: FakeConnection) -> None:
        c.in_tx = True

    state.add_applier(opens)
    conn = FakeConnection()
    await state.run_appliers(conn, driver)
    assert conn.log == [("commit", None)] and not conn.in_tx


def test_from_props() -> None:
    def hook(c: Any) -> None:
        pass

    state = SessionState.from_props(
        Properties(rollback_on_switch="false", on_new_connection=[hook], transfer_session_state_on_switch=1)
    )
    assert (state.transfer_on_switch, state.reset_on_close, state.rollback_on_switch) == (True, True, False)
    assert state.appliers == (hook,)
