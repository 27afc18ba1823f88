"""PostGraphile's npm packages, installed from the committed lock into a cache folder the first time they are needed.

The folder is named by the lock's hash, so a new pin installs beside the old one and a rerun of the benchmark
finds the packages already there (one `npm ci`, ~15 s, per pin and machine). node_modules never enters the
repository. DPOR_BENCH_CACHE moves the cache (default ~/.cache/dpor-bench).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
MANIFESTS = ("package.json", "package-lock.json")
CACHE_VARIABLE = "DPOR_BENCH_CACHE"
# Written last, so a half-finished install (interrupted npm ci) is never taken for a complete one.
MARKER = ".installed"


class InstallFailed(Exception):
    pass


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_VARIABLE) or Path.home() / ".cache" / "dpor-bench")


def install_dir() -> Path:
    """Where the packages of the committed lock live (or will)."""
    digest = hashlib.sha256((HERE / "package-lock.json").read_bytes()).hexdigest()[:16]
    return cache_root() / "postgraphile" / digest


def install() -> Path:
    """The folder holding node_modules/postgraphile of the pinned version, running `npm ci` first if needed."""
    target = install_dir()
    if (target / MARKER).exists():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise InstallFailed("npm is not installed (PostGraphile needs Node 20 and npm)")
    shutil.rmtree(target, ignore_errors=True)
    target.mkdir(parents=True)
    for name in MANIFESTS:
        shutil.copyfile(HERE / name, target / name)
    done = subprocess.run(
        [npm, "ci", "--prefix", str(target), "--omit=dev", "--no-audit", "--no-fund", "--ignore-scripts"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        raise InstallFailed(f"npm ci failed in {target}:\n{done.stdout}\n{done.stderr}")
    (target / MARKER).write_text(version(target) + "\n", encoding="utf-8")
    return target


def version(target: Path) -> str:
    """The installed PostGraphile's version, from its package.json."""
    manifest = json.loads((target / "node_modules" / "postgraphile" / "package.json").read_text(encoding="utf-8"))
    return str(manifest["version"])
