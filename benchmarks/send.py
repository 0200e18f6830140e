#!/usr/bin/env python3
"""Sending: 200 agents' answers leave through the mailbox while Odoo's cron worker is
killed with SIGKILL 3 times.

A real ``odoo-bin --max-cron-threads=1`` runs Odoo's mail queue (``Mail: Email Queue
Manager``, woken with an ``ir.cron`` trigger + NOTIFY, as ``_trigger()`` does). The
queue holds one agent's answer on each of 200 tickets (written in the chatter to the
customer; a third of them with an attachment of 10 KB to 12 MB, sizes drawn
log-uniformly, seeded), and the mailbox sends through the Graph emulator. At 3 random
moments (seeded) while the queue is being sent, the server gets SIGKILL and is started
again; after the 3rd restart the queue is left to finish.

Then every answer is checked in the emulator: exactly one copy left the organisation
and exactly one is in the mailbox's Sent Items, with the attachment's bytes; no draft
is left behind; no mail is in exception.

    $PY benchmarks/send.py [--mails 200] [--kills 3] [--seed 11]

Last line: ``sent=<n> duplicated=<n> lost=<n> requests_per_mail=<n> mails_per_s=<n>``
(requests: every HTTP request the emulator served while the queue was sent, token
requests included, over the mails; mails_per_s: over the whole sending phase, the
restarts included). The exit code is 1 when duplicated or lost is not 0.
"""

import argparse
import email
import hashlib
import json
import math
import os
import random
import sys
import time
from collections import Counter
from email import policy

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import odoo_env as oe

MAILBOX = "support@contoso.example"
MAIL_CRON = ("mail", "ir_cron_mail_scheduler_action")
KB, MB = 1024, 1024 * 1024


