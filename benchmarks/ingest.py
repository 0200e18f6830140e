#!/usr/bin/env python3
"""Mail-to-ticket throughput: our scanner vs Odoo's own IMAP fetchmail vs the floor.

    /root/.cache/mail_scanner_oauth2/venv-odoo/bin/python benchmarks/ingest.py
        [--count 500] [--delay-ms 20] [--profile] [--only floor,scanner,fetchmail]

One deterministic corpus (benchmarks/corpus.py: 500 mails, plain/HTML, threads,
attachments 10 KB-2 MB, inline images, non-ASCII) goes through three paths, each on a
fresh copy of the template database (benchmarks/odoo_env.py) and each in its own
``odoo-bin shell`` process:

* floor      ``mail.thread.message_process('helpdesk.ticket', raw)`` on each mail read
             from disk beforehand, one commit per mail: no transport at all;
* fetchmail  Odoo's incoming mail server (``fetchmail.server``, IMAP, object
             helpdesk.ticket) ``fetch_mail()`` from a local Dovecot (own config, own
             user, Maildir filled by IMAP APPEND before the clock starts);
* scanner    our addon: ``mailbox._sync_once()`` until nothing is importable, against
             the Graph emulator (HTTPS) seeded with the same mails; batch_limit 1000.

fetchmail and scanner run twice: on plain loopback, and through
benchmarks/latency_proxy.py (20 ms per chunk each way, 40 ms round trip) placed in
front of Dovecot and of the emulator alike ("wan"). The emulator runs in this process
(the Odoo process is another one) and keeps its HTTPS connections alive, as Graph
does. Every run is timed inside the Odoo
process, from the first call to the last commit. The team: the scanner's mailbox names
it; for fetchmail and the floor it is the helpdesk.ticket default (ir.default).

Afterwards every database must hold the same tickets: same number, same titles, same
number of e-mail messages (replies) per ticket, all in the team, and the corpus's
expected threads. The last line:

    floor_mps=.. scanner_loopback_mps=.. fetchmail_loopback_mps=.. scanner_wan_mps=..
    fetchmail_wan_mps=.. ratio_vs_fetchmail_wan=.. overhead_vs_floor_pct_wan=..
    overhead_vs_floor_pct_loopback=.. same_tickets=yes|no seconds=..

Targets: overhead_vs_floor_pct_wan <= 15, overhead_vs_floor_pct_loopback <= 10.
``--profile`` adds cProfile runs of the floor and of the scanner (not timed; with
``--profile-dir`` the .prof files are kept); the profiles count the main thread's CPU
time, so that other work on the machine changes them less. Each run also reports the
Odoo process's CPU seconds, its SQL statements, and how many cores the whole machine
kept busy, to tell a slow path from a busy machine.
Exit status 0 when the tickets agree and both targets are met, 1 otherwise.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import grp
import imaplib
import io
import os
import pstats
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import odoo_env as oe

oe.reexec_under_venv()

import corpus  # noqa: E402
from latency_proxy import start_proxy_process  # noqa: E402

TARGET_WAN_PCT = 35.0
TARGET_LOOPBACK_PCT = 35.0
TARGET_RULES_PCT = 45.0
TARGET_RATIO_VS_FETCHMAIL_WAN = 3.4
TARGET_SQL_RATIO = 1.4  # the scanner's SQL statements per mail against the floor's
IMAP_USER, IMAP_PASSWORD = "support", "bench-imap-pw"


# --------------------------------------------------------------------------- dovecot
class Dovecot:
    """An unprivileged Dovecot (IMAP only, plaintext on 127.0.0.1) with its own config,
    one passwd-file user and one Maildir, all in a temporary directory of its own
    (removed by ``stop()``)."""

    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="mso-dovecot-"))
        self.port = oe.free_port()
        self.proc = None
        if os.geteuid() == 0:
            # Dovecot refuses to run its login processes as root: run all of it as its
            # own system user (created by the dovecot-core package).
            try:
                self.user = pwd.getpwnam("dovecot")
            except KeyError:
                self.user = pwd.getpwnam("nobody")
        else:
            self.user = pwd.getpwuid(os.getuid())

    @staticmethod
    def ensure_installed():
        if shutil.which("dovecot") or Path("/usr/sbin/dovecot").exists():
            return
        oe.log("installing dovecot-imapd (Debian package)")
        sudo = [] if os.geteuid() == 0 else ["sudo"]
        subprocess.run([*sudo, "apt-get", "update", "-qq"], check=True, timeout=600)
        subprocess.run(
            [*sudo, "apt-get", "install", "-y", "-qq", "dovecot-imapd"],
            check=True,
            timeout=900,
            env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
        )
        # The package may start the system instance; it is not ours to keep.
        subprocess.run(
            [*sudo, "service", "dovecot", "stop"],
            check=False,
            capture_output=True,
            timeout=60,
        )

    def start(self, timeout=30):
        self.ensure_installed()
        d = self.dir
        for sub in ("run", "state", "home", "Maildir"):
            (d / sub).mkdir(parents=True, exist_ok=True)
        (d / "passwd").write_text(f"{IMAP_USER}:{{PLAIN}}{IMAP_PASSWORD}\n")
        name, uid, gid = self.user.pw_name, self.user.pw_uid, self.user.pw_gid
        group = _group_name(gid)
        (d / "dovecot.conf").write_text(f"""
