#!/usr/bin/env python3
# ruff: noqa: PLC0415 (graph_emulator is importable once odoo_env is)
"""Many companies, many workers: 8 companies x 150 mails, imported by a real Odoo.

Three runs, each on a fresh database from the benchmark template with the same
corpus: 8 companies, each with its own tenant, Azure app and mailbox in the Graph
emulator (in-process, HTTPS on 127.0.0.1), 150 mails waiting in each mailbox. Then a
real ``odoo-bin`` in prefork mode imports them:

1. ``--workers=2 --max-cron-threads=1``: one cron worker takes the mailboxes' jobs
   one after the other;
2. ``--workers=2 --max-cron-threads=2``: two cron workers, each on its own mailbox;
   one of them gets SIGKILL when a third of the mail is in (Odoo starts a new one;
   the killed worker's mailbox is taken over);
3. with ``mail_scanner_oauth2_queue`` and OCA's queue_job: ``--workers=2
   --max-cron-threads=1 --load=base,web,queue_job``, channels ``root:2`` (the
   ``root.mail_scanner:2``): the job runner hands each mailbox's slice to an HTTP
   worker, two at a time.

The clock of a run starts when the first mail is in (the workers' own start is left
out) and stops when every mail's ledger row is done. Every mail is then checked: one
ledger row, one ``mail.message`` with its Message-ID, on a ticket of its own company.

    $PY benchmarks/scale.py [--companies 8] [--mails 150] [--deadline 900]

Last line: ``mps_1_worker=<n> mps_2_workers=<n> speedup=<n> mps_queue_job_2=<n>
lost=<n> duplicated=<n>`` (lost and duplicated summed over the three runs); exit
code 1 when lost or duplicated is not 0 or a run did not finish. The machine's load
(``os.getloadavg()``) is printed with the figures: other benchmarks on the same
cores change them.
"""

import argparse
import json
import os
import signal
import sys
import time
from datetime import datetime, timedelta, timezone

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import odoo_env as oe

BASE_DATE = datetime(2026, 3, 2, 8, 0, tzinfo=timezone.utc)

CONFIGURE_SCRIPT = (
    oe.EMULATOR_SETTINGS_SCRIPT
    + """
ids = []
for spec in _json.loads(e["MSO_COMPANIES"]):
    company = env["res.company"].create({"name": spec["company"]})
    app = env["mail.scanner.azure.app"].create({
        "name": spec["company"], "company_id": company.id,
        "tenant_id": spec["tenant"], "client_id": spec["client"],
        "client_secret": spec["secret"],
    })
    mailbox = env["mail.scanner.mailbox"].create({
        "account_kind": "microsoft", "app_id": app.id, "company_id": company.id,
        "address": spec["address"], "cutoff_date": datetime(2000, 1, 1),
    })
    ids.append((mailbox.id, mailbox.state, company.id))
env.cr.commit()
emit(ids)
"""
)


# ------------------------------------------------------------------------- corpus
def companies_in_emulator(emu, count, run):
    """One tenant, app and mailbox per company (new ones for each run)."""
    companies = []
    for n in range(count):
        tenant = emu.add_tenant()
        app = tenant.add_app()
        mailbox = tenant.add_mailbox(f"support{n}.{run}@company{n}.example")
        companies.append(
            {
                "company": f"Company {n} ({run})",
                "tenant": tenant.id,
                "client": app.client_id,
                "secret": app.secret,
                "address": mailbox.address,
                "mailbox": mailbox,
            }
        )
    return companies


def deliver(companies, mails):
    """``mails`` distinct new conversations per mailbox; their Message-IDs."""
    from graph_emulator.samples import make_eml

    message_ids = {}
    for n, company in enumerate(companies):
        ids = message_ids[company["address"]] = []
        for k in range(mails):
            eml = make_eml(
                f"Company {n} request {k}",
                f"Customer {k} <customer{k}@client{n}.example>",
                company["address"],
                f"Hello, this is request {k} for company {n}.\n" * 8,
            )
            msg = company["mailbox"].deliver(
                eml, received=BASE_DATE + timedelta(seconds=k)
            )
            ids.append(msg.internet_message_id)
    return message_ids


