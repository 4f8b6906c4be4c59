"""The testbed reports a running node that stops answering, once, with what its process is doing."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from awsasyncwrap.testbed import Instance, TestbedError
from awsasyncwrap.testbed._silence import SilenceWatch, process_state


def _instance(tmp_path: Path) -> Instance:
    log = tmp_path / "server.log"
    log.write_text("starting\nready for connections\n")
    return Instance("2", 6000, ("127.0.9.2", 5000), "reader", tmp_path, log)


def test_silent_node_is_reported_once_with_its_process_and_log(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    watch = SilenceWatch(report_after=0.0)
    inst = _instance(tmp_path)
    with caplog.at_level(logging.WARNING, logger="awsasyncwrap.testbed._silence"):
        watch.silent(inst, TestbedError("no handshake within 5 s"), os.getpid())
        watch.silent(inst, TestbedError("no handshake within 5 s"), os.getpid())
    assert len(caplog.records) == 1
    message = caplog.records[0].getMessage()
    assert "instance 2" in message and "no handshake" in message
    assert f"pid {os.getpid()} state" in message and "ready for connections" in message


def test_an_answer_resets_the_watch(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    watch = SilenceWatch(report_after=3600.0)
    inst = _instance(tmp_path)
    with caplog.at_level(logging.WARNING, logger="awsasyncwrap.testbed._silence"):
        watch.silent(inst, TestbedError("refused"), None)
        watch.answered(inst)
        watch.silent(inst, TestbedError("refused"), None)
    assert not caplog.records  # silent for less than the report delay


def test_process_state_of_a_missing_process() -> None:
    assert process_state(None) == "no pid"
    assert process_state(2**22 + 12345) == f"pid {2**22 + 12345} gone"