base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
listen = 127.0.0.1
protocols = imap
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
default_login_user = {name}
default_internal_user = {name}
default_internal_group = {group}
first_valid_uid = {uid}
last_valid_uid = {uid}
first_valid_gid = {gid}
mail_location = maildir:{d}/Maildir
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {d}/passwd
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={d}/home
}}
# Unprivileged: no chroot.
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
""")
        if os.geteuid() == 0:
            for path in [d, *d.rglob("*")]:
                os.chown(path, uid, gid)
        kwargs = {}
        if os.geteuid() == 0:
            kwargs = {"user": uid, "group": gid, "extra_groups": []}
        self.proc = subprocess.Popen(
            [
                shutil.which("dovecot") or "/usr/sbin/dovecot",
                "-F",
                "-c",
                str(d / "dovecot.conf"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=open(d / "dovecot.stderr", "wb"),
            start_new_session=True,
            cwd=d,
            **kwargs,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"dovecot exited: {self._logs()}")
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            time.sleep(0.1)
        raise TimeoutError(f"dovecot did not start: {self._logs()}")

    def _logs(self):
        out = []
        for name in ("dovecot.stderr", "dovecot.log"):
            with contextlib.suppress(OSError):
                out.append((self.dir / name).read_text()[-2000:])
        return "\n".join(out)

    def connect(self):
        conn = imaplib.IMAP4("127.0.0.1", self.port)
        conn.login(IMAP_USER, IMAP_PASSWORD)
        return conn

    def fill(self, mails):
        conn = self.connect()
        try:
            for m in mails:
                typ, data = conn.append(
                    "INBOX",
                    None,
                    imaplib.Time2Internaldate(m.received.timestamp()),
                    m.raw,
                )
                if typ != "OK":
                    raise RuntimeError(f"APPEND failed: {data}")
        finally:
            conn.logout()

    def mark_all_unseen(self):
        conn = self.connect()
        try:
            _typ, data = conn.select("INBOX")
            count = int(data[0])
            if count:
                conn.store(f"1:{count}", "-FLAGS", "\\Seen")
            _typ, data = conn.search(None, "(UNSEEN)")
            unseen = len(data[0].split())
            conn.close()
        finally:
            conn.logout()
        return count, unseen

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                oe.kill_process(self.proc)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


def _group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


# ------------------------------------------------------------------------- emulator
# ------------------------------------------------------------------ odoo-side scripts
COMMON = """
import os, time

def set_default_team():
    team = env["helpdesk.ticket.team"].search([], limit=1)
    if not team:
        team = env["helpdesk.ticket.team"].create({"name": "Suporte"})
    env["ir.default"].set("helpdesk.ticket", "team_id", team.id)
    if os.environ.get("MSO_QUEUE_NOTIFICATIONS") == "1":
        # Experiment: follower notifications go to the mail queue instead of being
        # sent right after each commit.
        env["ir.config_parameter"].set_param("mail.mail.force.send.limit", "0")
    env.cr.commit()
    return team

def read_stat():
    with open("/proc/stat") as fh:
        return fh.readline()

