#!/usr/bin/env python3
"""Poison mail: one mail over the worker's memory limit, one over its time limit.

A real ``odoo-bin`` in prefork mode (``--workers=2 --max-cron-threads=1``) with
worker limits (``--limit-memory-hard``, default 650 MB; ``--limit-time-real-cron``,
default 10 s), the mailbox's size limit raised to 200 MB, and in the emulated
mailbox, one minute apart: small mails, a mail whose import needs more memory
than the limit (one large attachment: Python's email parser inside
``message_process`` needs about 8x the mail), a mail whose import takes longer
than the time limit (thousands of small attachments: one ``ir.attachment`` each),
then small mails again. The scheduled job is woken every few seconds (as its
schedule and its own "run again at once" would) until every mail is imported or
set aside, or the deadline passes.

    $PY benchmarks/poison.py [--memory-mb 60] [--attachments 8000]
                             [--limit-memory-hard-mb 650] [--limit-time-real-cron 10]

Prints what happened to each mail (state, attempts, interruptions, reason), the
worker kills and memory errors seen in the server log, and last:

    blocked=<n> set_aside=<n> cron_failures=<n> seconds=<n>

blocked: mails neither imported nor set aside (still pending, or failed with
attempts left, or never recorded); set_aside: ledger rows failed with the
interrupted or out-of-memory reason; cron_failures: the scanner job's
``ir_cron.failure_count``, the highest seen during the run (Odoo resets it on the
next success) or the number of "Job ... timed out" lines in the server log if
more, plus 1 if Odoo switched the job off. The expected
line is ``blocked=0 set_aside=2 cron_failures=0`` (``set_aside=1`` when the memory
mail fits the limit and is imported whole, as it does since large attachments are cut
out before Odoo's parser); the exit status is 1 otherwise.
The emulator is realistic (regenerated MIME, redelivered changes, empty delta
pages, expiring delta links).
"""

import argparse
import os
import re
import sys
import time
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import SMTP

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import odoo_env as oe

oe.reexec_under_venv()

import corpus  # noqa: E402

MB = 1024 * 1024
MAILBOX = "support@contoso.example"
BASE = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)
SMALL_BEFORE = 3
SET_ASIDE_KEYS = {"import_interrupted", "out_of_memory", "out_of_memory_plain"}
# What the server log says when a worker is stopped or runs out of memory (the
# master logs a kill twice: counted once per worker pid).
LOG_EVENTS = {
    "cron workers killed (time)": re.compile(r"WorkerCron \((\d+)\) timeout after"),
    "memory soft limit": re.compile(r"virtual memory limit \((\d+)\) reached"),
    "cpu limit": re.compile(r"(CPU time limit)"),
    "job runs counted as failed (timed out)": re.compile(r"(Job .* timed out)"),
    "cron workers started": re.compile(r"Worker WorkerCron \((\d+)\) alive"),
}


def small_mail(k):
    msg = EmailMessage(policy=SMTP)
    msg["From"] = f"Customer {k} <customer{k}@customers.example.org>"
    msg["To"] = MAILBOX
    msg["Subject"] = f"Small request {k}"
    msg["Message-ID"] = f"<poison-small-{k}@customers.example.org>"
    msg["Date"] = "Mon, 02 Mar 2026 08:00:00 +0000"
    msg.set_content(f"Hello, this is small request number {k}.\n")
    return msg.as_bytes()