# ------------------------------------------------------------------------ one run
def prepare(cleanup, emu, label, args, queue_job=False):
    db = oe.create_database(f"mso_bench_scale_{label}", cleanup)
    if queue_job:
        oe.log(f"{label}: installing mail_scanner_oauth2_queue (and queue_job)")
        install_queue_glue(db)
    companies = companies_in_emulator(emu, args.companies, label)
    message_ids = deliver(companies, args.mails)
    env = {
        "MSO_URL": emu.url,
        "MSO_CA": str(emu.ca_path),
        "MSO_COMPANIES": json.dumps(
            [{k: v for k, v in c.items() if k != "mailbox"} for c in companies]
        ),
    }
    (mailboxes,) = oe.odoo_shell(db, CONFIGURE_SCRIPT, env=env, timeout=300)
    states = {state for _id, state, _company in mailboxes}
    if states != {"running"}:
        raise oe.OdooError(f"{label}: mailboxes did not start: {mailboxes}")
    return db, companies, message_ids


def install_queue_glue(db):
    import subprocess

    cmd = [
        *oe._odoo_common_args(db),
        "-i",
        "mail_scanner_oauth2_queue",
        "--stop-after-init",
        "--no-http",
        "--max-cron-threads=0",
        "--log-level=warn",
    ]
    subprocess.run(cmd, check=True, timeout=600, stdin=subprocess.DEVNULL)


def done_count(db):
    return oe.ledger_counts(db).get("done", 0)


def cron_worker_pids(server):
    """The live cron worker processes of a prefork server, from its log ("Worker
    WorkerCron (<pid>) alive"): process titles need setproctitle."""
    import re

    import psutil

    children = {child.pid for child in psutil.Process(server.proc.pid).children()}
    text = server.logfile.read_text(errors="replace")
    pids = [int(pid) for pid in re.findall(r"Worker WorkerCron \((\d+)\) alive", text)]
    return [pid for pid in pids if pid in children]


def run(cleanup, emu, label, args, cron_threads, queue_job=False, kill_at=None):
    """One run; returns (mails per second, check result, kills)."""
    db, companies, message_ids = prepare(cleanup, emu, label, args, queue_job)
    total = args.companies * args.mails
    extra, env = [], {}
    if queue_job:
        extra = ["--load=base,web,queue_job"]
        env = {
            "ODOO_QUEUE_JOB_CHANNELS": "root:2,root.mail_scanner:2",
            "ODOO_QUEUE_JOB_HOST": "127.0.0.1",
        }
    server = oe.OdooServer(
        db,
        cleanup,
        log_level="info",
        limit_time_real_cron=-1,  # Odoo's default: the HTTP workers' 120 s
        workers=2,
        cron_threads=cron_threads,
        extra_args=extra,
        env=env,
    )
    server.start(timeout=180)
    t0 = time.monotonic()
    oe.wake_cron(db)  # as the creation of the mailboxes did: the jobs are due
    kills, last_wake, first = [], t0, None
    while time.monotonic() - t0 < args.deadline:
        done = done_count(db)
        if done and first is None:
            # The clock starts with the first mail in: the workers' start (each
            # prefork worker loads the registry, queue_job's runner waits 5 s)
            # is left out, the same for every run.
            first = (time.monotonic(), done)
        if done >= total:
            break
        if kill_at is not None and not kills and done >= total * kill_at:
            pids = cron_worker_pids(server)
            if pids:
                os.kill(pids[0], signal.SIGKILL)
                kills.append(done)
                oe.log(f"{label}: SIGKILL cron worker {pids[0]} at {done}/{total}")
        if time.monotonic() - last_wake > 5 and not queue_job:
            oe.wake_cron(db)  # a lost NOTIFY must not idle the run for a minute
            last_wake = time.monotonic()
        time.sleep(0.1)
    finished = done_count(db) >= total
    seconds = time.monotonic() - (first[0] if first else t0)
    counted = total - (first[1] if first else 0)
    server.kill()
    result = verify(db, companies, message_ids)
    mps = counted / seconds if finished and seconds > 0 else 0.0
    oe.log(
        f"{label}: {done_count(db)}/{total} mails, {counted} of them in {seconds:.1f}s "
        f"({mps:.1f} mails/s), lost={result['lost']} duplicated="
        f"{result['duplicated']} finished={finished}; log {server.logfile}"
    )
    result["finished"] = finished
    return mps, result, kills


