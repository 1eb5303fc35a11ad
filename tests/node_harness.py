"""Sinch's Node SDK for the tests that drive the simulator with it: installed on demand, pinned.

``scripts/node-sdk/install.sh`` installs Node and ``npm ci``'s ``tests/node`` when ``node_modules`` is missing
or older than the lockfile. Under CI a missing SDK fails the test; elsewhere it skips it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

NODE_DIR = ROOT / "tests" / "node"
INSTALL = ROOT / "scripts" / "node-sdk" / "install.sh"
#: install.sh touches this after every ``npm ci``.
STAMP = NODE_DIR / "node_modules" / ".npm-ci-stamp"


def _stale() -> bool:
    lockfile = NODE_DIR / "package-lock.json"
    return not STAMP.is_file() or STAMP.stat().st_mtime < lockfile.stat().st_mtime


def _problem(package: str, version: str) -> str | None:
    """Why ``@sinch/<package>`` at ``version`` cannot be used here, after installing what is missing; else None."""
    if shutil.which("node") is None or _stale():
        try:
            result = subprocess.run([str(INSTALL)], capture_output=True, text=True, timeout=500, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"{INSTALL.relative_to(ROOT)} did not run: {exc}"
        if result.returncode != 0:
            output = (result.stderr.strip() or result.stdout.strip())[-800:]
            return f"{INSTALL.relative_to(ROOT)} failed ({result.returncode}): {output}"
    if shutil.which("node") is None:
        return "node is not on PATH"
    manifest = NODE_DIR / "node_modules" / "@sinch" / package / "package.json"
    if not manifest.is_file():
        return f"@sinch/{package} is not installed in {NODE_DIR.relative_to(ROOT)}/node_modules"
    installed = json.loads(manifest.read_text())["version"]
    if installed != version:
        return f"@sinch/{package} {installed} is installed, the tests pin {version}: run {INSTALL.relative_to(ROOT)}"
    return None


def require_node_sdk(package: str, version: str) -> str:
    """The path of ``node``, with ``@sinch/<package>`` ``version`` installed; fails under CI, else skips."""
    problem = _problem(package, version)
    if problem is not None:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Node SDK tests: {problem}")
        pytest.skip(f"Sinch's Node SDK is not available: {problem}")
    path = shutil.which("node")
    assert path is not None
    return path
