#!/usr/bin/env python3
"""Faults: the addon scans 300 mails while Graph fails 10% of its requests.

The Graph emulator injects random faults (seeded) into 10% of the Graph requests:
429 and 503 with Retry-After, slow answers and dropped connections. Half the corpus
is in the mailbox at the start; once the addon has finished its first delta round and
saved its delta link, the other half arrives and every delta token is invalidated, so
the next round gets one 410 SyncStateNotFound on the saved delta link and must resync
in full without importing anything twice.

The scan runs in an ``odoo-bin shell`` that runs each mailbox's slice
(``sync.scheduling.run_slice``, commits) in a loop, as the cron workers would, until the
driver says the second half is delivered and nothing is left to import.

    $PY benchmarks/faults.py [--mails 300] [--rate 0.1] [--seed 11] [--batch-limit 50]

Last line: ``lost=<n> duplicated=<n> faults=<injected> seconds=<s>``; exit code 1 when
lost or duplicated is not 0 or the scan did not finish in time.
"""

import argparse
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import odoo_env as oe
from chaos import (
    MAILBOX,
    build_corpus,
    deliver,
    print_problems,
    scan_finished,
    verify,
)

LOOP_SCRIPT = (
    oe.SLICE_ROUND_SCRIPT
    + """
import os, time
deadline = time.monotonic() + float(os.environ["MSO_DEADLINE"])
stop_file = os.environ["MSO_STOP_FILE"]
rounds = idle = 0
errors = []
while time.monotonic() < deadline:
    remaining = slice_round()
    env.cr.commit()
    env.invalidate_all()
    rounds += 1
    mb = Mailbox.search([], limit=1)
    if mb.last_error and (not errors or errors[-1] != mb.last_error):
        errors.append(mb.last_error)
    if remaining == 0 and os.path.exists(stop_file):
        idle += 1
        if idle >= 2:
            break
    else:
        idle = 0
    if remaining == 0:
        time.sleep(0.3)
emit({"rounds": rounds, "state": mb.state, "errors": errors[-20:]})
"""
)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mails", type=int, default=300)
    parser.add_argument("--rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--batch-limit", type=int, default=50)
    parser.add_argument("--deadline", type=float, default=480)
    args = parser.parse_args()
    t0 = time.monotonic()
    tmp = tempfile.mkdtemp(prefix="mso-faults-")
    stop_file = os.path.join(tmp, "stop")
    logfile = os.path.join(tmp, "shell.log")
    with oe.Cleanup() as cleanup:
        db = oe.create_database("mso_bench_faults", cleanup)
        emu, gm = oe.start_emulator(cleanup, address=MAILBOX)
        corpus = build_corpus(args.mails, seed=args.seed, prefix="faults")
        half = len(corpus) // 2
        deliver(gm, corpus[:half])
        oe.configure_mailbox(db, gm, batch_limit=args.batch_limit)
        emu.faults.retry_after = 1
        emu.faults.slow_seconds = 2
        emu.faults.random(
            rate=args.rate, kinds=("429", "503", "slow", "drop"), seed=args.seed
        )
        emu.log.clear()
        scan_t0 = time.monotonic()
        proc = oe.odoo_shell_start(
            db,
            LOOP_SCRIPT,
            cleanup,
            logfile=logfile,
            env={"MSO_DEADLINE": str(args.deadline), "MSO_STOP_FILE": stop_file},
        )
        deadline = scan_t0 + args.deadline + 60
        # Wait for the first delta round to be complete (delta link saved).
        while time.monotonic() < deadline and proc.poll() is None:
            if oe.scalar(
                db,
                "SELECT count(*) FROM mail_scanner_mailbox "
                "WHERE delta_link IS NOT NULL",
            ):
                break
            time.sleep(0.2)
        rows_at_410 = oe.scalar(db, "SELECT count(*) FROM mail_scanner_message")
        deliver(gm, corpus[half:])
        emu.invalidate_delta_tokens()  # the saved delta link now answers 410
        oe.log(
            f"delta link saved with {rows_at_410} ledger rows; delivered "
            f"{len(corpus) - half} more mails and invalidated the delta link"
        )
        # The scan goes on until everything is imported and marked read.
        while time.monotonic() < deadline and proc.poll() is None:
            if scan_finished(db, gm, corpus):
                break
            time.sleep(0.5)
        finished = scan_finished(db, gm, corpus)
        with open(stop_file, "w"):
            pass
        try:
            proc.wait(timeout=max(10, deadline - time.monotonic()))
        except Exception:
            oe.kill_process(proc)
        scan_seconds = time.monotonic() - scan_t0
        emu.faults.clear()
        shell = oe.results_of(logfile)
        gone = [r for r in emu.log if r.status == 410]
        result = verify(db, gm, corpus)
        injected = emu.faults.injected + len(gone)
        print(
            f"corpus: mails={len(corpus)} new={result['roots']} "
            f"replies={result['replies']}"
        )
        print(
            f"graph: requests={emu.log.count()} (+{emu.log.count(in_batch=True)} "
            f"$batch entries) faults={dict(emu.faults.counts)} 410={len(gone)}"
        )
        print(
            f"odoo: tickets={result['tickets']} ledger={result['ledger']} "
            f"shell={shell[-1] if shell else 'no result (see ' + logfile + ')'}"
        )
        failed_rows = oe.ledger_rows(db, "attempts > 1 OR state = 'failed'")
        for row in failed_rows[:10]:
            print(
                f"  retried mail: attempts={row['attempts']} "
                f"reason={row['reason'][:160]}"
            )
        print(f"scan finished={finished} scan_seconds={scan_seconds:.1f}")
        print_problems(result)
        if not gone:
            print("WARNING: the delta link never answered 410")
    seconds = time.monotonic() - t0
    print(
        f"lost={result['lost']} duplicated={result['duplicated']} "
        f"faults={injected} seconds={seconds:.0f}"
    )
    ok = finished and result["lost"] == 0 and result["duplicated"] == 0 and gone
    return 0 if ok else 1


if __name__ == "__main__":
    oe.reexec_under_venv()
    sys.exit(main())
