"""The topology monitor's writer checks: calls stuck on the writer make the other instances be asked.

If the host of the stuck calls is the writer, a *writer check* asks the other instances, in parallel, on
their spares or on connections of its own, whether they see another writer (the verdict is
:func:`._writer_check.judge`'s). Only when one does, and that instance answers "not a reader", is a
verification requested; otherwise nothing changes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from .._deadline import wait_set
from .._tasks import cancel_and_wait
from ..hostinfo import HostInfo
from ._monitor_base import writer_of
from ._stuck_writer_state import StuckWriterEpisode, check_wanted
from ._verification import WriterVerification
from ._writer_check import CheckAnswer, Verdict, judge

__all__ = ["StuckWriterChecks"]

logger = logging.getLogger(__name__)


class StuckWriterChecks(WriterVerification):
    """Runs writer checks while calls stay stuck on the writer (at most one task at a time)."""

    @property
    def writer_check_running(self) -> bool:
        """Whether a writer check (an episode of stuck calls on the writer) is in progress."""
        return self._checker is not None and not self._checker.done()

    def report_stuck_calls(self, host: HostInfo) -> None:
        """A host monitor saw a call in flight on ``host`` for ``stuck_call_topology_check_ms``.

        If ``host`` is the writer, a writer check runs in the background (one at a time, at most one
        check per period while the reports go on). Never blocks or raises.
        """
        topo = self._topology
        writer = topo.writer if topo is not None else None
        if self.closed or writer is None:
            return
        if not check_wanted(host, writer, period=self._stuck_period, verifying=self._needs_verification()):
            return  # a reader, a host the cluster no longer lists, or a verification is on it already
        self._check_wanted.set()
        if self._checker is None or self._checker.done():
            episode = StuckWriterEpisode(writer, self._high_rate, self._stuck_period)
            self._checker = self.spawn(self._writer_checks(episode), f"writer-check:{self.cluster_id}")

    async def _writer_checks(self, episode: StuckWriterEpisode) -> None:
        """Check the writer while calls on it stay stuck (the schedule is ``episode``'s).

        The connections to the other instances are kept for the whole episode and closed at its end.
        """
        conns: dict[str, Any] = {}
        try:
            while not self.closed:
                self._check_wanted.clear()
                started = time.monotonic()
                try:
                    verdict = await self._check_writer(episode.suspect, conns)
                except Exception:  # a bug, not a data point: log it, keep checking
                    logger.warning("writer check of %s failed", self.cluster_id, exc_info=True)
                    verdict = Verdict.UNCHANGED
                step = episode.after_check(verdict, started)
                if step is None:
                    return
                await asyncio.sleep(max(0.0, step.at - time.monotonic()))  # the rate limit
                if step.needs_report and not await wait_set(self._check_wanted, self._stuck_period):
                    return  # no call stuck on the writer any more
                topo = self._topology
                if not episode.goes_on(topo.writer if topo is not None else None, self._needs_verification()):
                    return  # someone else is on it, or the writer changed meanwhile
        finally:
            borrowed, self._borrowed = self._borrowed, set()
            for key, conn in conns.items():  # borrowed spares that answered become spares again
                if key in borrowed:
                    self._keep_spare(key, conn)
                else:
                    self._driver.abort(conn)
            await asyncio.gather(
                *(self._close(c) for k, c in conns.items() if k not in borrowed), return_exceptions=True
            )

    async def _check_writer(self, suspect: HostInfo, conns: dict[str, Any]) -> Verdict:
        """Ask every other instance, in parallel, whether it sees another writer; act as soon as the
        answers so far show one (an instance that does not answer delays nothing: it is waited for only
        after the verification was requested)."""
        self.writer_checks += 1
        topo = self._topology
        others = [h for h in (topo.hosts if topo is not None else ()) if not self._is_same(h, suspect)]
        answers: list[CheckAnswer] = []
        found = await self._collect(suspect, others, conns, answers)
        asked = {h.url for h in others}
        unknown: dict[str, HostInfo] = {}  # writers named by a topology that we did not ask
        for answer in answers:
            named = answer.named_writer
            if named is not None and named.url not in asked and not self._is_same(named, suspect):
                unknown.setdefault(named.url, named)
        if unknown and not found:
            found = await self._collect(suspect, list(unknown.values()), conns, answers)
        if found:
            return Verdict.CHANGED
        verdict, _writer = judge(suspect, answers)
        if logger.isEnabledFor(logging.DEBUG):
            said = ", ".join(
                f"{a.host.url}: reader={a.is_reader} writer={a.named_writer.url if a.named_writer else None}"
                for a in answers
            )
            logger.debug(
                "cluster %s: writer check of %s: %s (%s)", self.cluster_id, suspect.url, verdict.value, said
            )
        return verdict

    async def _collect(
        self, suspect: HostInfo, hosts: list[HostInfo], conns: dict[str, Any], answers: list[CheckAnswer]
    ) -> bool:
        """Ask ``hosts`` in parallel, adding their answers to ``answers`` as they come; request a
        verification at the first answer that makes the verdict CHANGED. True if one did."""
        tasks = [asyncio.ensure_future(self._ask(h, conns)) for h in hosts]
        found = False
        try:
            pending: set[asyncio.Future[CheckAnswer]] = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                answers.extend(task.result() for task in done)
                if not found:
                    verdict, writer = judge(suspect, answers)
                    if verdict is Verdict.CHANGED and writer is not None:
                        found = True
                        self._writer_found(suspect, writer)
        finally:
            if any(not task.done() for task in tasks):  # cancelled: the asks end with the check
                await cancel_and_wait(tasks, None)
        return found

    def _writer_found(self, suspect: HostInfo, writer: HostInfo) -> None:
        self.writer_changes_found += 1
        logger.info(
            "cluster %s: calls stuck on the writer %s; %s answers as the new writer: verifying",
            self.cluster_id,
            suspect.url,
            writer.url,
        )
        self.request_verification(time.monotonic(), suspect)

    async def _ask(self, host: HostInfo, conns: dict[str, Any]) -> CheckAnswer:
        """Whether ``host`` is a reader and whom its topology names the writer, within the I/O timeout.

        Uses the host's spare connection if it has one (once more on a new connection if the spare
        went stale while idle)."""
        key = host.url
        deadline = time.monotonic() + self._io_timeout
        spare = key not in conns and key in self._spares
        if spare:
            conns[key] = self._spares.pop(key)
            self._borrowed.add(key)
        answer = await self._ask_once(host, conns, deadline)
        if answer.is_reader is None and spare and time.monotonic() < deadline:
            answer = await self._ask_once(host, conns, deadline)
        return answer

    async def _ask_once(self, host: HostInfo, conns: dict[str, Any], deadline: float) -> CheckAnswer:
        key = host.url
        conn = conns.get(key)
        try:
            if conn is None:
                limit = max(0.001, deadline - time.monotonic())
                conn = conns[key] = await self._connect(host, limit=limit)
            async with self._watchdog(conn, max(0.001, deadline - time.monotonic())):
                is_reader = await self._is_reader(conn)
                entries = await self._topology_of(conn)
            return CheckAnswer(host, is_reader, writer_of(self._mapper.build(entries)))
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            logger.debug("writer check: %s did not answer: %s", host.url, type(exc).__name__)
            dropped = conns.pop(key, None)
            if dropped is not None:
                self._driver.abort(dropped)
                await self._close(dropped)
            return CheckAnswer(host, None)
