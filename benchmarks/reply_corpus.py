#!/usr/bin/env python3
"""Assembles the reply corpus of tests/test_quotes.py in the cache, at run time.

Real replies and forwards from other projects' test fixtures: crisp-oss
email-reply-parser's plain-text samples (``test/fixtures/*.txt``, shipped in its
npm package up to 1.4.2) and mailgun talon's HTML replies
(``tests/fixtures/html_replies/*.html``, in its source distribution on PyPI).
The archives are pinned and checked against their SHA-256 like those of
``realworld_corpus.py``; the corpus is third-party data and never enters the
repository.

    python3 benchmarks/reply_corpus.py [--dest DIR] [--force] [--quick]

Writes ``DIR/<folder>/<file name>`` byte for byte, each folder with its
project's LICENSE, then ``MANIFEST.tsv`` and, last, ``SOURCES.md`` (the file
tests/test_quotes.py looks for). Default DIR: ``$MSO_CACHE/reply-corpus``
(``~/.cache/mail_scanner_oauth2/reply-corpus``). ``--quick``: one try per
registry with a short timeout (scripts/test's run). Prints one line; exits 1
when a source could not be fetched (then the tests of its samples skip).

crisp-oss email-forward-parser's samples are in none of its published archives:
its tests in test_quotes.py run only with a corpus given by MSO_REPLY_CORPUS or
../shared/reply-corpus.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from pathlib import Path

from registry_archives import (
    CACHE,
    Archive,
    checked_bytes,
    download,
    manifest_row,
    wanted_members,
    write_manifest_tsv,
)

DEFAULT_DEST = CACHE / "reply-corpus"
# Bump when the selection below changes: an assembled corpus of another
# version is rebuilt.
CORPUS_VERSION = "1"

ARCHIVES = (
    # The last release whose package still holds test/fixtures (1.5 and later
    # ship dist/ only); its files are those of the repository at that time.
    Archive(
        "crisp-oss-email-reply-parser",
        "npm",
        "email-reply-parser",
        "1.4.2",
        ("package/test/fixtures/*.txt", "package/LICENSE"),
        sha256="be8c04d2404b59584ad6c68f961002cb7e7fd3d0215a64dd25f90d940d50c7a5",
    ),
    # The archive realworld_corpus.py takes talon's .eml fixtures from.
    Archive(
        "mailgun-talon",
        "pypi",
        "talon",
        "1.4.4",
        ("*/tests/fixtures/html_replies/*.html", "talon-*/LICENSE"),
        sha256="263d122609747691e9f75726ea565f5da8a40146a7a81eb5883e51b8224b0e5c",
    ),
)
REPOSITORIES = {
    "crisp-oss-email-reply-parser": "github.com/crisp-oss/email-reply-parser",
    "mailgun-talon": "github.com/mailgun/talon",
}


def take_archive(archive: Archive, path: Path, staging: Path) -> list[dict]:
    """Copies the wanted files flat into ``staging/<archive.name>/``."""
    data, digest = checked_bytes(archive, path)
    folder = staging / archive.name
    folder.mkdir(parents=True)
    rows = []
    for inside, content in wanted_members(archive, data):
        target = folder / Path(inside).name
        if target.exists():
            raise SystemExit(f"{archive.name}: two files named {target.name}")
        target.write_bytes(content)
        file = f"{archive.name}/{target.name}"
        rows.append(manifest_row(file, archive, inside, content, digest))
    return rows


def sources_text(rows: list[dict], missing: list[Archive]) -> str:
    taken = {}
    for row in rows:
        folder = row["file"].split("/")[0]
        taken.setdefault(folder, []).append(row)
    text = [
        "# Reply corpus (assembled, not committed)",
        "",
        "Real reply and forward samples of other projects' tests, used by "
        "tests/test_quotes.py. Copied byte for byte by benchmarks/reply_corpus.py "
        "from the package archives below; each folder keeps its project's LICENSE. "
        "MANIFEST.tsv lists every file with its path inside its package.",
        "",
        "| folder | repository | package | version | licence (package metadata) "
        "| files | archive SHA-256 |",
        "|---|---|---|---|---|---|---|",
    ]
    for folder, found in taken.items():
        first = found[0]
        text.append(
            f"| {folder}/ | {REPOSITORIES[folder]} | {first['package']} "
            f"| {first['version']} | {first['licence']} | {len(found)} "
            f"| {first['archive_sha256']} |"
        )
    if missing:
        names = ", ".join(f"{a.registry}:{a.package} {a.version}" for a in missing)
        text += ["", f"Not fetched: {names}."]
    text += [
        "",
        "crisp-oss email-forward-parser's samples are in none of its published "
        "archives: not here.",
    ]
    return "\n".join(text) + "\n"


def install(staging: Path, dest: Path, rows: list[dict], missing):
    """Moves the assembled folders into ``dest``; SOURCES.md last, so that a
    corpus cut off half-way is not taken for one."""
    (dest / "SOURCES.md").unlink(missing_ok=True)
    for folder in sorted(staging.iterdir()):
        target = dest / folder.name
        if target.exists():
            shutil.rmtree(target)
        folder.rename(target)
    write_manifest_tsv(dest, rows)
    (dest / "SOURCES.md").write_text(sources_text(rows, missing))


def assemble(dest: Path, force=False, patient=True) -> dict:
    """Builds the corpus under ``dest`` unless a complete one of this version is
    there. Returns {"files", "missing" (archives not fetched), "assembled"}."""
    stamp = dest / "CORPUS_VERSION"
    if not force and stamp.exists() and stamp.read_text().strip() == CORPUS_VERSION:
        return {"files": None, "missing": [], "assembled": False}
    dest.mkdir(parents=True, exist_ok=True)
    stamp.unlink(missing_ok=True)
    rows, missing = [], []
    with tempfile.TemporaryDirectory(prefix="staging-", dir=dest) as staging:
        for archive in ARCHIVES:
            path = download(archive, dest / "downloads", patient=patient)
            if path is None:
                missing.append(archive)
            else:
                rows += take_archive(archive, path, Path(staging))
        if rows:
            install(Path(staging), dest, rows, missing)
    if not missing:
        stamp.write_text(CORPUS_VERSION + "\n")
    return {"files": len(rows), "missing": missing, "assembled": True}


def report_line(dest: Path, result: dict) -> str:
    if not result["assembled"]:
        return f"reply corpus: {dest} (assembled before)"
    not_fetched = ", ".join(f"{a.registry}:{a.package}" for a in result["missing"])
    if not result["files"]:
        return (
            f"reply corpus: registries unreachable ({not_fetched} not fetched): "
            "its tests skip"
        )
    line = f"reply corpus: {result['files']} files assembled in {dest}"
    if not_fetched:
        line += f"; not fetched: {not_fetched} (the tests of its samples skip)"
    return line


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    parser.add_argument("--force", action="store_true", help="assemble again")
    parser.add_argument(
        "--quick", action="store_true", help="one short try per registry"
    )
    args = parser.parse_args(argv)
    result = assemble(args.dest, args.force, patient=not args.quick)
    print(report_line(args.dest, result))
    return 1 if result["missing"] else 0


if __name__ == "__main__":
    sys.exit(main())
