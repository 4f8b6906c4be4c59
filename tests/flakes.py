"""Run the test suite N times and print how often each test failed: ``./run flakes N [PYTEST ARGS]``."""

from __future__ import annotations

import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path


def failures(report: Path) -> list[str]:
    """Test ids (``classname::name``) that failed or errored in one junit-xml report."""
    if not report.exists():
        return ["<no report: pytest crashed>"]
    found = []
    for case in ET.parse(report).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            found.append(f"{case.get('classname', '')}::{case.get('name', '')}")
    return found


def main(argv: list[str]) -> int:
    if not argv or not argv[0].isdigit() or int(argv[0]) < 1:
        print("usage: ./run flakes N [PYTEST ARGS]  (N >= 1 runs of the suite)", file=sys.stderr)
        return 2
    runs, args = int(argv[0]), argv[1:]
    counts: Counter[str] = Counter()
    with tempfile.TemporaryDirectory(prefix="awsasyncwrap-flakes-") as tmp:
        for i in range(1, runs + 1):
            report = Path(tmp) / f"run-{i}.xml"
            cmd = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={report}"]
            cmd += args
            code = subprocess.run(cmd, check=False).returncode
            failed = failures(report)
            counts.update(failed)
            print(f"== flakes: run {i}/{runs}: exit {code}, {len(failed)} failed", flush=True)
    print(f"== flakes: per-test failure counts over {runs} run(s)")
    if not counts:
        print("no test failed")
        return 0
    for test, n in counts.most_common():
        print(f"{n:>4}/{runs}  {test}")
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