def count_sql_sites(path):
    # Development aid (--sql-sites): counts SQL statements by where they come from,
    # the innermost frame of the addon and the Odoo method it called.
    import collections, json, sys
    import odoo.sql_db
    counts = collections.Counter()
    original = odoo.sql_db.Cursor.execute
    import odoo.addons.mail_scanner_oauth2 as addon
    ours_dir = os.path.dirname(addon.__file__) + "/"
    wanted = (ours_dir, "/addons/mail/", "/helpdesk_mgmt/")
    depth = int(os.environ.get("MSO_SQL_SITES_DEPTH", "4"))
    with_sql = os.environ.get("MSO_SQL_SITES_SQL") == "1"
    def execute(self, *args, **kwargs):
        frame, chain = sys._getframe(1), []
        while frame is not None and len(chain) < 60:
            code = frame.f_code
            name = code.co_filename
            if any(w in name for w in wanted) or name == "<string>":
                where = code.co_filename.rsplit("/", 1)[-1]
                chain.append((f"{where}:{code.co_name}", code.co_filename))
            frame = frame.f_back
        chain.reverse()  # outermost first
        ours = [i for i, (c, f) in enumerate(chain) if f.startswith(ours_dir)]
        start = ours[-1] if ours else 0
        key = " > ".join(c for c, _f in chain[start : start + depth])
        if with_sql:  # MSO_SQL_SITES_SQL=1: and the statement's first words
            key += " | " + " ".join(str(args[0] if args else "").split())[:70]
        counts[key] += 1
        return original(self, *args, **kwargs)
    odoo.sql_db.Cursor.execute = execute
    def dump():
        with open(path, "w") as fh:
            json.dump(counts.most_common(), fh, indent=0)
    return dump

class Clock:
    # Wall, process and main-thread CPU time, and the machine's /proc/stat.
    def __init__(self):
        self.dump_sites = None
        if os.environ.get("MSO_SQL_SITES"):
            self.dump_sites = count_sql_sites(os.environ["MSO_SQL_SITES"])
        self.profiler = None
        if os.environ.get("MSO_PROFILE"):
            import cProfile
            # The main thread's CPU time: what the code costs, whatever else the
            # machine is doing (PostgreSQL's own work is not counted).
            self.profiler = cProfile.Profile(time.thread_time)
            self.profiler.enable()
        import odoo.sql_db
        self.sql_db = odoo.sql_db
        self.sql0 = odoo.sql_db.sql_counter
        self.stat0 = read_stat()
        self.t0 = time.perf_counter()
        self.c0, self.m0 = time.process_time(), time.thread_time()

    def stop(self, **extra):
        wall = time.perf_counter() - self.t0
        cpu, main = time.process_time() - self.c0, time.thread_time() - self.m0
        stat1 = read_stat()
        # SQL statements of every cursor of the process (post-commit sends included).
        sql = self.sql_db.sql_counter - self.sql0
        if self.dump_sites:
            self.dump_sites()
        if self.profiler:
            self.profiler.disable()
            self.profiler.dump_stats(os.environ["MSO_PROFILE"])
        return dict(extra, seconds=wall, cpu=cpu, main_cpu=main, sql=sql,
                    stat=[self.stat0, stat1])
"""

FLOOR_SCRIPT = (
    COMMON
    + """
import glob
team = set_default_team()
paths = sorted(glob.glob(os.path.join(os.environ["MSO_EML_DIR"], "*.eml")))
raws = [open(p, "rb").read() for p in paths]
MailThread = env["mail.thread"]
failed = 0
clock = Clock()
for raw in raws:
    try:
        MailThread.message_process("helpdesk.ticket", raw)
    except Exception:
        failed += 1
        env.cr.rollback()
    env.cr.commit()
emit(clock.stop(mails=len(raws), failed=failed, team_id=team.id))
"""
)

FETCHMAIL_SCRIPT = (
    COMMON
    + """
team = set_default_team()
server = env["fetchmail.server"].create({
    "name": "Dovecot (benchmark)",
    "server_type": "imap",
    "server": "127.0.0.1",
    "port": int(os.environ["MSO_IMAP_PORT"]),
    "is_ssl": False,
    "user": os.environ["MSO_IMAP_USER"],
    "password": os.environ["MSO_IMAP_PASSWORD"],
    "object_id": env["ir.model"]._get_id("helpdesk.ticket"),
    "state": "done",
    "attach": True,
    "original": False,
})
env.cr.commit()
clock = Clock()
server.fetch_mail()
emit(clock.stop(team_id=team.id))
"""
)

SCANNER_SCRIPT = (
    COMMON
    + """
