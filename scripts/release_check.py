"""Build the sdist and the wheel, run ``twine check``, and check what each ships: ``make release-check``.

Writes ``dist/`` (the compatibility suites of ``make test`` install that wheel). Exits non-zero with the
list of problems when a file is missing where it belongs or present where it must not be.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DIST = ROOT / "dist"
#: Every sdist must ship these (what it takes to test the provider from the source archive).
SDIST_MUST = (
    "LICENSE",
    "README.md",
    "CHANGELOG.md",
    "pyproject.toml",
    "Makefile",
    "airflow_provider_sinch/__init__.py",
    "airflow_provider_sinch/py.typed",
    "tests/conftest.py",
    "tests/compat/test_compat.py",
    "tests/node/package-lock.json",
    "docs/development.md",
    "example_dags/example_sinch_fax_polling.py",
    "constraints/airflow-3.3.2.txt",
)
#: No archive may ship anything under these: venvs, caches, builds, installed Node modules, git.
NEVER = re.compile(
    r"(^|/)(\.venv[^/]*|__pycache__|\.pytest_cache|\.mypy_cache|\.ruff_cache|node_modules|\.git|dist|build)/"
)


def main() -> int:
    shutil.rmtree(DIST, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "build", "--outdir", str(DIST), str(ROOT)], check=True)
    archives = sorted(DIST.iterdir())
    subprocess.run([sys.executable, "-m", "twine", "check", "--strict", *map(str, archives)], check=True)
    problems: list[str] = []
    (sdist,) = [a for a in archives if a.name.endswith(".tar.gz")]
    (wheel,) = [a for a in archives if a.suffix == ".whl"]
    with tarfile.open(sdist) as tar:
        names = [name.split("/", 1)[1] for name in tar.getnames() if "/" in name]
    problems += [f"sdist lacks {must}" for must in SDIST_MUST if must not in names]
    problems += [f"sdist ships {name}" for name in names if NEVER.search(name + "/")]
    with zipfile.ZipFile(wheel) as archive:
        files = archive.namelist()
        metadata = next(archive.read(f).decode() for f in files if f.endswith(".dist-info/METADATA"))
    ours = ("airflow_provider_sinch/", "airflow_provider_sinch-")
    problems += [f"wheel ships {f}" for f in files if not f.startswith(ours)]
    if not any(f.endswith(".dist-info/licenses/LICENSE") for f in files):
        problems.append("wheel lacks its LICENSE")
    if "airflow_provider_sinch/py.typed" not in files:
        problems.append("wheel lacks py.typed")
    if "License-Expression: Apache-2.0" not in metadata:
        problems.append("wheel metadata has no License-Expression: Apache-2.0")
    relative_images = re.findall(r"!\[[^\]]*\]\((?!https://)([^)]+)\)", metadata)
    problems += [f"long description has an image PyPI cannot show: {image}" for image in relative_images]
    for problem in problems:
        print(f"release-check: {problem}", file=sys.stderr)
    if not problems:
        print(f"release-check: {sdist.name} ({len(names)} files) and {wheel.name} ({len(files)} files) are ready")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