# --------------------------------------------------------------------------- corpus
def attachment_sizes(mails, seed):
    """{index: size} for a third of the answers, 10 KB to 12 MB, log-uniform."""
    rng = random.Random(seed)
    chosen = sorted(rng.sample(range(mails), mails // 3))
    low, high = math.log(10 * KB), math.log(12 * MB)
    return {i: int(math.exp(rng.uniform(low, high))) for i in chosen}


def blob(label, size):
    """Deterministic bytes (SHA-256 of a label, then repeated counter blocks)."""
    seed = hashlib.sha256(label.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


SETUP_SCRIPT = """
import hashlib, json, os
e = os.environ
sizes = {int(k): v for k, v in json.loads(e["MSO_SIZES"]).items()}
mails = int(e["MSO_MAILS"])
def blob(label, size):
    seed = hashlib.sha256(label.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]
agent = env["res.users"].with_context(no_reset_password=True).create({
    "name": "Marta Agent", "login": "bench_agent", "email": "marta@staff.example",
    "groups_id": [(6, 0, [env.ref("base.group_user").id,
                          env.ref("helpdesk_mgmt.group_helpdesk_user").id])],
})
team = env["helpdesk.ticket.team"].search([], limit=1)
Ticket = env["helpdesk.ticket"].with_context(mail_create_nosubscribe=True,
                                             tracking_disable=True)
answers = []
for i in range(mails):
    customer = env["res.partner"].create({
        "name": f"Customer {i}", "email": f"customer{i}@customers.example.org"})
    ticket = Ticket.create({
        "name": f"Request {i}", "description": f"<p>Request {i}</p>",
        "partner_id": customer.id, "team_id": team.id, "user_id": False})
    attachment_ids = []
    if i in sizes:
        attachment_ids = [env["ir.attachment"].with_user(agent).create({
            "name": f"answer-{i}.bin", "raw": blob(f"answer-{i}", sizes[i]),
            "res_model": "mail.compose.message", "res_id": 0}).id]
    message = ticket.with_user(agent).with_context(
        mail_notify_force_send=False, mail_post_autofollow=True).message_post(
        body=f"<p>Answer {i}: we are on it.</p>", message_type="comment",
        subtype_xmlid="mail.mt_comment", partner_ids=customer.ids,
        attachment_ids=attachment_ids)
    answers.append({"index": i, "message_id": message.message_id,
                    "customer": customer.email})
    if i % 20 == 19:
        env.cr.commit()
env.cr.commit()
queued = env["mail.mail"].search_count([("state", "=", "outgoing")])
server = env["ir.mail_server"].search(
    [("smtp_authentication", "=", "mail_scanner_graph")])
emit({"answers": answers, "queued": queued, "server": server.ids})
"""


# ---------------------------------------------------------------------- the queue
def mail_cron_id(db):
    return oe.scalar(
        db, "SELECT res_id FROM ir_model_data WHERE module=%s AND name=%s", MAIL_CRON
    )


def wake_mail_queue(db):
    """What ``ir.cron._trigger()`` does, by SQL: a trigger row due now + NOTIFY."""
    oe.sql(
        db,
        "INSERT INTO ir_cron_trigger (cron_id, call_at, create_date, write_date) "
        "VALUES (%s, now() at time zone 'UTC', now() at time zone 'UTC', "
        "now() at time zone 'UTC')",
        (mail_cron_id(db),),
    )
    oe.sql("postgres", "SELECT pg_notify('cron_trigger', %s)", (db,))


def queue_state(db):
    return dict(oe.sql(db, "SELECT state, count(*) FROM mail_mail GROUP BY state"))


def outgoing(db):
    return queue_state(db).get("outgoing", 0)


def sent_so_far(gm, ids):
    return sum(1 for m in gm.emu.outbound if m.internet_message_id in ids)


def wait_until_sending(server, gm, ids, timeout=90):
    """Wakes the queue until the worker has sent something new (the first NOTIFY
    may come before the worker listens)."""
    start = sent_so_far(gm, ids)
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if not server.alive():
            raise oe.OdooError(f"odoo exited; see {server.logfile}")
        wake_mail_queue(server.db)
        end = time.monotonic() + 0.5
        while time.monotonic() < end:
            if sent_so_far(gm, ids) > start or not outgoing(server.db):
                return
            time.sleep(0.05)
    raise TimeoutError("the cron worker did not start sending")


# ---------------------------------------------------------------------------- check
def verify(db, gm, answers, sizes):
    by_id = {a["message_id"]: a for a in answers}
    left = Counter(m.internet_message_id for m in gm.emu.outbound)
    filed = Counter(m.internet_message_id for m in gm.mailbox.messages("sentitems"))
    problems, examples = Counter(), []
    sent = duplicated = lost = 0
    for message_id, answer in by_id.items():
        copies, in_sent_items = left.get(message_id, 0), filed.get(message_id, 0)
        duplicated += max(0, copies - 1) + max(0, in_sent_items - 1)
        why = []
        if copies == 0:
            why.append("never left")
        if in_sent_items == 0:
            why.append("not in Sent Items")
        if why:
            lost += 1
            problems.update(why)
            if len(examples) < 10:
                examples.append((answer["index"], ", ".join(why)))
        else:
            sent += 1
    for msg in gm.mailbox.messages("sentitems"):
        answer = by_id.get(msg.internet_message_id)
        if answer and answer["index"] in sizes:
            parsed = email.message_from_bytes(msg.raw, policy=policy.default)
            files = [p for p in parsed.iter_attachments() if p.get_filename()]
            expected = blob(f"answer-{answer['index']}", sizes[answer["index"]])
            if not files or files[0].get_payload(decode=True) != expected:
                problems["attachment bytes differ"] += 1
                lost += 1
    drafts = len(gm.mailbox.messages("drafts"))
    if drafts:
        problems["drafts left"] += drafts
    exceptions = queue_state(db).get("exception", 0)
    if exceptions:
        problems["mail in exception"] += exceptions
        lost += exceptions
    return {
        "sent": sent,
        "duplicated": duplicated,
        "lost": lost,
        "drafts": drafts,
        "problems": dict(problems),
        "examples": examples,
        "ledger": dict(
            oe.sql(db, "SELECT state, count(*) FROM mail_scanner_outgoing GROUP BY 1")
        ),
    }


# ----------------------------------------------------------------------------- main
def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=200)
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument(
        "--deadline", type=float, default=600, help="seconds for the sending phase"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    sizes = attachment_sizes(args.mails, args.seed)
    with oe.Cleanup() as cleanup:
        db = oe.create_database("mso_bench_send", cleanup)
        emu, gm = oe.start_emulator(
            cleanup, address=MAILBOX, roles=("Mail.ReadWrite", "Mail.Send")
        )
        oe.configure_mailbox(db, gm)
        (setup,) = oe.odoo_shell(
            db,
            SETUP_SCRIPT,
            env={"MSO_SIZES": json.dumps(sizes), "MSO_MAILS": str(args.mails)},
            timeout=900,
        )
        answers = setup["answers"]
        ids = {a["message_id"] for a in answers}
        if not setup["server"]:
            raise SystemExit("the mailbox has no outgoing mail server: Mail.Send?")
        oe.log(
            f"queued {setup['queued']} answers on {len(answers)} tickets, "
            f"{len(sizes)} with an attachment ({sum(sizes.values()) / MB:.0f} MB); "
            f"database {db}"
        )
        emu.log.clear()
        server = oe.OdooServer(db, cleanup, log_level="info")
        t0 = time.monotonic()
        deadline = t0 + args.deadline
        kills = []
        while time.monotonic() < deadline:
            server.start(timeout=120)
            wait_until_sending(server, gm, ids)
            if len(kills) < args.kills and outgoing(db):
                delay = rng.uniform(0.2, 2.5)
                end = time.monotonic() + delay
                while time.monotonic() < end and outgoing(db):
                    time.sleep(0.02)
                if not outgoing(db):
                    oe.log("the queue emptied before the planned kill; not counted")
                    break
                before = sent_so_far(gm, ids)
                server.kill()
                kills.append(delay)
                oe.log(
                    f"kill {len(kills)}: SIGKILL {delay:.2f}s into sending run "
                    f"{server.starts}; sent so far {before}, queued {outgoing(db)}"
                )
                continue
            while time.monotonic() < deadline and outgoing(db):
                wake_mail_queue(db)
                time.sleep(0.5)
            break
        seconds = time.monotonic() - t0
        server.kill()
        requests = emu.log.count(in_batch=False)
        rows = emu.log.select()
        # What the restarts cost: checks of an earlier attempt (a recorded draft's
        # state, or the lookup of a half-built one), drafts deleted, sends posted.
        checks = sum(1 for r in rows if r.method == "GET" and "isDraft" in str(r.query))
        deleted = sum(1 for r in rows if r.method == "DELETE")
        send_posts = sum(
            1 for r in rows if r.method == "POST" and r.path.endswith("/send")
        )
        result = verify(db, gm, answers, sizes)
        print(
            f"answers={len(answers)} with_attachment={len(sizes)} "
            f"attachment_mb={sum(sizes.values()) / MB:.1f} queue={queue_state(db)}"
        )
        print(f"send ledger={result['ledger']} drafts_left={result['drafts']}")
        print("kills at (s into run): " + ", ".join(f"{k:.2f}" for k in kills))
        print(f"sending_seconds={seconds:.1f} server_starts={server.starts}")
        print(
            f"earlier_attempt_checks={checks} drafts_deleted={deleted} "
            f"send_posts={send_posts} requests={requests}"
        )
        if result["problems"]:
            print(
                "problems: "
                + ", ".join(f"{k}={v}" for k, v in result["problems"].items())
            )
            for index, why in result["examples"]:
                print(f"  answer {index}: {why}")
        print(f"server log: {server.logfile}")
    print(
        f"sent={result['sent']} duplicated={result['duplicated']} "
        f"lost={result['lost']} requests_per_mail={requests / len(answers):.1f} "
        f"mails_per_s={result['sent'] / seconds:.1f}"
    )
    ok = (
        result["duplicated"] == 0
        and result["lost"] == 0
        and result["sent"] == len(answers)
        and len(kills) == args.kills
    )
    return 0 if ok else 1


if __name__ == "__main__":
    oe.reexec_under_venv()
    sys.exit(main())