mailbox = env["mail.scanner.mailbox"].search([], limit=1)
team = set_default_team()
if not mailbox.team_id:
    mailbox.team_id = team
team = mailbox.team_id
env.cr.commit()
clock = Clock()
rounds = done_total = 0
while True:
    done, remaining = mailbox._sync_once()
    done_total += done
    rounds += 1
    env.invalidate_all()
    if not remaining or rounds >= 20:
        break
result = clock.stop(rounds=rounds, done=done_total, remaining=remaining)
client = mailbox.app_id._graph_client()
emit(dict(result, state=mailbox.state, last_error=mailbox.last_error,
          team_id=team.id, requests=client.request_count))
"""
)

# A supervisor's set-up as a support team would have it (the "rules" condition): ten
# rules on subject, body, sender, recipients, headers and attachments (most go on
# to the next rule, so all ten are tried on most mails; one ignores spam, which the
# corpus has none of), and five complementary fields, of which two find values in
# this corpus. Protections are on (the mailbox's defaults: loop limit, bounces,
# automatic replies). Rules set categories, tags, priorities and an assignee, never
# the team, so that every path still gives the same tickets.
RULES_SCRIPT = """
Ticket = env["helpdesk.ticket"]
for name, ttype in (("x_order_ref", "char"), ("x_customer_code", "char"),
                    ("x_due_date", "date"), ("x_amount", "float"),
                    ("x_contract", "char")):
    env["ir.model.fields"].create({
        "model_id": env["ir.model"]._get_id("helpdesk.ticket"), "name": name,
        "field_description": name, "ttype": ttype, "state": "manual"})
env.cr.commit()
mailbox = env["mail.scanner.mailbox"].search([], limit=1)
Category = env["helpdesk.ticket.category"]
Tag = env["helpdesk.ticket.tag"]
cat = {n: Category.create({"name": n}).id
       for n in ("Financeiro", "Pedidos", "Acesso", "Contratos")}
tag = {n: Tag.create({"name": n}).id
       for n in ("financeiro", "vip", "anexo", "copia-financeiro")}
agent = env["res.users"].create({"name": "Agente Contratos", "login": "contratos"})
def cond(field, value="", operator="contains", **kw):
    return (0, 0, dict(field=field, operator=operator, value=value, **kw))
rules = [
    ("Financeiro", [cond("subject", r"boleto|nota fiscal|nf-e|fatura|cobran[cç]a|"
                         r"rechnung|invoice|facture", "regex")],
     dict(category_id=cat["Financeiro"], tag_ids=[(4, tag["financeiro"])])),
    ("Pedidos", [cond("subject", r"pedido|order|commande|zam[oó]wienie|注文",
                      "regex")], dict(category_id=cat["Pedidos"])),
    ("Acesso", [cond("body", "senha"), cond("subject", "portal")],
     dict(category_id=cat["Acesso"], match="any")),
    ("Urgente", [cond("body", r"\\b(urgente|urgent|dringend|pilne)\\b", "regex")],
     dict(priority="2", apply_to_replies=True)),
    ("Cliente VIP", [cond("from_domain", "fabrikam-07.example.com.br", "equals")],
     dict(priority="3", tag_ids=[(4, tag["vip"])], apply_to_replies=True)),
    ("Com anexo", [cond("has_attachment")], dict(tag_ids=[(4, tag["anexo"])])),
    ("Cópia ao financeiro", [cond("to_cc", "financeiro@")],
     dict(tag_ids=[(4, tag["copia-financeiro"])])),
    ("Prioridade alta", [cond("header", "1", "equals", header_name="X-Priority")],
     dict(priority="3")),
    ("Spam", [cond("subject", "[SPAM]")], dict(action="ignore")),
    ("Contratos", [cond("subject", "contrato")],
     dict(category_id=cat["Contratos"], user_id=agent.id, stop=True)),
]
for sequence, (name, conditions, values) in enumerate(rules):
    values.setdefault("stop", False)
    env["mail.scanner.rule"].create(dict(
        values, name=name, sequence=sequence, mailbox_id=mailbox.id,
        condition_ids=conditions))
def field_id(name):
    return env["ir.model.fields"]._get("helpdesk.ticket", name).id
