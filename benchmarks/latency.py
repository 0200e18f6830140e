#!/usr/bin/env python3
# ruff: noqa: PLC0415 (graph_emulator is importable once odoo_env is)
"""Latency: from a mail's delivery to its committed ticket, with change notifications
and with polling only, on a real Odoo server.

A real ``odoo-bin`` (HTTP + one cron worker, ``--workers=0``) on 127.0.0.1 scans a
mailbox of the in-process Graph emulator (realistic mode). The emulator calls Odoo's
notification endpoint over http on 127.0.0.1 (``require_https`` off, loopback only;
the addon accepts it with ``mail_scanner_oauth2.notification_allow_local``).

Two phases in the same run, each delivering ``--mails`` mails at random moments
(uniform, seeded) over ``--seconds`` seconds:

1. **notifications**: the subscription is live; each new mail makes Graph POST a
   notification, which wakes the scheduled job;
2. **polling only**: the mailbox's public address is pointed at a closed port, so
   Graph cannot validate it (as behind a firewall): the job polls every minute.

Latency is measured from the moment the emulator stored the mail to the moment its
``mail.message`` on a ticket is visible in PostgreSQL (committed), read every
``--probe`` seconds (that resolution is included in the figures).

    $PY benchmarks/latency.py [--mails 100] [--seconds 120] [--seed 3] \
        [--phases notifications,polling]

Last lines, one per phase: ``mode=<phase> p50_s=<n> p95_s=<n> max_s=<n> lost=<n>``.
The exit code is 1 when a mail is lost or the notification phase's p95 is over
``--target`` (5 s).
"""

import argparse
import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import odoo_env as oe

MAILBOX = "support@contoso.example"
UNREACHABLE = "http://127.0.0.1:9"  # port 9 (discard) is closed: validation fails


def percentile(values, share):
    """Nearest-rank percentile of a non-empty list."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 100))  # ceil(n * share / 100)
    return ordered[int(rank) - 1]


def corpus(n, phase, seed):
    from graph_emulator import make_eml

    mails = []
    for i in range(n):
        message_id = f"<latency-{phase}-{i:04d}.{seed}@customers.example.org>"
        eml = make_eml(
            f"{phase} {i}: the printer is on fire",
            # One sender per mail: the loop protection never sees a burst.
            f"Customer {i} <customer{i}.{phase}@customers.example.org>",
            MAILBOX,
            f"Mail {i} of the {phase} phase.",
            message_id=message_id,
        )
        mails.append((message_id, eml))
    return mails


def deliver_at_random_moments(gm, mails, seconds, rng, delivered):
    """Delivers each mail at its own random moment; records when it was stored."""
    moments = sorted(rng.uniform(0, seconds) for _mail in mails)
    start = time.monotonic()
    for (message_id, eml), moment in zip(mails, moments, strict=True):
        delay = start + moment - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        gm.mailbox.deliver(eml)
        delivered[message_id] = time.monotonic()


def measure(db, gm, mails, seconds, rng, probe, grace):
    """Latencies (seconds) of the mails that became tickets, and the lost count."""
    delivered, seen = {}, {}
    sender = threading.Thread(
        target=deliver_at_random_moments,
        args=(gm, mails, seconds, rng, delivered),
        daemon=True,
    )
    sender.start()
    ids = [message_id for message_id, _eml in mails]
    deadline = None
    while True:
        waiting = [m for m in ids if m not in seen]
        if not waiting:
            break
        now = time.monotonic()
        for (message_id,) in oe.sql(
            db,
            "SELECT DISTINCT message_id FROM mail_message "
            "WHERE model='helpdesk.ticket' AND message_id = ANY(%s)",
            (waiting,),
        ):
            seen[message_id] = now
        if deadline is None and not sender.is_alive():
            deadline = time.monotonic() + grace
        if deadline is not None and time.monotonic() > deadline:
            break
        time.sleep(probe)
    sender.join()
    latencies = [seen[m] - delivered[m] for m in ids if m in seen]
    return latencies, len(ids) - len(latencies)


def subscription_state(db):
    return oe.scalar(db, "SELECT state FROM mail_scanner_subscription LIMIT 1")


def wait_for_state(server, db, wanted, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = subscription_state(db)
        if state in wanted:
            return state
        server.wake_until_running(timeout=60)
        time.sleep(0.5)
    raise TimeoutError(f"subscription not {wanted} after {timeout}s")


def set_param(db, key, value):
    """A system parameter, before the server starts (no cache to refresh yet)."""
    oe.sql(
        db,
        "INSERT INTO ir_config_parameter (key, value, create_uid, write_uid, "
        "create_date, write_date) VALUES (%s, %s, 1, 1, now() at time zone 'UTC', "
        "now() at time zone 'UTC') ON CONFLICT (key) DO UPDATE SET value = %s",
        (key, value, value),
    )


def line(mode, latencies, lost):
    if not latencies:
        return f"mode={mode} p50_s=nan p95_s=nan max_s=nan lost={lost}"
    return (
        f"mode={mode} p50_s={percentile(latencies, 50):.2f} "
        f"p95_s={percentile(latencies, 95):.2f} max_s={max(latencies):.2f} "
        f"lost={lost}"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=120)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--probe", type=float, default=0.1)
    parser.add_argument("--target", type=float, default=5.0)
    parser.add_argument("--phases", default="notifications,polling")
    args = parser.parse_args()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    rng = random.Random(args.seed)
    results = {}
    with oe.Cleanup() as cleanup:
        db = oe.create_database("mso_bench_latency", cleanup)
        emu, gm = oe.start_emulator(cleanup, address=MAILBOX)
        emu.subscriptions.require_https = False  # Odoo on http://127.0.0.1
        port = oe.free_port()
        base_url = f"http://127.0.0.1:{port}"
        set_param(db, "web.base.url", base_url)
        set_param(db, "mail_scanner_oauth2.notification_allow_local", "1")
        oe.configure_mailbox(db, gm, batch_limit=50)
        server = oe.OdooServer(db, cleanup, log_level="info", port=port).start()
        oe.log(f"odoo on {base_url}, database {db}, log {server.logfile}")
        for phase in phases:
            if phase == "polling":
                oe.odoo_shell(
                    db,
                    f"env['mail.scanner.mailbox'].search([]).write("
                    f"{{'notification_address': {UNREACHABLE!r}}})\nenv.cr.commit()",
                )
                state = wait_for_state(server, db, ("failed",))
            else:
                state = wait_for_state(server, db, ("live",))
            oe.log(f"phase {phase}: subscription {state}; {args.mails} mails")
            latencies, lost = measure(
                db,
                gm,
                corpus(args.mails, phase, args.seed),
                args.seconds,
                rng,
                args.probe,
                grace=30 if phase == "notifications" else 150,
            )
            results[phase] = (latencies, lost)
            oe.log(line(phase, latencies, lost))
        notifications = emu.subscriptions.outbox.count("notification", ok=True)
        failed_posts = emu.subscriptions.outbox.count("notification", ok=False)
        print(f"odoo: {base_url} --workers=0 --max-cron-threads=1")
        print(f"versions: {oe.versions()}")
        print(
            f"emulator: notification POSTs answered 2xx={notifications} "
            f"failed={failed_posts}"
        )
    for phase in phases:
        print(line(phase, *results[phase]))
    lost = sum(lost for _lat, lost in results.values())
    slow = "notifications" in results and (
        not results["notifications"][0]
        or percentile(results["notifications"][0], 95) > args.target
    )
    return 1 if lost or slow else 0


if __name__ == "__main__":
    oe.reexec_under_venv()
    sys.exit(main())
