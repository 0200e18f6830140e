#!/usr/bin/env python3
# ruff: noqa: PLC0415 (graph_emulator is importable once odoo_env is)
"""Hostile mail: every awkward real-world mail ends somewhere, and the scan goes on.

Delivers the corpus of ``benchmarks/hostile_corpus.py`` (malformed headers, wrong,
missing and unknown charsets, raw 8-bit and NUL bytes in headers, TNEF, 60 and 400
nested multiparts, 2 MB and broken HTML, empty bodies, calendar invitations, DSNs,
forwards, duplicate Message-IDs, broken base64 and quoted-printable, ...), then a
plain "canary" mail, to the emulated mailbox, and lets the addon scan it in an
``odoo-bin shell`` that calls the scheduled action's method until nothing is left to
import (failed mails are retried until their attempts run out).

Every mail must end as a ticket, a reply, a duplicate, ignored, or failed with a
reason; none may stay pending (stuck); the canary must become a ticket and the
mailbox must still be running.

    $PY benchmarks/hostile.py [--batch-limit 20]

Prints one line per mail, the table of failure reasons, and last:
``tickets=<n> failed=<n> ignored=<n> duplicate=<n> stuck=<n> seconds=<s>``.
Exit code 1 when something is stuck, unaccounted for, or the scan stopped.
"""

import argparse
import os
import sys
import time
from collections import Counter, defaultdict
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import hostile_corpus
import odoo_env as oe

BASE = datetime(2026, 3, 2, 13, 0, tzinfo=timezone.utc)


def short(text, width=110):
    text = " ".join((text or "").split())
    return text if len(text) <= width else text[: width - 1] + "…"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch-limit", type=int, default=20)
    parser.add_argument("--deadline", type=float, default=480)
    args = parser.parse_args()
    t0 = time.monotonic()
    from graph_emulator import make_eml

    items = hostile_corpus.build()
    with oe.Cleanup() as cleanup:
        db = oe.create_database("mso_bench_hostile", cleanup)
        _emu, gm = oe.start_emulator(cleanup, address=hostile_corpus.MAILBOX)
        delivered, rejected = [], []
        for k, item in enumerate(items):
            try:
                msg = gm.mailbox.deliver(item.raw, received=BASE + timedelta(minutes=k))
            except Exception as exc:
                rejected.append((item.name, f"{type(exc).__name__}: {exc}"))
                continue
            delivered.append((item, msg))
        canary = gm.mailbox.deliver(
            make_eml(
                "Canary after the hostile mail",
                "canary@customers.example.org",
                hostile_corpus.MAILBOX,
                "If this is a ticket, the scan went on.",
                message_id="<canary@customers.example.org>",
            ),
            received=BASE + timedelta(minutes=len(items) + 1),
        )
        oe.log(
            f"delivered {len(delivered)} hostile mails (+1 canary), "
            f"{sum(len(i.raw) for i, _ in delivered):,d} bytes; database {db}"
        )
        oe.configure_mailbox(db, gm, batch_limit=args.batch_limit)
        scan_t0 = time.monotonic()
        try:
            shell = oe.sync_in_shell(
                db,
                deadline=args.deadline,
                idle_rounds=2,
                logfile=str(oe.LOG_DIR / f"{db}.log"),
            )
        except oe.OdooError as exc:
            shell = {"error": str(exc)[-500:]}
        scan_seconds = time.monotonic() - scan_t0
        rows = {
            r["graph_id"]: (r["state"], r["outcome"], r["attempts"], r["reason"])
            for r in oe.ledger_rows(db)
        }
        print(f"{'#':>3} {'mail':28s} {'result':10s} {'tries':>5}  reason")
        finals = Counter()
        reasons = defaultdict(list)
        unaccounted = []
        for k, (item, msg) in enumerate(delivered, 1):
            row = rows.get(msg.immutable_id)
            if row is None:
                unaccounted.append(item.name)
                print(
                    f"{k:3d} {item.name:28s} {'MISSING':10s} {'':>5}  not in the ledger"
                )
                continue
            state, outcome, attempts, reason = row
            attempts = attempts or 0
            label = (outcome or "done?") if state == "done" else state
            finals[label] += 1
            if state in ("failed", "ignored"):
                reasons[(state, short(reason, 140))].append(item.name)
            print(
                f"{k:3d} {item.name:28s} {label:10s} {attempts:5d}  "
                f"{short(reason, 90) if state != 'done' else ''}"
            )
        canary_row = rows.get(canary.immutable_id)
        canary_ok = bool(
            canary_row and canary_row[0] == "done" and canary_row[1] == "ticket"
        )
        pending = oe.scalar(
            db, "SELECT count(*) FROM mail_scanner_message WHERE state = 'pending'"
        )
        retryable = oe.scalar(
            db,
            "SELECT count(*) FROM mail_scanner_message "
            "WHERE state = 'failed' AND attempts < 5",
        )
        mbox = oe.mailbox_state(db)
        print()
        print("Failure and ignore reasons")
        table = sorted(
            (
                (st, len(names), reason, ", ".join(names))
                for (st, reason), names in reasons.items()
            ),
            key=lambda r: (r[0], -r[1]),
        )
        if table:
            print(
                oe.format_table(
                    [(st, cnt, reason) for st, cnt, reason, _ in table],
                    ["state", "mails", "reason"],
                )
            )
            for st, _cnt, reason, names in table:
                print(f"  {st}: {short(reason, 60)} <- {names}")
        else:
            print("  (none)")
        print()
        print(
            f"corpus: hostile={len(items)} delivered={len(delivered)} "
            f"rejected_by_emulator={len(rejected)} "
            f"bytes={sum(len(i.raw) for i in items):,d}"
        )
        for name, why in rejected:
            print(f"  rejected by the emulator: {name}: {short(why)}")
        print(
            f"results: {dict(finals)} canary_ticket={canary_ok} "
            f"mailbox_state={mbox.get('state')} "
            f"last_error={short(mbox.get('last_error'))!s}"
        )
        print(f"scan: {shell} scan_seconds={scan_seconds:.1f}")
        print(
            f"tickets in Odoo: {oe.ticket_count(db)}; failed rows still retryable: "
            f"{retryable}"
        )
    stuck = pending + len(unaccounted)
    seconds = time.monotonic() - t0
    tickets = finals["ticket"]
    print(
        f"tickets={tickets} failed={finals['failed']} "
        f"ignored={finals['ignored']} duplicate={finals['duplicate']} "
        f"stuck={stuck} seconds={seconds:.0f}"
    )
    ok = (
        stuck == 0
        and canary_ok
        and not rejected
        and mbox.get("state") == "running"
        and "error" not in shell
    )
    return 0 if ok else 1


if __name__ == "__main__":
    oe.reexec_under_venv()
    sys.exit(main())
