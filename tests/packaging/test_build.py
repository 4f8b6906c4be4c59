"""The distribution builds cleanly: SPDX license and its file, URLs and classifiers, an sdist with the tests
and docs (and no caches), and not one warning from the build."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(600)


def _project_copy(dest: Path) -> Path:
    """The files git would ship (tracked and new, not ignored), without build leftovers or caches."""
    listed = subprocess.run(
        ["git", "-C", str(ROOT), "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        check=True,
        capture_output=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = ROOT / name
        if source.is_file():
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (dest / "tests" / "__pycache__").mkdir(exist_ok=True)  # a working tree's cache must stay out
    (dest / "tests" / "__pycache__" / "x.cpython-311.pyc").write_bytes(b"")
    return dest


def test_build_has_no_warnings_and_ships_tests_docs_license(tmp_path: Path) -> None:
    project = _project_copy(tmp_path / "project")
    out = tmp_path / "dist"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}  # its own warning
    done = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(project)],
        env=env,
        capture_output=True,
        text=True,
        timeout=540,
    )
    log = done.stdout + done.stderr
    assert done.returncode == 0, log
    warnings = [line for line in log.splitlines() if re.search(r"(?i)\bwarning\b|deprecat", line)]
    assert not warnings, "\n".join(warnings)

    (sdist,) = out.glob("*.tar.gz")
    with tarfile.open(sdist) as tar:
        names = {n.split("/", 1)[1] for n in tar.getnames() if "/" in n}
    for needed in ("LICENSE", "README.md", "docs/migrating.md", "tests/conftest.py", "tests/docs/_runner.py",
                   "examples/fastapi_app.py", "src/awsasyncwrap/py.typed"):  # fmt: skip
        assert needed in names, needed
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]

    (wheel,) = out.glob("*.whl")
    with zipfile.ZipFile(wheel) as whl:
        meta_name = next(n for n in whl.namelist() if n.endswith(".dist-info/METADATA"))
        meta = whl.read(meta_name).decode()
        assert any(n.endswith(".dist-info/licenses/LICENSE") for n in whl.namelist())
        license_text = whl.read(next(n for n in whl.namelist() if n.endswith("licenses/LICENSE"))).decode()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "License-Expression: Apache-2.0" in meta
    assert "License-File: LICENSE" in meta
    assert re.search(r"^Project-URL: Homepage, https://", meta, re.M)
    assert "Classifier: Programming Language :: Python :: 3.10" in meta
    assert "Classifier: Typing :: Typed" in meta
    assert not re.search(r"^Classifier: License ::", meta, re.M)  # PEP 639: the expression, not a classifier