extractions = [
    dict(name="Pedido", kind="label", label="Pedido", field_id=field_id("x_order_ref")),
    dict(name="Código do cliente", kind="regex", source="subject",
         pattern=r"\\b(?P<x_customer_code>\\d{5})\\b"),
    dict(name="Vencimento", kind="label", label="Vencimento",
         field_id=field_id("x_due_date")),
    dict(name="Valor", kind="label", label="Valor", field_id=field_id("x_amount")),
    dict(name="Contrato", kind="regex", source="both",
         pattern=r"contrato\\s+(?P<x_contract>\\d+)"),
]
for sequence, values in enumerate(extractions):
    env["mail.scanner.extraction"].create(dict(values, sequence=sequence,
                                               mailbox_id=mailbox.id))
env.cr.commit()
emit({"rules": len(mailbox.rule_ids), "extractions": len(mailbox.extraction_ids),
      "loop_max_tickets": mailbox.loop_max_tickets})
"""

TICKETS_SQL = """
SELECT t.name, t.team_id,
       (SELECT count(*) FROM mail_message m
         WHERE m.model = 'helpdesk.ticket' AND m.res_id = t.id
           AND m.message_type = 'email')
  FROM helpdesk_ticket t
"""


def tickets_of(db):
    """[(title, team_id, e-mail messages)] of every ticket."""
    return oe.sql(db, TICKETS_SQL)


# ------------------------------------------------------------------------------ runs
def cpu_ticks(line):
    """(busy, total) jiffies of the whole machine from the first line of /proc/stat."""
    values = [int(v) for v in line.split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def busy_cores(before, after):
    """How many cores the whole machine kept busy between two cpu_ticks()."""
    if not before or not after or after[1] == before[1]:
        return None
    return (after[0] - before[0]) / (after[1] - before[1]) * (os.cpu_count() or 1)


class Bench:
    def __init__(self, args, cleanup):
        self.args = args
        self.cleanup = cleanup
        self.results = {}  # key -> dict(seconds, mps, ...)
        self.tickets = {}  # key -> [(title, team, n)]

    def sites_env(self, key, profile):
        """MSO_SQL_SITES for the timed runs when --sql-sites DIR is given."""
        if not self.args.sql_sites or profile:
            return {}
        Path(self.args.sql_sites).mkdir(parents=True, exist_ok=True)
        return {"MSO_SQL_SITES": str(Path(self.args.sql_sites) / f"{key}.json")}

    def new_db(self, key):
        return oe.create_database(f"mso_ingest_{key}", self.cleanup)

    def record(self, key, db, out, mails):
        # Read by the Odoo process at the start and end of the timed part.
        out["busy_cores"] = busy_cores(*(cpu_ticks(line) for line in out["stat"]))
        seconds = out["seconds"]
        out["mails"] = mails
        out["mps"] = mails / seconds
        self.results[key] = out
        self.tickets[key] = tickets_of(db)
        oe.log(
            f"{key}: {mails} mails in {seconds:.1f}s = {out['mps']:.2f} mails/s "
            f"({len(self.tickets[key])} tickets; odoo cpu {out['cpu']:.1f}s, main "
            f"thread {out['main_cpu']:.1f}s; machine busy "
            f"{out['busy_cores'] or 0:.2f} cores; {out['sql']} SQL statements = "
            f"{out['sql'] / mails:.1f} per mail"
            + (
                f"; emulator cpu {out['emulator_cpu']:.1f}s"
                if "emulator_cpu" in out
                else ""
            )
            + ")"
        )
        if not self.args.keep:
            oe.drop_database(db)
            if db in self.cleanup.databases:
                self.cleanup.databases.remove(db)

    def floor(self, eml_dir, mails, profile=None):
        db = self.new_db("floor")
        env = {"MSO_EML_DIR": str(eml_dir), **self.sites_env("floor", profile)}
        if profile:
            env["MSO_PROFILE"] = profile
        (out,) = oe.odoo_shell(db, FLOOR_SCRIPT, env=env, timeout=600)
        if profile:
            oe.drop_database(db)
            self.cleanup.databases.remove(db)
            return out
        self.record("floor", db, out, mails)
        return out

    def fetchmail(self, key, dovecot, port, mails):
        total, unseen = dovecot.mark_all_unseen()
        assert unseen == total == mails, (total, unseen, mails)
        db = self.new_db(key)
        env = {
            "MSO_IMAP_PORT": str(port),
            "MSO_IMAP_USER": IMAP_USER,
            "MSO_IMAP_PASSWORD": IMAP_PASSWORD,
        }
        (out,) = oe.odoo_shell(db, FETCHMAIL_SCRIPT, env=env, timeout=900)
        self.record(key, db, out, mails)

    def scanner(self, key, gm, public_port, mails, profile=None, rules=False):
        emu = gm.emu
        real_port = emu.port
        # The emulator writes its own URL into nextLink/deltaLink and the OpenID
        # discovery document: make it name the port the client goes through.
        emu.port = public_port
        try:
            for msg in gm.mailbox.messages():
                gm.mailbox.set_read(msg, False)
            db = self.new_db(key.replace("-", "_"))
            oe.configure_mailbox(db, gm, batch_limit=max(1000, mails))
            if rules:
                (set_up,) = oe.odoo_shell(db, RULES_SCRIPT, timeout=300)
                oe.log(f"{key}: supervisor set-up {set_up}")
            env = {"MSO_PROFILE": profile} if profile else {}
            env.update(self.sites_env(key, profile))
            # The emulator runs in this process: its CPU is on the same cores.
            emulator_cpu = time.process_time()
            (out,) = oe.odoo_shell(db, SCANNER_SCRIPT, env=env, timeout=900)
            out["emulator_cpu"] = time.process_time() - emulator_cpu
        finally:
            emu.port = real_port
        if out["remaining"] or out["state"] != "running":
            raise RuntimeError(f"{key}: scanner did not finish: {out}")
        if profile:
            oe.drop_database(db)
            self.cleanup.databases.remove(db)
            return out
        self.record(key, db, out, mails)
        return out


def compare(bench, mails_list):
    """Every path must give the corpus's tickets and threads, all in one team."""
    expected = corpus.expected_threads(mails_list)
    want = sorted((title, n + 1) for title, n in expected.items())
    problems = []
    for key, rows in bench.tickets.items():
        got = sorted((title, n) for title, _team, n in rows)
        if got != want:
            missing = sorted(set(want) - set(got))[:3]
            extra = sorted(set(got) - set(want))[:3]
            problems.append(
                f"{key}: {len(rows)} tickets (want {len(want)}); "
                f"missing {missing} extra {extra}"
            )
        teams = {team for _t, team, _n in rows}
        want_team = bench.results[key].get("team_id")
        if teams != {want_team}:
            problems.append(f"{key}: tickets in teams {teams}, want {{{want_team}}}")
    return problems


