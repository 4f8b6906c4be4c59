"""aws-advanced-python-wrapper's ``register_shutdown_hook``: awaited once by the next ``release_resources()``,
before the monitors stop; a failing hook is logged (its type, no message) and does not stop the others."""

from __future__ import annotations

import logging

import pytest

from awsasyncwrap import release_resources
from awsasyncwrap._background import BackgroundService, registry
from awsasyncwrap.compat import register_shutdown_hook, release_resources_async

pytestmark = pytest.mark.timeout(10)


async def test_hooks_run_once_before_the_monitors_stop(caplog: pytest.LogCaptureFixture) -> None:
    service = registry().acquire("hook-test", BackgroundService, BackgroundService)
    seen: list[str] = []

    async def first() -> None:
        seen.append(f"first, service closed: {service.closed}")

    async def failing() -> None:
        raise RuntimeError("secret=hunter2")

    async def last() -> None:
        seen.append("last")

    for hook in (first, failing, last):
        register_shutdown_hook(hook)
    with caplog.at_level(logging.WARNING, "awsasyncwrap._background"):
        await release_resources_async()
    assert seen == ["first, service closed: False", "last"]
    assert service.closed
    assert "shutdown hook" in caplog.text and "failing" in caplog.text and "RuntimeError" in caplog.text
    assert "hunter2" not in caplog.text
    await release_resources()  # consumed: nothing runs twice
    assert seen == ["first, service closed: False", "last"]


def test_a_hook_must_be_callable() -> None:
    with pytest.raises(TypeError, match="async callable taking no argument, got str"):
        register_shutdown_hook("release")  # type: ignore[arg-type]
