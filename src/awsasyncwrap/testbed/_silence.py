"""Notice a running node that stops answering, and say what its process is doing (for flake hunts)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ._model import Instance
from ._proc import tail

__all__ = ["SilenceWatch", "process_state"]

logger = logging.getLogger(__name__)

_REPORT_AFTER = 10.0  # seconds a running node may go unanswered before it is reported


def process_state(pid: int | None) -> str:
    """``State`` and ``Threads`` of a process from /proc, or why they are unknown."""
    if pid is None:
        return "no pid"
    try:
        fields = dict(
            line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line
        )
    except OSError:
        return f"pid {pid} gone"
    return f"pid {pid} state {fields.get('State', '?').strip()} threads {fields.get('Threads', '?').strip()}"


class SilenceWatch:
    """Tracks since when each running node has not answered; reports one silent too long, once."""

    def __init__(self, report_after: float = _REPORT_AFTER) -> None:
        self._report_after = report_after
        self._since: dict[str, float] = {}
        self._reported: set[str] = set()

    def answered(self, inst: Instance) -> None:
        """``inst`` answered: it is not silent."""
        self._since.pop(inst.id, None)
        self._reported.discard(inst.id)

    def silent(self, inst: Instance, error: Exception, pid: int | None) -> None:
        """``inst`` did not answer; past the report delay, log what is known of it at WARNING."""
        now = time.monotonic()
        since = self._since.setdefault(inst.id, now)
        if now - since < self._report_after or inst.id in self._reported:
            return
        self._reported.add(inst.id)
        logger.warning(
            "instance %s has not answered for %.0f s: %s; %s; log: %s",
            inst.id,
            now - since,
            error,
            process_state(pid),
            tail(inst.log_file, 8),
        )
