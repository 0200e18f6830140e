#!/usr/bin/env python3
# ruff: noqa: PLC0415 (graph_emulator is importable once odoo_env is)
"""Chaos: a real Odoo server scanning 300 mails is killed with SIGKILL 5 times.

A real ``odoo-bin --max-cron-threads=1`` runs the scanner's scheduled action (woken
with ``ir.cron`` triggers + NOTIFY, as ``_trigger()`` does; ``_notify_progress`` makes
the worker run the next slice at once). The mailbox imports ``--batch-limit`` mails per
slice (default 50). At 5 random moments (seeded) during the scan the server gets
SIGKILL, and is started again; after the 5th restart the scan is left to finish.

Then every corpus mail is checked: exactly one ledger row (``mail.scanner.message``)
in state done, exactly one ``mail.message`` with its Message-ID on a ticket, each new
conversation its own ticket, each reply in its conversation's ticket, and the mail
marked read in the (emulated) mailbox.

    $PY benchmarks/chaos.py [--mails 300] [--kills 5] [--seed 7] [--batch-limit 50]

Last line: ``lost=<n> duplicated=<n> kills=<n> mails=<n> seconds=<s>``; the exit code
is 1 when lost or duplicated is not 0 (or the scan did not finish in time).
"""

import argparse
import hashlib
import os
import random
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import odoo_env as oe

MAILBOX = "support@contoso.example"
BASE_DATE = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)


