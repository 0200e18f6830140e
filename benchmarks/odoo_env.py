# ruff: noqa: PLC0415 (odoo and psycopg2 are imported after the venv re-exec)
"""Shared helpers for the benchmarks that need a real Odoo 18 (plain Python).

Usage from a benchmark script (``benchmarks/foo.py``)::

    import odoo_env as oe          # benchmarks/ is the script's own folder
    oe.reexec_under_venv()         # re-runs the script under the venv python if needed
    from graph_emulator import make_eml    # emulator/ is put on sys.path by odoo_env

    with oe.Cleanup() as cleanup:  # kills processes, drops databases, stops emulators
        db = oe.create_database("chaos", cleanup)   # from the cached template
        emu, gm = oe.start_emulator(cleanup)  # in-process, tenant+app+mailbox
        gm.mailbox.deliver(eml_bytes)
        oe.configure_mailbox(db, gm, batch_limit=50)  # points the addon at the emulator
        out = oe.odoo_shell(db, "print(env['helpdesk.ticket'].search_count([]))")
        srv = oe.OdooServer(db, cleanup).start()     # odoo-bin --max-cron-threads=1
        oe.wake_cron(db)                             # ir.cron trigger + NOTIFY
        oe.ledger_counts(db)                          # SQL, {state: n}

Everything is bounded in time (every subprocess has a timeout) and self-cleaning: the
``Cleanup`` context (and an atexit hook, and SIGTERM/SIGINT handlers) kills the Odoo
processes it started, drops the run databases and removes their filestores.

The template database ``mso_bench_template`` holds helpdesk_mgmt + mail_scanner_oauth2
installed without demo data; it is rebuilt when a hash of the addon's source files (and
of Odoo's and helpdesk_mgmt's versions) changes. The hash is kept as the template's
``COMMENT ON DATABASE``. Building takes about a minute, once; ``createdb -T`` then takes
a second or two per run.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_DIR = REPO_ROOT / "benchmarks"
EMULATOR_DIR = REPO_ROOT / "emulator"  # the graph_emulator package of this checkout
ADDON_DIR = REPO_ROOT / "mail_scanner_oauth2"
MSO_CACHE = Path(
    os.environ.get("MSO_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    / "mail_scanner_oauth2"
)


def _odoo_source():
    """The Odoo tree scripts/setup resolved (an archive is unpacked into the cache)."""
    given = os.environ.get("ODOO_SRC")
    if given and Path(given).is_dir():
        return Path(given)
    resolved = MSO_CACHE / "odoo-src-path"
    if resolved.exists():
        return Path(resolved.read_text().strip())
    return MSO_CACHE / "odoo-18.0"


ODOO_SRC = _odoo_source()
VENV_PYTHON = MSO_CACHE / "venv-odoo" / "bin" / "python"
TEMPLATE_DB = os.environ.get("MSO_BENCH_TEMPLATE", "mso_bench_template")
DATA_DIR = MSO_CACHE / "bench-data"  # Odoo's --data-dir (filestores) for benchmarks
LOG_DIR = MSO_CACHE / "bench-logs"
MODULES = ("helpdesk_mgmt", "mail_scanner_oauth2")

for _p in (str(EMULATOR_DIR), str(BENCH_DIR)):
    if _p not in sys.path:
        sys.path.insert(0, _p)


def log(*args):
    print(f"[{time.strftime('%H:%M:%S')}]", *args, file=sys.stderr, flush=True)


# --------------------------------------------------------------------- python / venv
def odoo_importable() -> bool:
    try:
        import odoo.release  # noqa: F401
    except ImportError:
        return False
    return True


def reexec_under_venv():
    """Re-runs the calling script under the project's venv python when Odoo (and
    psycopg2) cannot be imported here. Builds the venv with scripts/lib.sh if needed."""
    if odoo_importable():
        return
    if os.environ.get("MSO_BENCH_REEXEC"):
        raise SystemExit("odoo is not importable even under the venv python")
    py = VENV_PYTHON
    if not py.exists():
        log("no venv yet: running scripts/lib.sh setup_environment (first use)")
        subprocess.run(
            ["bash", "-c", f'source "{REPO_ROOT}/scripts/lib.sh"; setup_environment'],
            check=True,
            timeout=3600,
        )
    env = dict(os.environ, MSO_BENCH_REEXEC="1")
    os.execve(str(py), [str(py), *sys.argv], env)


def python() -> str:
    """The python that runs Odoo (this one when it can import odoo)."""
    return sys.executable if odoo_importable() else str(VENV_PYTHON)


def addons_path() -> str:
    import sysconfig

    site = sysconfig.get_paths()["purelib"]
    return f"{ODOO_SRC}/addons,{site}/odoo/addons,{REPO_ROOT}"


def odoo_bin() -> str:
    return str(ODOO_SRC / "odoo-bin")


def free_port() -> int:
    with contextlib.closing(socket.socket()) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def versions() -> dict:
    """Machine and software versions, for docs/benchmarks.md."""
    import platform

    out = {"python": platform.python_version(), "nproc": os.cpu_count()}
    try:
        import odoo.release

        out["odoo"] = odoo.release.version
    except ImportError:
        out["odoo"] = None
    try:
        out["postgresql"] = sql("postgres", "SHOW server_version")[0][0]
    except Exception:
        out["postgresql"] = None
    return out


# ------------------------------------------------------------------------ postgres
_PG_READY = False


def ensure_postgres():
    """PostgreSQL running, with a superuser role for this user (as scripts/lib.sh)."""
    global _PG_READY
    if _PG_READY:
        return
    try:
        sql("postgres", "SELECT 1")
    except Exception:
        subprocess.run(
            ["bash", "-c", f'source "{REPO_ROOT}/scripts/lib.sh"; ensure_postgres'],
            check=True,
            timeout=600,
        )
        sql("postgres", "SELECT 1")
    _PG_READY = True


def connect(db, autocommit=True):
    import psycopg2

    conn = psycopg2.connect(dbname=db, connect_timeout=10)
    conn.autocommit = autocommit
    return conn


def sql(db, query, params=None):
    """Runs one statement; returns the rows (or [] when it returns none)."""
    with contextlib.closing(connect(db)) as conn, conn.cursor() as cr:
        cr.execute("SET statement_timeout = '60s'")
        cr.execute(query, params)
        return cr.fetchall() if cr.description else []


def scalar(db, query, params=None):
    rows = sql(db, query, params)
    return rows[0][0] if rows else None


def database_exists(name) -> bool:
    return bool(sql("postgres", "SELECT 1 FROM pg_database WHERE datname=%s", (name,)))


def _ident(name):
    from psycopg2 import sql as psql

    return psql.Identifier(name)


def drop_database(name):
    """Drops a database (terminating its connections) and its filestore."""
    from psycopg2 import sql as psql

    if not database_exists(name):
        shutil.rmtree(DATA_DIR / "filestore" / name, ignore_errors=True)
        return
    sql(
        "postgres",
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname=%s AND pid <> pg_backend_pid()",
        (name,),
    )
    for attempt in range(20):
        try:
            sql("postgres", psql.SQL("DROP DATABASE IF EXISTS {}").format(_ident(name)))
            break
        except Exception:
            if attempt == 19:
                raise
            time.sleep(0.5)
    shutil.rmtree(DATA_DIR / "filestore" / name, ignore_errors=True)


# ---------------------------------------------------------------------- template db
def addon_hash() -> str:
    """Hash of the addon's source files + Odoo and helpdesk_mgmt versions."""
    h = hashlib.sha256()
    for path in sorted(ADDON_DIR.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        h.update(str(path.relative_to(ADDON_DIR)).encode() + b"\0")
        h.update(path.read_bytes() + b"\0")
    try:
        import odoo.release

        h.update(odoo.release.version.encode())
    except ImportError:
        pass
    try:
        from importlib.metadata import version

        h.update(version("odoo-addon-helpdesk-mgmt").encode())
    except Exception:
        pass
    return h.hexdigest()[:16]


def _template_hash():
    return scalar(
        "postgres",
        "SELECT shobj_description(oid, 'pg_database') FROM pg_database "
        "WHERE datname=%s",
        (TEMPLATE_DB,),
    )


@contextlib.contextmanager
def _template_lock():
    MSO_CACHE.mkdir(parents=True, exist_ok=True)
    with open(MSO_CACHE / "bench-template.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _odoo_common_args(db, command=None):
    return [
        python(),
        odoo_bin(),
        *([command] if command else []),
        "-d",
        db,
        f"--addons-path={addons_path()}",
        f"--data-dir={DATA_DIR}",
    ]


def ensure_template(timeout=900) -> str:
    """Builds mso_bench_template when missing or stale; returns its name."""
    from psycopg2 import sql as psql

    ensure_postgres()
    want = addon_hash()
    if _template_hash() == want:
        return TEMPLATE_DB
    with _template_lock():
        if _template_hash() == want:
            return TEMPLATE_DB
        build = f"{TEMPLATE_DB}_build_{os.getpid()}"
        drop_database(build)
        log(f"building the template database {TEMPLATE_DB} (addon hash {want}, ~1 min)")
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        logfile = LOG_DIR / "template-build.log"
        cmd = [
            *_odoo_common_args(build),
            "-i",
            ",".join(MODULES),
            "--stop-after-init",
            "--no-http",
            "--max-cron-threads=0",
            "--without-demo=all",
            "--log-level=warn",
            f"--logfile={logfile}",
        ]
        try:
            if logfile.exists():
                logfile.unlink()
            rc = subprocess.run(
                cmd, timeout=timeout, stdin=subprocess.DEVNULL
            ).returncode
            if rc != 0:
                tail = (
                    logfile.read_text(errors="replace")[-3000:]
                    if logfile.exists()
                    else ""
                )
                raise RuntimeError(
                    f"installing {MODULES} into {build} failed (rc={rc}); "
                    f"log: {logfile}\n{tail}"
                )
            installed = scalar(
                build,
                "SELECT count(*) FROM ir_module_module "
                "WHERE name IN %s AND state='installed'",
                (MODULES,),
            )
            if installed != len(MODULES):
                raise RuntimeError(
                    f"template build did not install {MODULES}: see {logfile}"
                )
        except BaseException:
            drop_database(build)
            raise
        drop_database(TEMPLATE_DB)
        sql(
            "postgres",
            psql.SQL("ALTER DATABASE {} RENAME TO {}").format(
                _ident(build), _ident(TEMPLATE_DB)
            ),
        )
        src = DATA_DIR / "filestore" / build
        if src.exists():
            src.rename(DATA_DIR / "filestore" / TEMPLATE_DB)
        sql(
            "postgres",
            psql.SQL("COMMENT ON DATABASE {} IS {}").format(
                _ident(TEMPLATE_DB), psql.Literal(want)
            ),
        )
        log(f"template {TEMPLATE_DB} ready")
    return TEMPLATE_DB


def create_database(prefix="mso_bench", cleanup: Cleanup | None = None) -> str:
    """A fresh database copied from the template (dropped by ``cleanup``)."""
    from psycopg2 import sql as psql

    template = ensure_template()
    name = f"{prefix}_{time.strftime('%H%M%S')}_{uuid.uuid4().hex[:6]}"
    with _template_lock():
        for attempt in range(10):
            try:
                sql(
                    "postgres",
                    psql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                        _ident(name), _ident(template)
                    ),
                )
                break
            except Exception:
                if attempt == 9:
                    raise
                time.sleep(1)
    if cleanup is not None:
        cleanup.databases.append(name)
    src = DATA_DIR / "filestore" / template
    if src.exists():
        shutil.copytree(src, DATA_DIR / "filestore" / name)
    # A copy of a template must not share the template's database UUID.
    sql(
        name,
        "UPDATE ir_config_parameter SET value=%s WHERE key='database.uuid'",
        (str(uuid.uuid4()),),
    )
    return name


# ------------------------------------------------------------------------- cleanup
_LIVE: list[Cleanup] = []


class Cleanup:
    """Kills started processes, stops emulators and drops databases, in that order."""

    def __init__(self, keep_db=None):
        self.processes: list[subprocess.Popen] = []
        self.databases: list[str] = []
        self.emulators: list = []
        self.callbacks: list = []
        self.keep_db = (
            os.environ.get("MSO_BENCH_KEEP_DB") == "1" if keep_db is None else keep_db
        )

    def __enter__(self):
        _LIVE.append(self)
        return self

    def __exit__(self, *exc):
        self.run()
        return False

    def run(self):
        for cb in reversed(self.callbacks):
            with contextlib.suppress(Exception):
                cb()
        self.callbacks.clear()
        for proc in self.processes:
            kill_process(proc)
        self.processes.clear()
        for emu in self.emulators:
            with contextlib.suppress(Exception):
                emu.stop()
        self.emulators.clear()
        for db in self.databases:
            if self.keep_db:
                log(f"keeping database {db} (MSO_BENCH_KEEP_DB=1)")
                continue
            try:
                drop_database(db)
            except Exception as exc:
                log(f"could not drop {db}: {exc}")
        self.databases.clear()
        if self in _LIVE:
            _LIVE.remove(self)


def _cleanup_all(*_args):
    for c in list(_LIVE):
        c.run()


def _on_signal(signum, _frame):
    _cleanup_all()
    raise SystemExit(128 + signum)


atexit.register(_cleanup_all)
for _sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
    with contextlib.suppress(ValueError):  # not in the main thread
        signal.signal(_sig, _on_signal)


def kill_process(proc: subprocess.Popen, sig=signal.SIGKILL, timeout=20):
    """Kills a process started with start_new_session=True, and its group."""
    if proc.poll() is not None:
        return proc.returncode
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
    with contextlib.suppress(ProcessLookupError):
        proc.send_signal(sig)
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return proc.wait(timeout)


# ------------------------------------------------------------------------ emulator
@dataclass
class GraphMailbox:
    """What configure_mailbox needs to point the addon at the emulator."""

    emu: object
    tenant: object
    app: object
    mailbox: object

    @property
    def address(self):
        return self.mailbox.address


def start_emulator(
    cleanup: Cleanup | None = None, address="support@contoso.example", **app_kwargs
) -> tuple[object, GraphMailbox]:
    """An in-process Graph emulator (HTTPS on 127.0.0.1) with one tenant, app and
    mailbox. In-process, so the benchmark can inject faults and read the mailbox."""
    from graph_emulator import Emulator

    emu = Emulator().start()
    if cleanup is not None:
        cleanup.emulators.append(emu)
    tenant = emu.add_tenant()
    app = tenant.add_app(**app_kwargs)
    mbox = tenant.add_mailbox(address)
    return emu, GraphMailbox(emu, tenant, app, mbox)


def start_emulator_process(
    cleanup: Cleanup,
    seed_dir=None,
    state_dir=None,
    address="support@contoso.example",
    timeout=30,
):
    """The emulator as a CLI subprocess (python -m graph_emulator). Returns
    (proc, url, ca_path, tenant_id, client_id, secret)."""
    import tempfile

    state_dir = state_dir or tempfile.mkdtemp(prefix="mso-emu-")
    cleanup.callbacks.append(lambda: shutil.rmtree(state_dir, ignore_errors=True))
    port = free_port()
    tenant_id, client_id, secret = str(uuid.uuid4()), str(uuid.uuid4()), "bench~secret"
    cmd = [
        python(),
        "-m",
        "graph_emulator",
        "--port",
        str(port),
        "--tenant-id",
        tenant_id,
        "--client-id",
        client_id,
        "--secret",
        secret,
        "--mailbox",
        address,
        "--state-dir",
        state_dir,
    ]
    if seed_dir:
        cmd += ["--seed-dir", str(seed_dir)]
    env = dict(
        os.environ, PYTHONPATH=f"{EMULATOR_DIR}:{os.environ.get('PYTHONPATH', '')}"
    )
    proc = subprocess.Popen(
        cmd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    cleanup.processes.append(proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError):
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            if os.path.exists(os.path.join(state_dir, "ca.pem")):
                break
        if proc.poll() is not None:
            raise RuntimeError("the emulator process exited")
        time.sleep(0.2)
    else:
        raise TimeoutError("the emulator did not start")
    url = f"https://127.0.0.1:{port}"
    return proc, url, os.path.join(state_dir, "ca.pem"), tenant_id, client_id, secret


# ------------------------------------------------------------------- odoo processes
RESULT_MARK = "@@MSO_RESULT@@"

SHELL_PRELUDE = textwrap.dedent(
    f"""
    import json as _json
    def emit(value):
        print({RESULT_MARK!r} + _json.dumps(value, default=str), flush=True)
    """
)


class OdooError(RuntimeError):
    pass


def odoo_shell(
    db, script, timeout=300, env=None, log_level="warn", logfile=None, check=True
):
    """Runs ``script`` in ``odoo-bin shell`` (``env`` is the shell's global; the
    script must commit itself). ``emit(value)`` in the script sends a JSON value back:
    returns the list of emitted values. Raises OdooError when the shell fails."""
    cmd = [
        *_odoo_common_args(db, "shell"),
        "--no-http",
        "--max-cron-threads=0",
        f"--log-level={log_level}",
    ]
    if logfile:
        cmd.append(f"--logfile={logfile}")
    penv = dict(os.environ, **(env or {}))
    penv["PYTHONPATH"] = f"{EMULATOR_DIR}:{penv.get('PYTHONPATH', '')}"
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=penv,
        text=True,
        start_new_session=True,
    )
    source = SHELL_PRELUDE + textwrap.dedent(script)
    try:
        out, err = proc.communicate(source, timeout=timeout)
    except subprocess.TimeoutExpired:
        kill_process(proc)
        raise OdooError(f"odoo shell timed out after {timeout}s") from None
    results = [
        json.loads(line[len(RESULT_MARK) :])
        for line in out.splitlines()
        if line.startswith(RESULT_MARK)
    ]
    failed = proc.returncode != 0 or "Traceback (most recent call last)" in err
    if check and failed:
        raise OdooError(f"odoo shell failed (rc={proc.returncode}):\n{err[-4000:]}")
    return results


def odoo_shell_start(
    db, script, cleanup: Cleanup | None = None, env=None, log_level="warn", logfile=None
) -> subprocess.Popen:
    """Starts ``script`` in ``odoo-bin shell`` without waiting (stdout/stderr to
    ``logfile`` or discarded); the process is killed by ``cleanup``. Use
    ``results_of(logfile)`` to read what it emitted."""
    cmd = [
        *_odoo_common_args(db, "shell"),
        "--no-http",
        "--max-cron-threads=0",
        f"--log-level={log_level}",
    ]
    penv = dict(os.environ, **(env or {}))
    penv["PYTHONPATH"] = f"{EMULATOR_DIR}:{penv.get('PYTHONPATH', '')}"
    out = open(logfile, "ab") if logfile else subprocess.DEVNULL
    proc = subprocess.Popen(
        cmd,
        stdin=subprocess.PIPE,
        stdout=out,
        stderr=subprocess.STDOUT,
        env=penv,
        start_new_session=True,
    )
    if logfile:
        out.close()
    if cleanup is not None:
        cleanup.processes.append(proc)
    proc.stdin.write((SHELL_PRELUDE + textwrap.dedent(script)).encode())
    proc.stdin.close()
    return proc


def results_of(logfile) -> list:
    """The values a shell script emitted into ``logfile``."""
    text = Path(logfile).read_text(errors="replace")
    return [
        json.loads(line[len(RESULT_MARK) :])
        for line in text.splitlines()
        if line.startswith(RESULT_MARK)
    ]


class OdooServer:
    """A real Odoo server with cron workers (one unless told), on a free port.

    ``start()`` launches ``odoo-bin --max-cron-threads=N`` in its own process group;
    ``kill()`` sends SIGKILL (or another signal); ``wait_ready()`` waits until the
    registry is loaded and the cron thread listens; ``wake_cron(db)`` makes it run
    the mailboxes' import jobs at once."""

    def __init__(
        self,
        db,
        cleanup: Cleanup | None = None,
        log_level="info",
        limit_time_real_cron=600,
        extra_args=(),
        logfile=None,
        port=None,
        workers=0,
        cron_threads=1,
        env=None,
    ):
        self.db = db
        self.env = dict(env or {})  # environment variables of the server process
        self.cron_threads = cron_threads
        self.workers = workers  # 0: threaded; >0: prefork (HTTP and cron workers)
        self.cleanup = cleanup
        self.port = None
        # A port chosen beforehand (e.g. for web.base.url); else a free one per start.
        self.fixed_port = port
        self.proc: subprocess.Popen | None = None
        self.log_level = log_level
        self.limit_time_real_cron = limit_time_real_cron
        self.extra_args = list(extra_args)
        LOG_DIR.mkdir(parents=True, exist_ok=True)
        self.logfile = Path(logfile or LOG_DIR / f"{db}.log")
        self.starts = 0

    def start(self, wait=True, timeout=120):
        self.port = self.fixed_port or free_port()
        cmd = [
            *_odoo_common_args(self.db),
            "--http-interface=127.0.0.1",
            f"--http-port={self.port}",
            f"--max-cron-threads={self.cron_threads}",
            f"--workers={self.workers}",
            f"--limit-time-real-cron={self.limit_time_real_cron}",
            f"--log-level={self.log_level}",
            *self.extra_args,
        ]
        fh = open(self.logfile, "ab")
        fh.write(f"\n===== start {self.starts} at {datetime.now()} =====\n".encode())
        fh.flush()
        env = dict(
            os.environ,
            **self.env,
            PYTHONPATH=f"{EMULATOR_DIR}:{os.environ.get('PYTHONPATH', '')}",
        )
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=fh,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
        fh.close()
        self.starts += 1
        if self.cleanup is not None:
            self.cleanup.processes.append(self.proc)
        if wait:
            self.wait_ready(timeout)
        return self

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_ready(self, timeout=120):
        """Ready: the HTTP port answers (the registry is loaded by then)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive():
                raise OdooError(
                    f"odoo exited (rc={self.proc.returncode}); see {self.logfile}"
                )
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return self
            time.sleep(0.2)
        raise TimeoutError(
            f"odoo did not become ready in {timeout}s; see {self.logfile}"
        )

    def wake_until_running(self, timeout=60, interval=0.5):
        """Wakes the cron worker (trigger + NOTIFY) until a run of the scanner job
        has started (a new ir_cron_progress row). The first NOTIFY may come before
        the worker LISTENs, hence the repeats. Returns the seconds it took."""
        t0 = time.monotonic()
        cid = cron_id(self.db)
        last = scalar(
            self.db,
            "SELECT coalesce(max(id), 0) FROM ir_cron_progress WHERE cron_id=%s",
            (cid,),
        )
        while time.monotonic() - t0 < timeout:
            if not self.alive():
                raise OdooError(
                    f"odoo exited (rc={self.proc.returncode}); see {self.logfile}"
                )
            wake_cron(self.db)
            end = time.monotonic() + interval
            while time.monotonic() < end:
                if scalar(
                    self.db,
                    "SELECT count(*) FROM ir_cron_progress WHERE cron_id=%s "
                    "AND id > %s",
                    (cid, last),
                ):
                    return time.monotonic() - t0
                time.sleep(0.05)
        raise TimeoutError(f"the cron worker did not start the job in {timeout}s")

    def kill(self, sig=signal.SIGKILL):
        if self.proc is not None:
            kill_process(self.proc, sig)
            if self.cleanup is not None and self.proc in self.cleanup.processes:
                self.cleanup.processes.remove(self.proc)

    stop = kill


def cron_ids(db) -> list[int]:
    """The scheduled jobs that import mail: one per mailbox (sync/scheduling.py)."""
    rows = sql(
        db,
        "SELECT job_id FROM mail_scanner_mailbox WHERE job_id IS NOT NULL ORDER BY id",
    )
    return [row[0] for row in rows]


def cron_id(db) -> int:
    """The import job of the first mailbox (the benchmarks with one mailbox)."""
    return cron_ids(db)[0]


def wake_cron(db):
    """What ``ir.cron._trigger()`` does, by SQL, for every mailbox's import job: a
    trigger row due now + NOTIFY."""
    with contextlib.closing(connect(db)) as conn, conn.cursor() as cr:
        for cid in cron_ids(db):
            cr.execute(
                "INSERT INTO ir_cron_trigger (cron_id, call_at, create_date, "
                "write_date) VALUES (%s, now() at time zone 'UTC', "
                "now() at time zone 'UTC', now() at time zone 'UTC')",
                (cid,),
            )
    sql("postgres", "SELECT pg_notify('cron_trigger', %s)", (db,))


# ------------------------------------------------------------ configuring the addon
# The head of every configuring script: the addon pointed at the emulator
# (MSO_URL, MSO_CA in the script's environment).
EMULATOR_SETTINGS_SCRIPT = """
import os
from datetime import datetime
e = os.environ
params = env["ir.config_parameter"].sudo()
params.set_param("mail_scanner_oauth2.authority_host", e["MSO_URL"])
params.set_param("mail_scanner_oauth2.graph_url", e["MSO_URL"] + "/v1.0")
params.set_param("mail_scanner_oauth2.ca_bundle", e["MSO_CA"])
"""

CONFIGURE_SCRIPT = (
    EMULATOR_SETTINGS_SCRIPT
    + """
app = env["mail.scanner.azure.app"].create({
    "name": "Benchmark app (Graph emulator)",
    "tenant_id": e["MSO_TENANT"],
    "client_id": e["MSO_CLIENT"],
    "client_secret": e["MSO_SECRET"],
})
team = env["helpdesk.ticket.team"].search([], limit=1)
vals = {
    "account_kind": "microsoft",
    "app_id": app.id,
    "address": e["MSO_MAILBOX"],
    "cutoff_date": datetime(2000, 1, 1),
    "batch_limit": int(e["MSO_BATCH_LIMIT"]),
    "after_import": e["MSO_AFTER_IMPORT"],
}
if team:
    vals["team_id"] = team.id
extra = _json.loads(e.get("MSO_EXTRA") or "{}")
vals.update(extra)
mailbox = env["mail.scanner.mailbox"].create(vals)
env.cr.commit()
emit({"mailbox_id": mailbox.id, "state": mailbox.state, "app_id": app.id,
      "team_id": team.id})
"""
)


def configure_mailbox(
    db,
    gm: GraphMailbox | None = None,
    *,
    url=None,
    ca_path=None,
    tenant_id=None,
    client_id=None,
    secret=None,
    address=None,
    batch_limit=50,
    after_import="mark_read",
    extra=None,
    timeout=180,
) -> dict:
    """Points the addon at the emulator (ir.config_parameter) and creates the Azure
    app and the mailbox (started: access checked, cutoff 2000-01-01). Pass either
    ``gm`` (from start_emulator) or the url/ca/ids of a CLI emulator."""
    if gm is not None:
        url, ca_path = gm.emu.url, gm.emu.ca_path
        tenant_id, client_id, secret = gm.tenant.id, gm.app.client_id, gm.app.secret
        address = gm.mailbox.address
    env = {
        "MSO_URL": url,
        "MSO_CA": str(ca_path),
        "MSO_TENANT": tenant_id,
        "MSO_CLIENT": client_id,
        "MSO_SECRET": secret,
        "MSO_MAILBOX": address,
        "MSO_BATCH_LIMIT": str(batch_limit),
        "MSO_AFTER_IMPORT": after_import,
        "MSO_EXTRA": json.dumps(extra or {}),
    }
    (result,) = odoo_shell(db, CONFIGURE_SCRIPT, env=env, timeout=timeout)
    if result["state"] != "running":
        raise OdooError(f"mailbox did not start: {result}")
    return result


# The head of the scripts that drive the scanner in a loop: slice_round() runs one
# slice of every scanned mailbox, as their jobs do, and says how many mails wait.
SLICE_ROUND_SCRIPT = """
from odoo.addons.mail_scanner_oauth2.sync.scheduling import SCANNED_STATES, run_slice
Mailbox = env["mail.scanner.mailbox"]


def slice_round():
    mailboxes = Mailbox.search([("state", "in", SCANNED_STATES)])
    return sum(run_slice(mailbox).pending for mailbox in mailboxes)
"""

SYNC_LOOP_SCRIPT = (
    SLICE_ROUND_SCRIPT
    + """
import os, time
deadline = time.monotonic() + float(os.environ["MSO_DEADLINE"])
max_rounds = int(os.environ["MSO_MAX_ROUNDS"])
rounds = idle = 0
while time.monotonic() < deadline and rounds < max_rounds:
    remaining = slice_round()
    env.cr.commit()
    env.invalidate_all()
    rounds += 1
    if remaining == 0:
        idle += 1
        if idle >= int(os.environ["MSO_IDLE_ROUNDS"]):
            break
    else:
        idle = 0
mb = Mailbox.search([], limit=1)
emit({"rounds": rounds, "remaining": remaining, "state": mb.state,
      "last_error": mb.last_error})
"""
)


def sync_in_shell(
    db, deadline=480, max_rounds=1000, idle_rounds=2, timeout=None, logfile=None
) -> dict:
    """Calls the cron method in an ``odoo-bin shell`` until nothing is importable
    ``idle_rounds`` times in a row (the last delta round then saw no new mail)."""
    env = {
        "MSO_DEADLINE": str(deadline),
        "MSO_MAX_ROUNDS": str(max_rounds),
        "MSO_IDLE_ROUNDS": str(idle_rounds),
    }
    (result,) = odoo_shell(
        db,
        SYNC_LOOP_SCRIPT,
        env=env,
        log_level="warn",
        timeout=timeout or deadline + 120,
        logfile=logfile,
    )
    return result


# ---------------------------------------------------------------------- counting
def ledger_counts(db) -> dict:
    """{state: count} of mail.scanner.message."""
    return dict(
        sql(db, "SELECT state, count(*) FROM mail_scanner_message GROUP BY state")
    )


def ledger_rows(db, where="TRUE", params=None) -> list[dict]:
    """The ledger rows as dicts, with ``reason``: the English sentence of the row's
    ``reason_key``/``reason_params`` (the reason is computed, not stored)."""
    import _common

    columns = (
        "id, graph_id, internet_message_id, state, outcome, attempts, interruptions, "
        "reason_key, reason_params, ticket_id, mail_message_id, size, "
        "retry_automatically"
    )
    with contextlib.closing(connect(db)) as conn, conn.cursor() as cr:
        cr.execute(
            f"SELECT {columns} FROM mail_scanner_message WHERE {where} ORDER BY id",
            params,
        )
        names = [d.name for d in cr.description]
        rows = [dict(zip(names, r)) for r in cr.fetchall()]
    for row in rows:
        row["reason"] = _common.reason_text(row["reason_key"], row["reason_params"])
    return rows


def ticket_count(db) -> int:
    return scalar(db, "SELECT count(*) FROM helpdesk_ticket")


def email_messages_on_tickets(db) -> int:
    return scalar(
        db,
        "SELECT count(*) FROM mail_message WHERE model='helpdesk.ticket' "
        "AND message_type='email'",
    )


def mailbox_state(db) -> dict:
    """The first mailbox: id, state, last_error (its English sentence; the
    sentence is computed from last_error_key/params, not stored), delta link."""
    import _common

    rows = sql(
        db,
        "SELECT id, state, last_error_key, last_error_params, delta_link IS NOT NULL "
        "FROM mail_scanner_mailbox ORDER BY id LIMIT 1",
    )
    if not rows:
        return {}
    mid, state, key, params, has_delta = rows[0]
    return {
        "id": mid,
        "state": state,
        "last_error": _common.reason_text(key, params),
        "has_delta_link": has_delta,
    }


def format_table(rows, headers) -> str:
    rows = [[str(c) for c in r] for r in rows]
    widths = [
        max(len(h), *(len(r[i]) for r in rows)) if rows else len(h)
        for i, h in enumerate(headers)
    ]
    line = "  ".join(h.ljust(w) for h, w in zip(headers, widths))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(c.ljust(w) for c, w in zip(r, widths)) for r in rows]
    return "\n".join(out)


if __name__ == "__main__":
    # Smoke test: template, database, emulator, configuration, one sync, counts.
    reexec_under_venv()
    t0 = time.monotonic()
    with Cleanup() as c:
        from graph_emulator import make_eml

        db = create_database("mso_bench_smoke", c)
        emu, gm = start_emulator(c)
        for i in range(3):
            gm.mailbox.deliver(
                make_eml(
                    f"Smoke {i}",
                    f"c{i}@example.org",
                    gm.address,
                    "hello",
                    message_id=f"<smoke-{i}@example.org>",
                )
            )
        print(configure_mailbox(db, gm, batch_limit=2))
        print(sync_in_shell(db, deadline=120))
        print(ledger_counts(db), ticket_count(db), versions())
        print([(r["state"], r["attempts"], r["reason"][:300]) for r in ledger_rows(db)])
    print(f"seconds={time.monotonic() - t0:.1f}")