def verify(db, companies, message_ids):
    """Each mail: one ledger row done, one mail.message on a ticket of its company."""
    lost = duplicated = 0
    for company in companies:
        ids = message_ids[company["address"]]
        rows = oe.sql(
            db,
            "SELECT m.message_id, count(*), count(DISTINCT t.company_id), "
            "min(c.name) FROM mail_message m "
            "JOIN helpdesk_ticket t ON t.id = m.res_id "
            "JOIN res_company c ON c.id = t.company_id "
            "WHERE m.model='helpdesk.ticket' AND m.message_type='email' "
            "AND m.message_id = ANY(%s) GROUP BY m.message_id",
            (ids,),
        )
        posted = {mid: (count, name) for mid, count, _n, name in rows}
        ledger = dict(
            oe.sql(
                db,
                "SELECT internet_message_id, count(*) FROM mail_scanner_message "
                "WHERE internet_message_id = ANY(%s) AND state = 'done' "
                "GROUP BY internet_message_id",
                (ids,),
            )
        )
        for mid in ids:
            count, name = posted.get(mid, (0, None))
            if count == 0 or ledger.get(mid, 0) == 0:
                lost += 1
            elif count > 1 or ledger[mid] > 1 or name != company["company"]:
                duplicated += 1
    return {"lost": lost, "duplicated": duplicated}


# ---------------------------------------------------------------------------- main
def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--companies", type=int, default=8)
    parser.add_argument("--mails", type=int, default=150, help="per company")
    parser.add_argument("--deadline", type=float, default=900, help="seconds a run")
    parser.add_argument("--skip-queue-job", action="store_true")
    args = parser.parse_args()
    load_before = os.getloadavg()
    with oe.Cleanup() as cleanup:
        emu, _gm = oe.start_emulator(cleanup)
        mps1, r1, _k = run(cleanup, emu, "one", args, cron_threads=1)
        mps2, r2, kills = run(cleanup, emu, "two", args, cron_threads=2, kill_at=1 / 3)
        mpsq, rq = 0.0, {"lost": 0, "duplicated": 0, "finished": True}
        if not args.skip_queue_job:
            mpsq, rq, _k = run(
                cleanup, emu, "queue", args, cron_threads=1, queue_job=True
            )
    load_after = os.getloadavg()
    results = (r1, r2, rq)
    lost = sum(r["lost"] for r in results)
    duplicated = sum(r["duplicated"] for r in results)
    speedup = mps2 / mps1 if mps1 else 0.0
    print(
        f"companies={args.companies} mails_per_company={args.mails} "
        f"kills_in_2_worker_run={len(kills)} "
        f"load_before={load_before[0]:.2f},{load_before[1]:.2f} "
        f"load_after={load_after[0]:.2f},{load_after[1]:.2f}"
    )
    print(
        f"mps_1_worker={mps1:.1f} mps_2_workers={mps2:.1f} speedup={speedup:.2f} "
        f"mps_queue_job_2={mpsq:.1f} lost={lost} duplicated={duplicated}"
    )
    ok = lost == 0 and duplicated == 0 and all(r["finished"] for r in results)
    return 0 if ok and len(kills) == 1 else 1


if __name__ == "__main__":
    oe.reexec_under_venv()
    sys.exit(main())