# --------------------------------------------------------------------------- corpus
def _blob(label, size):
    """Deterministic bytes (SHA-256 in counter mode)."""
    out, counter = bytearray(), 0
    while len(out) < size:
        out += hashlib.sha256(f"{label}:{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def _pdf(label):
    body = (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\n"
        b"% " + label.encode() + b"\ntrailer<</Root 1 0 R>>\n%%EOF\n"
    )
    return body


def build_corpus(n=300, seed=7, reply_share=0.4, attachment_every=6, prefix="chaos"):
    """``n`` mails in delivery order: new conversations and replies to earlier ones
    (In-Reply-To the last mail of the thread, References the whole thread), some with
    attachments. Deterministic. Each item: dict(index, kind 'new'|'reply', root
    (index of the conversation's first mail), message_id, eml, received,
    attachments)."""
    from graph_emulator import make_eml

    rng = random.Random(seed)
    corpus, threads = [], {}  # root index -> [message ids]
    for i in range(n):
        received = BASE_DATE + timedelta(minutes=i)
        message_id = f"<{prefix}-{i:04d}.{seed}@customers.example.org>"
        is_reply = i >= 5 and rng.random() < reply_share
        attachments = []
        if i % attachment_every == 3:
            if rng.random() < 0.5:
                attachments.append(
                    (f"nota-{i}.pdf", _pdf(f"{prefix}-{i}"), "application/pdf")
                )
            else:
                attachments.append(
                    (f"log-{i}.bin", _blob(f"{prefix}-{i}", rng.randint(2_000, 40_000)))
                )
        if is_reply:
            root = rng.choice(sorted(threads))
            chain = threads[root]
            root_item = corpus[root]
            customer = root_item["sender"]
            eml = make_eml(
                "RE: " + root_item["subject"],
                customer,
                MAILBOX,
                f"Follow-up {i} on my request {root}.\n\nThanks,\nCustomer {root}\n",
                message_id=message_id,
                in_reply_to=chain[-1],
                references=list(chain),
                attachments=attachments,
                date=received,
            )
            chain.append(message_id)
            subject, sender = "RE: " + root_item["subject"], customer
        else:
            root = i
            sender = f"Customer {i} <customer{i}@customers.example.org>"
            subject = f"Request {i}: " + rng.choice(
                [
                    "printer offline",
                    "invoice copy",
                    "VPN drops",
                    "password reset",
                    "delivery late",
                    "contract renewal",
                    "access to the portal",
                ]
            )
            html = None
            if i % 4 == 1:
                html = f"<p>Hello,</p><p>request <b>{i}</b> in <i>HTML</i>.</p>"
            eml = make_eml(
                subject,
                sender,
                MAILBOX,
                f"Hello,\n\nThis is request {i}.\n\nRegards,\nCustomer {i}\n",
                message_id=message_id,
                html=html,
                attachments=attachments,
                date=received,
            )
            threads[i] = [message_id]
        corpus.append(
            {
                "index": i,
                "kind": "reply" if is_reply else "new",
                "root": root,
                "message_id": message_id,
                "eml": eml,
                "received": received,
                "subject": subject,
                "sender": sender,
                "attachments": len(attachments),
            }
        )
    return corpus


def deliver(gm, corpus):
    for item in corpus:
        msg = gm.mailbox.deliver(item["eml"], received=item["received"])
        item["graph_id"] = msg.immutable_id
        item["emu_msg"] = msg


# ---------------------------------------------------------------------------- check
def print_problems(result):
    """What verify() found wrong, with a few example mails."""
    if not result["problems"]:
        return
    print("problems: " + ", ".join(f"{k}={v}" for k, v in result["problems"].items()))
    for ex in result["examples"]:
        print(f"  mail {ex[0]} ({ex[1]}): {ex[2]}")


def verify(db, gm, corpus, check_read=True):  # noqa: C901
    """Counts lost and duplicated mail against the corpus. Returns a dict."""
    ids = [c["message_id"] for c in corpus]
    rows = oe.sql(
        db,
        "SELECT message_id, res_id FROM mail_message WHERE model='helpdesk.ticket' "
        "AND message_type='email' AND message_id = ANY(%s)",
        (ids,),
    )
    posted = {}
    for mid, res_id in rows:
        posted.setdefault(mid, []).append(res_id)
    any_model = Counter(
        mid
        for (mid,) in oe.sql(
            db, "SELECT message_id FROM mail_message WHERE message_id = ANY(%s)", (ids,)
        )
    )
    ledger = {}
    for graph_id, state, done_after in oe.sql(
        db, "SELECT graph_id, state, after_import_done FROM mail_scanner_message"
    ):
        ledger.setdefault(graph_id, []).append((state, done_after))
    ticket_of_root = {}
    for c in corpus:
        if c["kind"] == "new" and len(posted.get(c["message_id"], [])) >= 1:
            ticket_of_root[c["index"]] = posted[c["message_id"]][0]
    problems = Counter()
    lost = duplicated = 0
    examples = []
    for c in corpus:
        why = []
        rows_ = ledger.get(c["graph_id"], [])
        if len(rows_) != 1:
            why.append(f"ledger rows={len(rows_)}")
        elif rows_[0][0] != "done":
            why.append(f"ledger state={rows_[0][0]}")
        elif check_read and not rows_[0][1]:
            why.append("after_import not done")
        res = posted.get(c["message_id"], [])
        if not res:
            why.append("no mail.message on a ticket")
        elif c["kind"] == "reply" and res[0] != ticket_of_root.get(c["root"]):
            why.append("reply in the wrong ticket")
        if check_read and not c["emu_msg"].is_read:
            why.append("not marked read")
        if why:
            lost += 1
            problems.update(why)
            if len(examples) < 10:
                examples.append((c["index"], c["kind"], ", ".join(why)))
        extra = max(0, any_model.get(c["message_id"], 0) - 1)
        if extra:
            problems["mail.message duplicated"] += extra
        duplicated += extra
    roots = sum(1 for c in corpus if c["kind"] == "new")
    tickets = oe.ticket_count(db)
    if tickets > roots:
        problems["extra tickets"] += tickets - roots
        duplicated += tickets - roots
    distinct_tickets = len(set(ticket_of_root.values()))
    if distinct_tickets != len(ticket_of_root):
        problems["two conversations in one ticket"] += (
            len(ticket_of_root) - distinct_tickets
        )
        lost += len(ticket_of_root) - distinct_tickets
    return {
        "lost": lost,
        "duplicated": duplicated,
        "tickets": tickets,
        "roots": roots,
        "replies": len(corpus) - roots,
        "ledger": oe.ledger_counts(db),
        "problems": dict(problems),
        "examples": examples,
    }


def scan_finished(db, gm, corpus):
    """Every corpus mail done in the ledger, its after-import done, read in Graph."""
    rows = oe.sql(
        db,
        "SELECT count(*) FILTER (WHERE state IN ('done','duplicate','ignored','failed')"
        " AND after_import_done), count(*) FILTER (WHERE state = 'failed'), count(*)"
        " FROM mail_scanner_message",
    )
    finished, failed, total = rows[0]
    if failed:
        # Failed rows are retried by later runs; not finished while retries remain.
        retry = oe.scalar(
            db,
            "SELECT count(*) FROM mail_scanner_message WHERE "
            "state='failed' AND attempts < 5",
        )
        if retry:
            return False
    return (
        total >= len(corpus)
        and finished == total
        and all(c["emu_msg"].is_read for c in corpus)
    )


def progress(db):
    c = oe.ledger_counts(db)
    return c.get("done", 0), sum(c.values())


# ----------------------------------------------------------------------------- main
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=300)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--batch-limit", type=int, default=50)
    parser.add_argument(
        "--deadline",
        type=float,
        default=540,
        help="seconds for the whole scan before giving up",
    )
    args = parser.parse_args()
    t0 = time.monotonic()
    rng = random.Random(args.seed)
    with oe.Cleanup() as cleanup:
        db = oe.create_database("mso_bench_chaos", cleanup)
        _emu, gm = oe.start_emulator(cleanup, address=MAILBOX)
        corpus = build_corpus(args.mails, seed=args.seed)
        deliver(gm, corpus)
        kinds = Counter(c["kind"] for c in corpus)
        oe.log(
            f"corpus: {len(corpus)} mails, {kinds['new']} new conversations, "
            f"{kinds['reply']} replies, {sum(c['attachments'] for c in corpus)} "
            f"attachments; database {db}"
        )
        # Creating the mailbox checks the access and triggers the job; no server yet.
        oe.configure_mailbox(db, gm, batch_limit=args.batch_limit)
        server = oe.OdooServer(db, cleanup, log_level="info")
        scan_t0 = time.monotonic()
        deadline = scan_t0 + args.deadline
        kills = []
        finished = False
        while time.monotonic() < deadline:
            server.start(timeout=120)
            server.wake_until_running(timeout=90)
            if len(kills) < args.kills:
                # A random moment of this run: somewhere in its first seconds, while
                # slices are being imported, marked read or the delta pulled.
                delay = rng.uniform(0.3, 4.0)
                end = time.monotonic() + delay
                while time.monotonic() < end and not scan_finished(db, gm, corpus):
                    time.sleep(0.05)
                if scan_finished(db, gm, corpus):
                    oe.log("the scan finished before the planned kill; not counted")
                    finished = True
                    break
                done_before, rows_before = progress(db)
                server.kill()
                kills.append(delay)
                oe.log(
                    f"kill {len(kills)}: SIGKILL {delay:.2f}s into run "
                    f"{server.starts}; ledger rows={rows_before} done={done_before}"
                )
                continue
            # Let the last run finish; wake the job whenever it goes idle.
            idle_since = time.monotonic()
            last = progress(db)
            while time.monotonic() < deadline:
                if scan_finished(db, gm, corpus):
                    finished = True
                    break
                now = progress(db)
                if now != last:
                    last, idle_since = now, time.monotonic()
                elif time.monotonic() - idle_since > 3:
                    oe.wake_cron(db)
                    idle_since = time.monotonic()
                time.sleep(0.25)
            break
        scan_seconds = time.monotonic() - scan_t0
        server.kill()
        result = verify(db, gm, corpus)
        print(
            f"corpus: mails={len(corpus)} new={result['roots']} "
            f"replies={result['replies']}"
        )
        print(
            f"odoo: tickets={result['tickets']} ledger={result['ledger']} "
            f"server starts={server.starts}"
        )
        print("kills at (s into run): " + ", ".join(f"{k:.2f}" for k in kills))
        print(f"scan finished={finished} scan_seconds={scan_seconds:.1f}")
        print_problems(result)
        print(f"server log: {server.logfile}")
    seconds = time.monotonic() - t0
    print(
        f"lost={result['lost']} duplicated={result['duplicated']} kills={len(kills)} "
        f"mails={len(corpus)} seconds={seconds:.0f}"
    )
    ok = (
        finished
        and result["lost"] == 0
        and result["duplicated"] == 0
        and len(kills) == args.kills
    )
    return 0 if ok else 1


if __name__ == "__main__":
    oe.reexec_under_venv()
    sys.exit(main())