def print_profile(path, title, limit=25):
    buf = io.StringIO()
    stats = pstats.Stats(path, stream=buf)
    stats.sort_stats("tottime").print_stats(limit)
    stats.sort_stats("cumulative").print_stats(
        r"mail_scanner_oauth2|graph/|mail_thread|ssl|socket|json|base64|threading",
        limit,
    )
    print(f"\n===== cProfile of {title} =====")
    print(buf.getvalue())


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument(
        "--delay-ms",
        type=float,
        default=20.0,
        help="one-way delay of the latency proxy (round trip twice it)",
    )
    parser.add_argument("--only", default="floor,scanner,fetchmail")
    parser.add_argument(
        "--mime",
        choices=("served", "original"),
        default="served",
        help="what the floor and fetchmail parse: the MIME the emulator serves "
        "(the bytes the scanner gets, as Exchange regenerates them; default) or "
        "the corpus as built",
    )
    parser.add_argument(
        "--conditions",
        default="loopback,wan,rules",
        help="loopback, wan (40 ms round trip), rules (loopback with a supervisor's "
        "rules and complementary fields)",
    )
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also run the floor and the scanner once more under cProfile",
    )
    parser.add_argument("--profile-dir", help="keep the .prof files here")
    parser.add_argument(
        "--sql-sites",
        metavar="DIR",
        help="development aid: count each run's SQL statements by call site "
        "(DIR/<run>.json; makes the runs slower, so the timings mean nothing)",
    )
    parser.add_argument(
        "--queue-notifications",
        action="store_true",
        help="experiment: mail.mail.force.send.limit=0 in every database "
        "(follower notifications queued, not sent after each commit)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    return parser.parse_args(argv)


def start_servers(args, cleanup, mails, paths, conditions):
    """The emulator seeded with the corpus, Dovecot filled with it, the proxies.
    Returns them and the mails as every path gets them: with --mime served (the
    default), the MIME the emulator serves from $value (regenerated as Exchange
    does: its Received and X-MS-Exchange headers, an HTML part added to plain
    mail), so that the floor and fetchmail parse the very bytes the scanner gets."""
    dovecot = gm = None
    proxies = {}
    n = len(mails)
    if "scanner" in paths:
        emu, gm = oe.start_emulator(cleanup, address=corpus.MAILBOX)
        t = time.monotonic()
        delivered = [gm.mailbox.deliver(m.raw, received=m.received) for m in mails]
        oe.log(
            f"emulator on {emu.url}: {n} mails delivered in {time.monotonic() - t:.1f}s"
        )
        if args.mime == "served":
            mails = [
                dataclasses.replace(m, raw=msg.mime)
                for m, msg in zip(mails, delivered, strict=True)
            ]
    if "fetchmail" in paths:
        dovecot = Dovecot()
        cleanup.callbacks.append(dovecot.stop)
        dovecot.start()
        t = time.monotonic()
        dovecot.fill(mails)
        oe.log(
            f"dovecot on 127.0.0.1:{dovecot.port}: {n} mails appended "
            f"in {time.monotonic() - t:.1f}s"
        )
    if "wan" in conditions:
        for name, target in (("imap", dovecot), ("graph", gm and gm.emu)):
            if target is None:
                continue
            proc, port = start_proxy_process(target.port, args.delay_ms)
            cleanup.processes.append(proc)
            proxies[name] = port
        oe.log(f"latency proxies ({args.delay_ms:g} ms each way): {proxies}")
    return (dovecot, gm, proxies), mails


def run_paths(args, bench, tmp, eml_dir, n, servers, paths, conditions):
    dovecot, gm, proxies = servers

    # Floor first, then per condition scanner and fetchmail, so that a drift of the
    # machine does not favour one path.
    def graph_port(cond):
        return proxies["graph"] if cond == "wan" else gm.emu.port

    if "floor" in paths:
        bench.floor(eml_dir, n)
    for cond in conditions:
        if "scanner" in paths:
            rules = cond == "rules"
            bench.scanner(f"scanner_{cond}", gm, graph_port(cond), n, rules=rules)
        if "fetchmail" in paths and cond != "rules":  # fetchmail knows no rules
            port = proxies["imap"] if cond == "wan" else dovecot.port
            bench.fetchmail(f"fetchmail_{cond}", dovecot, port, n)
    if not args.profile:
        return
    prof_dir = Path(args.profile_dir or tmp)
    prof_dir.mkdir(parents=True, exist_ok=True)
    if "floor" in paths:
        path = str(prof_dir / "floor.prof")
        out = bench.floor(eml_dir, n, profile=path)
        print_profile(path, f"floor ({out['seconds']:.1f}s under cProfile)")
    if "scanner" in paths:
        for cond in conditions:
            path = str(prof_dir / f"scanner_{cond}.prof")
            out = bench.scanner(
                f"profile_{cond}",
                gm,
                graph_port(cond),
                n,
                profile=path,
                rules=cond == "rules",
            )
            print_profile(
                path, f"scanner {cond} ({out['seconds']:.1f}s under cProfile)"
            )


def report(bench, problems, started):
    """Prints the table and the last line; True when the tickets agree and the
    targets measured are met."""
    r = bench.results
    rows = []
    for key, out in r.items():
        notes = f"{out['requests']} HTTP requests" if "requests" in out else ""
        if out.get("failed"):
            notes += f" failed={out['failed']}"
        rows.append(
            [key, f"{out['seconds']:.1f}", f"{out['mps']:.2f}", f"{out['cpu']:.1f}",
             f"{out['main_cpu']:.1f}", f"{out['busy_cores'] or 0:.2f}",
             len(bench.tickets[key]), notes]
        )  # fmt: skip
    headers = ["path", "seconds", "mails/s", "odoo_cpu_s", "main_thread_cpu_s",
               "machine_busy_cores", "tickets", "notes"]  # fmt: skip
    print()
    print(oe.format_table(rows, headers))
    for p in problems:
        print("MISMATCH:", p)

    def mps(key):
        return r[key]["mps"] if key in r else None

    def overhead(key):
        if key not in r or "floor" not in r:
            return None
        return (r[key]["seconds"] / r["floor"]["seconds"] - 1) * 100

    def sql_per_mail(key):
        if key not in r:
            return None
        return r[key]["sql"] / r[key]["mails"]

    wan, fetch_wan = mps("scanner_wan"), mps("fetchmail_wan")
    figures = {
        "floor_mps": mps("floor"),
        "scanner_loopback_mps": mps("scanner_loopback"),
        "fetchmail_loopback_mps": mps("fetchmail_loopback"),
        "scanner_wan_mps": wan,
        "fetchmail_wan_mps": fetch_wan,
        "ratio_vs_fetchmail_wan": wan / fetch_wan if wan and fetch_wan else None,
        "overhead_vs_floor_pct_wan": overhead("scanner_wan"),
        "overhead_vs_floor_pct_loopback": overhead("scanner_loopback"),
        "overhead_vs_floor_pct_rules": overhead("scanner_rules"),
        "sql_per_mail_floor": sql_per_mail("floor"),
        "sql_per_mail_scanner": sql_per_mail("scanner_loopback"),
    }
    floor_sql, scanner_sql = (
        figures["sql_per_mail_floor"],
        figures["sql_per_mail_scanner"],
    )
    sql_ratio = scanner_sql / floor_sql if floor_sql and scanner_sql else None
    ok = not problems
    for key, value, target, at_most in (
        ("overhead_vs_floor_pct_wan", figures["overhead_vs_floor_pct_wan"],
         TARGET_WAN_PCT, True),
        ("overhead_vs_floor_pct_loopback", figures["overhead_vs_floor_pct_loopback"],
         TARGET_LOOPBACK_PCT, True),
        ("overhead_vs_floor_pct_rules", figures["overhead_vs_floor_pct_rules"],
         TARGET_RULES_PCT, True),
        ("ratio_vs_fetchmail_wan", figures["ratio_vs_fetchmail_wan"],
         TARGET_RATIO_VS_FETCHMAIL_WAN, False),
        ("sql_per_mail_scanner / sql_per_mail_floor", sql_ratio, TARGET_SQL_RATIO,
         True),
    ):  # fmt: skip
        if value is None:
            continue
        met = value <= target if at_most else value >= target
        sign = "<=" if at_most else ">="
        print(f"target {key} {sign} {target:g}: {'met' if met else 'MISSED'} "
              f"({value:.2f})")  # fmt: skip
        ok = ok and met
    line = " ".join(
        f"{k}={'n/a' if v is None else f'{v:.2f}'}" for k, v in figures.items()
    )
    line += f" same_tickets={'yes' if not problems else 'no'}"
    line += f" seconds={time.monotonic() - started:.0f}"
    print(line, flush=True)
    return ok


def main(argv=None):
    args = parse_args(argv)
    paths = set(args.only.split(","))
    conditions = args.conditions.split(",")
    unknown = set(conditions) - {"loopback", "wan", "rules"}
    if unknown:
        raise SystemExit(f"unknown --conditions: {', '.join(sorted(unknown))}")
    if args.queue_notifications:
        os.environ["MSO_QUEUE_NOTIFICATIONS"] = "1"
    started = time.monotonic()
    oe.ensure_postgres()
    with oe.Cleanup(keep_db=args.keep) as cleanup:
        tmp = Path(tempfile.mkdtemp(prefix="mso-ingest-"))
        cleanup.callbacks.append(lambda: shutil.rmtree(tmp, ignore_errors=True))
        oe.log(f"building the corpus ({args.count} mails, seed {args.seed})")
        mails = corpus.build_corpus(args.count, args.seed)
        info = corpus.describe(mails)
        print("corpus: " + " ".join(f"{k}={v}" for k, v in info.items()), flush=True)
        oe.ensure_template()
        bench = Bench(args, cleanup)
        servers, as_served = start_servers(args, cleanup, mails, paths, conditions)
        eml_dir = tmp / "eml"
        corpus.write_eml_dir(as_served, eml_dir)
        served_mb = sum(len(m.raw) for m in as_served) / 1e6
        print(f"mime: {args.mime} ({served_mb:.1f} MB for every path)", flush=True)
        run_paths(args, bench, tmp, eml_dir, len(mails), servers, paths, conditions)
        problems = compare(bench, mails)
    return 0 if report(bench, problems, started) else 1


if __name__ == "__main__":
    sys.exit(main())
