"""Re-fetch the vendored browser libraries from the npm registry (run by hand, needs npm).

The hall runs on an intranet without internet, so third-party browser code is served by the
app itself. This script downloads each pinned package with `npm pack`, copies the files the
pages use with the package's licence, and records the version and SHA-256 in VENDORED.json.

    python hall/static/vendor/update.py
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent

# package, version, {file in the package: file under vendor/<folder>/}, folder
PACKAGES = [
    (
        "socket.io-client",
        "4.8.1",
        {"dist/socket.io.min.js": "socket.io.min.js", "LICENSE": "LICENSE"},
        "socket.io",
    ),
    (
        "chart.js",
        "4.5.1",
        {"dist/chart.umd.js": "chart.umd.js", "LICENSE.md": "LICENSE.md"},
        "chart.js",
    ),
]


def fetch(name: str, version: str, files: dict[str, str], folder: str) -> dict:
    """Download one package with npm pack and copy the wanted files; returns its record."""
    with tempfile.TemporaryDirectory() as tmp:
        out = (
            subprocess.run(
                ["npm", "pack", f"{name}@{version}", "--silent"],
                cwd=tmp,
                check=True,
                capture_output=True,
                text=True,
            )
            .stdout.strip()
            .splitlines()[-1]
        )
        with tarfile.open(Path(tmp) / out) as tar:
            tar.extractall(tmp, filter="data")
        target = HERE / folder
        target.mkdir(exist_ok=True)
        record = {"package": name, "version": version, "files": {}}
        for source, dest in files.items():
            shutil.copyfile(Path(tmp) / "package" / source, target / dest)
            digest = hashlib.sha256((target / dest).read_bytes()).hexdigest()
            record["files"][f"{folder}/{dest}"] = digest
        return record


def main() -> None:
    """Fetch every package and write VENDORED.json."""
    records = [fetch(*package) for package in PACKAGES]
    (HERE / "VENDORED.json").write_text(json.dumps(records, indent=2) + "\n")
    for record in records:
        print(f"{record['package']}@{record['version']}: {', '.join(record['files'])}")


if __name__ == "__main__":
    main()