def slow_mail(attachments, k=1):
    """One mail with ``attachments`` tiny attachments: the gateway creates an
    ir.attachment for each (about 3 ms apiece on this machine), far over a small
    time limit, while the mail itself stays small (about 300 bytes a part)."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "Scanner Export <exports@customers.example.org>"
    msg["To"] = MAILBOX
    msg["Subject"] = f"Nightly export {k}: {attachments} files"
    msg["Message-ID"] = f"<poison-slow-{k}@customers.example.org>"
    msg["Date"] = "Mon, 02 Mar 2026 08:00:00 +0000"
    msg.set_content("The nightly export, one file per record.\n")
    for i in range(attachments):
        msg.add_attachment(
            f"record {i}\n".encode() * 8,
            maintype="application",
            subtype="octet-stream",
            filename=f"record-{i:05d}.dat",
        )
    return msg.as_bytes()


def memory_mail(megabytes):
    return corpus.big_mail(
        int(megabytes * MB),
        message_id="<poison-memory@cliente.example.com.br>",
        subject="Backup do servidor (poison: memory)",
    )


def build_mails(args):
    mails = [(f"small-{k}", small_mail(k)) for k in range(1, SMALL_BEFORE + 1)]
    mails.append(("memory", memory_mail(args.memory_mb)))
    mails += [
        (f"time-{k}" if args.slow_mails > 1 else "time", slow_mail(args.attachments, k))
        for k in range(1, args.slow_mails + 1)
    ]
    mails += [
        (f"small-{k}", small_mail(k))
        for k in range(SMALL_BEFORE + 1, SMALL_BEFORE + args.small_after + 1)
    ]
    return mails


def server_args(args):
    hard = args.limit_memory_hard_mb * MB
    return [
        "--workers=2",
        "--max-cron-threads=1",
        f"--limit-memory-hard={hard}",
        # Odoo recycles a worker above the soft limit after its job: below hard.
        f"--limit-memory-soft={int(hard * 0.9)}",
        "--limit-time-cpu=600",  # the real-time limit is the one under test
        f"--limit-time-real={max(args.limit_time_real_cron, 60)}",
    ]


def ledger(db, names_by_graph_id):
    rows = oe.ledger_rows(db)
    return [dict(r, mail=names_by_graph_id.get(r["graph_id"], "?")) for r in rows]


def settled(row):
    """Imported, or given up on until someone uses Retry (set aside at once, or
    out of automatic attempts)."""
    if row["state"] in ("done", "ignored", "duplicate", "skipped"):
        return True
    return row["state"] == "failed" and (
        not row["retry_automatically"] or row["attempts"] >= 5
    )


def cron_status(db):
    cid = oe.cron_id(db)
    ((failures, active),) = oe.sql(
        db, "SELECT failure_count, active FROM ir_cron WHERE id = %s", (cid,)
    )
    return failures, active


def drive(server, db, names_by_graph_id, deadline, wake_every):
    """Wakes the job every few seconds until every mail is settled. Returns
    (settled, highest failure_count of the job seen on the way): Odoo resets the
    count on the next success, so the count at the end hides failures."""
    end = time.monotonic() + deadline
    last_wake = 0.0
    worst = 0
    while time.monotonic() < end:
        worst = max(worst, cron_status(db)[0])
        rows = ledger(db, names_by_graph_id)
        if len(rows) >= len(names_by_graph_id) and all(settled(r) for r in rows):
            return True, worst
        if not server.alive():
            raise oe.OdooError(f"the Odoo server exited; see {server.logfile}")
        if time.monotonic() - last_wake >= wake_every:
            oe.wake_cron(db)
            last_wake = time.monotonic()
        time.sleep(0.5)
    return False, worst


def log_events(logfile):
    lines = open(logfile, errors="replace").read().splitlines()
    counts = {}
    for name, rx in LOG_EVENTS.items():
        found = [m.group(1) for line in lines for m in [rx.search(line)] if m]
        distinct = name.startswith("cron workers")
        counts[name] = len(set(found)) if distinct else len(found)
    return counts


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--memory-mb", type=float, default=60, help="attachment MB")
    parser.add_argument("--attachments", type=int, default=8000)
    parser.add_argument(
        "--small-after",
        type=int,
        default=3,
        help="small mails after the poison (default 3; a few hundred make a "
        "backlog longer than one cron run)",
    )
    parser.add_argument(
        "--slow-mails",
        type=int,
        default=1,
        help="mails over the time limit, one after the other (default 1; the "
        "expected set_aside is then 1 + this)",
    )
    parser.add_argument("--limit-memory-hard-mb", type=int, default=650)
    parser.add_argument("--limit-time-real-cron", type=int, default=10)
    parser.add_argument("--deadline", type=float, default=480)
    parser.add_argument("--wake-every", type=float, default=3)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    t0 = time.monotonic()
    with oe.Cleanup() as cleanup:
        db = oe.create_database("mso_bench_poison", cleanup)
        _emu, gm = oe.start_emulator(cleanup, address=MAILBOX)
        names = {}
        for k, (name, raw) in enumerate(build_mails(args)):
            msg = gm.mailbox.deliver(raw, received=BASE + timedelta(minutes=k))
            names[msg.immutable_id] = name
            oe.log(f"delivered {name}: {len(raw) / MB:.1f} MB")
        oe.configure_mailbox(db, gm, batch_limit=50, extra={"max_size_mb": 200})
        server = oe.OdooServer(
            db,
            cleanup,
            limit_time_real_cron=args.limit_time_real_cron,
            workers=2,
            extra_args=server_args(args),
        )
        server.start()
        oe.log(f"odoo in prefork mode, log {server.logfile}")
        finished, worst = drive(server, db, names, args.deadline, args.wake_every)
        rows = ledger(db, names)
        failures, active = cron_status(db)
        events = log_events(server.logfile)
        mailbox = oe.mailbox_state(db)
        server.kill()
    print(f"{'mail':10s} {'state':8s} {'outcome':8s} {'tries':>5} {'intr':>4}  reason")
    order = {name: k for k, name in enumerate(names.values())}
    for row in sorted(rows, key=lambda r: order.get(r["mail"], 10**6)):
        plain_small = (
            row["mail"].startswith("small")
            and row["state"] == "done"
            and row["attempts"] == 1
            and not row["interruptions"]
        )
        if plain_small and args.small_after > 10:
            continue  # a long backlog: only the small mails with a story
        print(
            f"{row['mail']:10s} {row['state']:8s} {row['outcome'] or '':8s} "
            f"{row['attempts']:5d} {row['interruptions']:4d}  {row['reason']}"
        )
    recorded = {r["graph_id"] for r in rows}
    blocked = sum(1 for r in rows if not settled(r)) + len(set(names) - recorded)
    set_aside = sum(
        1 for r in rows if r["state"] == "failed" and r["reason_key"] in SET_ASIDE_KEYS
    )
    small_ok = sum(
        1
        for r in rows
        if r["mail"].startswith("small") and r["state"] == "done" and r["ticket_id"]
    )
    timed_out = events["job runs counted as failed (timed out)"]
    innocent = sum(
        1 for r in rows if r["mail"].startswith("small") and r["interruptions"]
    )
    cron_failures = max(failures, worst, timed_out) + (0 if active else 1)
    print(f"server log: {events}")
    print(
        f"cron job: failure_count={failures} at the end, {worst} at most during "
        f"the run; active={active}"
    )
    print(
        f"mailbox: state={mailbox.get('state')} "
        f"last_error={mailbox.get('last_error')!r}"
    )
    print(
        f"small mails imported: {small_ok} of {SMALL_BEFORE + args.small_after} "
        f"({innocent} of them interrupted at least once); "
        f"all settled: {'yes' if finished else 'no (deadline)'}"
    )
    # Since large attachments are cut out before Odoo's parser (issue 14), the
    # memory mail may fit the limit and be imported whole: then it is not set aside.
    memory_imported = any(
        r["mail"] == "memory" and r["state"] == "done" and r["ticket_id"] for r in rows
    )
    expected = args.slow_mails + (0 if memory_imported else 1)
    print(
        f"memory mail: {'imported' if memory_imported else 'set aside'}; "
        f"expected set_aside={expected}"
    )
    seconds = time.monotonic() - t0
    print(
        f"blocked={blocked} set_aside={set_aside} cron_failures={cron_failures} "
        f"seconds={seconds:.0f}"
    )
    good = blocked == 0 and set_aside == expected and cron_failures == 0
    return 0 if good and small_ok == SMALL_BEFORE + args.small_after else 1


if __name__ == "__main__":
    sys.exit(main())
