"""Build dist/queue_depth_lambda.zip deterministically.

The zip holds ``lambda/queue_depth/`` (the handler at the root) plus the pure-Python
wheels pinned in ``lambda/requirements.txt``, unpacked. Entries are sorted, every
timestamp is fixed to 1980-01-01 and permissions are normalised, so two builds of
the same sources give the same sha256, even after a fresh clone (git does not keep
modification times, so anything that records them changes the hash).

Usage: python scripts/build_lambda.py [--wheels DIR] [--out FILE]
The wheels come from ``.cache/lambda-wheels`` (filled by ``make setup`` with
``pip download``), so the build itself needs no network.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "lambda" / "queue_depth"
FIXED_TIME = (1980, 1, 1, 0, 0, 0)
# What never goes into the package: caches, compiled files, install metadata that
# records the installer rather than the code.
EXCLUDED_PARTS = {"__pycache__", "tests"}
EXCLUDED_SUFFIXES = {".pyc", ".pyo"}
EXCLUDED_DIST_INFO = {"RECORD", "INSTALLER", "REQUESTED", "direct_url.json"}


def _wanted(name: str) -> bool:
    parts = name.split("/")
    if any(part in EXCLUDED_PARTS for part in parts):
        return False
    if Path(name).suffix in EXCLUDED_SUFFIXES:
        return False
    return not (
        len(parts) == 2 and parts[0].endswith(".dist-info") and parts[1] in EXCLUDED_DIST_INFO
    )


def _pinned_wheels(wheel_dir: Path, requirements: Path) -> list[Path]:
    """One wheel per pin of ``requirements``; a missing one is an error."""
    wheels = []
    for line in requirements.read_text().splitlines():
        spec = line.split("#", 1)[0].strip()
        if not spec:
            continue
        name, _, version = spec.partition("==")
        stem = name.replace("-", "_").lower()
        found = sorted(
            w
            for w in wheel_dir.glob("*.whl")
            if w.name.lower().startswith(f"{stem}-{version}-") and w.name.endswith("-none-any.whl")
        )
        if not found:
            sys.exit(
                f"build_lambda: no pure-Python wheel for {spec} in {wheel_dir}; run `make setup`"
            )
        wheels.append(found[0])
    return wheels


def collect(wheel_dir: Path, source: Path = SOURCE) -> dict[str, bytes]:
    """Map of archive name -> bytes for every file of the package.

    ``source`` is the package folder (``lambda/queue_depth``); its pins are
    ``../requirements.txt``.
    """
    files: dict[str, bytes] = {}
    for path in source.rglob("*"):
        name = path.relative_to(source).as_posix()
        if path.is_file() and _wanted(name):
            files[name] = path.read_bytes()
    for wheel in _pinned_wheels(wheel_dir, source.parent / "requirements.txt"):
        with zipfile.ZipFile(wheel) as archive:
            for info in archive.infolist():
                if not info.is_dir() and _wanted(info.filename):
                    if info.filename in files:
                        sys.exit(f"build_lambda: {wheel.name} would overwrite {info.filename}")
                    files[info.filename] = archive.read(info)
    return files


def write_zip(files: dict[str, bytes], out: Path) -> str:
    """Write ``files`` sorted with fixed metadata; return the sha256 hex digest."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".zip.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, date_time=FIXED_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16  # regular file, rw-r--r--
            info.create_system = 3  # unix, whatever the build machine is
            archive.writestr(info, files[name])
    tmp.replace(out)
    return hashlib.sha256(out.read_bytes()).hexdigest()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--wheels", type=Path, default=ROOT / ".cache" / "lambda-wheels")
    parser.add_argument("--out", type=Path, default=ROOT / "dist" / "queue_depth_lambda.zip")
    parser.add_argument("--source", type=Path, default=SOURCE, help="package folder")
    args = parser.parse_args(argv)
    files = collect(args.wheels, args.source)
    digest = write_zip(files, args.out)
    print(
        f"{args.out.relative_to(ROOT) if args.out.is_relative_to(ROOT) else args.out}: "
        f"{len(files)} files, sha256 {digest}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
