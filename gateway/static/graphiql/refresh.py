"""Fetch GraphiQL's assets from the npm registry, pinned by manifest.json, and check (or rewrite) the copies here.

    python gateway/static/graphiql/refresh.py          # check: npm's files equal the committed ones
    python gateway/static/graphiql/refresh.py --write  # after changing a version in manifest.json

The gateway serves these files itself (gateway/graphiql.py) so that GraphiQL works with no internet and the page
names no other origin. Each package is fetched with `npm pack` (the registry's tarball), the tarball is checked
against the npm integrity recorded in the manifest, and each file taken from it against its sha256. `--write`
records new integrities and hashes instead of comparing: review the diff of manifest.json like any other code.
Needs npm and access to its registry; the gateway itself never runs this.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
MANIFEST = HERE / "manifest.json"
ASSETS = HERE / "assets"


def npm_integrity(data: bytes) -> str:
    return "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()


def subresource_integrity(data: bytes) -> str:
    """The value of an HTML `integrity` attribute (the browser refuses a file that does not match it)."""
    return "sha384-" + base64.b64encode(hashlib.sha384(data).digest()).decode()


def _pack(name: str, version: str, into: Path) -> bytes:
    output = subprocess.run(
        ["npm", "pack", f"{name}@{version}", "--json", "--pack-destination", str(into)],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    filename: str = json.loads(output)[0]["filename"]
    return (into / filename).read_bytes()


def _member(tarball: Path, path: str) -> bytes:
    with tarfile.open(tarball) as archive:
        extracted = archive.extractfile(f"package/{path}")
        if extracted is None:
            raise SystemExit(f"{tarball.name}: package/{path} is not a file")
        return extracted.read()


def refresh(*, write: bool) -> list[str]:
    """Returns the differences found (check mode) or applied (write mode)."""
    manifest: dict[str, Any] = json.loads(MANIFEST.read_text())
    differences: list[str] = []
    with tempfile.TemporaryDirectory() as scratch:
        for package in manifest["packages"]:
            label = f"{package['name']}@{package['version']}"
            data = _pack(package["name"], package["version"], Path(scratch))
            integrity = npm_integrity(data)
            if integrity != package.get("integrity"):
                differences.append(f"{label}: tarball integrity {integrity}, manifest {package.get('integrity')}")
                if not write:
                    continue
                package["integrity"] = integrity
            tarball = Path(scratch) / "package.tgz"
            tarball.write_bytes(data)
            for asset in package["files"]:
                content = _member(tarball, asset["from"])
                digest = hashlib.sha256(content).hexdigest()
                target = ASSETS / asset["name"]
                committed = target.read_bytes() if target.exists() else b""
                if digest != asset.get("sha256") or committed != content:
                    differences.append(f"{label}: {asset['from']} differs from assets/{asset['name']}")
                if write:
                    target.write_bytes(content)
                    asset["sha256"] = digest
                    asset["sri"] = subresource_integrity(content)
    if write:
        MANIFEST.write_text(json.dumps(manifest, indent=2) + "\n")
    return differences


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write", action="store_true", help="rewrite assets/ and the manifest's hashes")
    args = parser.parse_args()
    ASSETS.mkdir(exist_ok=True)
    differences = refresh(write=args.write)
    for line in differences:
        print(line)
    if args.write:
        print(f"wrote assets/ and manifest.json ({len(differences)} changes)")
        return 0
    print("assets match npm" if not differences else f"{len(differences)} differences")
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
