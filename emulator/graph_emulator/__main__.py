"""Run the emulator in the foreground for demos.

python -m graph_emulator --port 8443 --tenant-id T --client-id C --secret S \
    --mailbox support@contoso.com --seed-dir DIR --drop-dir DIR [--state-dir DIR] \
    [--roles Mail.ReadWrite,Mail.Send] [--sent-dir DIR] [--tidy] [--notify-http]

Realistic by default (Exchange-regenerated $value, redelivered changes, empty delta
pages, expiring delta links, long-form links, subject-based conversations: see
graph_emulator.realism); --tidy serves the documented behaviour only. Mail sent
through a mailbox (the app needs the role Mail.Send) is announced on stdout as it
reaches the mailbox's Sent Items, and written to --sent-dir as .eml files.
Change notifications go to loopback addresses only; --notify-http also accepts
http:// notification URLs (Graph itself only calls https), for a local Odoo.
"""

import argparse
import email.parser
import email.utils
import glob
import os
import sys
import time
from datetime import timezone

from .server import Emulator


def _parse(argv):
    parser = argparse.ArgumentParser(
        prog="python -m graph_emulator", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--tenant-id", default=None)
    parser.add_argument("--domain", default="contoso.onmicrosoft.com")
    parser.add_argument("--client-id", default=None)
    parser.add_argument("--secret", default="s3cr3t")
    parser.add_argument(
        "--certificate",
        default=None,
        help="PEM file of the app's certificate (public part)",
    )
    parser.add_argument(
        "--roles",
        default="Mail.ReadWrite",
        help="comma-separated application permissions",
    )
    parser.add_argument("--mailbox", action="append", default=None, help="repeatable")
    parser.add_argument(
        "--seed-dir", default=None, help=".eml files delivered to the inbox at start"
    )
    parser.add_argument(
        "--drop-dir", default=None, help=".eml files dropped here later are delivered"
    )
    parser.add_argument(
        "--state-dir", default=None, help="where to write the CA certificate"
    )
    parser.add_argument(
        "--sent-dir",
        default=None,
        help="mail that reaches a mailbox's Sent Items is written here as .eml",
    )
    parser.add_argument("--poll", type=float, default=2.0)
    parser.add_argument(
        "--tidy",
        action="store_true",
        help="documented behaviour only: delivered bytes as $value, no redelivery, "
        "no empty delta pages, delta links that never expire (default: realistic)",
    )
    parser.add_argument(
        "--notify-http",
        action="store_true",
        help="accept http:// notification URLs (Microsoft Graph requires https): "
        "lets a local Odoo on 127.0.0.1 receive change notifications",
    )
    return parser.parse_args(argv)


def _date_of(path):
    """The mail's Date header, as when it was received (None if unreadable)."""
    with open(path, "rb") as fh:
        headers = email.parser.BytesHeaderParser().parse(fh)
    try:
        received = email.utils.parsedate_to_datetime(headers.get("Date", ""))
    except (TypeError, ValueError):
        return None
    if received.tzinfo is None:
        received = received.replace(tzinfo=timezone.utc)
    return received.astimezone(timezone.utc)


def _deliver_new(mailboxes, directory, seen, already_there=False):
    """Delivers the .eml files not seen yet. Files that were 'already there'
    (the seed) keep their Date as received time, as in a mailbox in use: the
    scanner then meets them in the order they really arrived."""
    for path in sorted(glob.glob(os.path.join(directory, "*.eml"))):
        if path in seen:
            continue
        seen.add(path)
        received = _date_of(path) if already_there else None
        for mbox in mailboxes:
            msg = mbox.deliver_file(path, received=received)
            print(
                f"delivered {os.path.basename(path)} to {mbox.address}: "
                f"{msg.subject!r}",
                flush=True,
            )


def _announce_sent(mailboxes, directory, seen):
    """Prints (and writes to `directory`) the mail that reached Sent Items since the
    last call: what a sandbox user looks at to see an answer leave."""
    for mbox in mailboxes:
        for msg in mbox.messages(folder="sentitems"):
            if msg.immutable_id in seen:
                continue
            seen.add(msg.immutable_id)
            parsed = email.parser.BytesHeaderParser().parsebytes(msg.raw)
            print(
                f"sent from {mbox.address} to {parsed.get('To', '')}: "
                f"{msg.subject!r} {msg.internet_message_id}",
                flush=True,
            )
            if directory:
                os.makedirs(directory, exist_ok=True)
                name = f"{msg.received:%Y%m%d-%H%M%S}-{len(seen):04d}.eml"
                with open(os.path.join(directory, name), "wb") as fh:
                    fh.write(msg.raw)


def main(argv=None):
    args = _parse(argv)
    emu = Emulator(
        host=args.host,
        port=args.port,
        state_dir=args.state_dir,
        realism="tidy" if args.tidy else "realistic",
    ).start()
    # Never anywhere but this machine (allowed_hosts stays loopback).
    emu.subscriptions.require_https = not args.notify_http
    tenant = emu.add_tenant(args.tenant_id, args.domain)
    cert = open(args.certificate).read() if args.certificate else None
    app = tenant.add_app(
        args.client_id,
        secret=args.secret,
        certificate_pem=cert,
        roles=[r.strip() for r in args.roles.split(",") if r.strip()],
    )
    mailboxes = [
        tenant.add_mailbox(a) for a in (args.mailbox or ["support@contoso.com"])
    ]
    print(f"Graph emulator on {emu.url}  (Graph: {emu.graph_url}, {emu.realism})")
    print(f"CA certificate: {emu.ca_path}")
    print(f"tenant id: {tenant.id}  domain: {tenant.domain}")
    print(
        f"client id: {app.client_id}  secret: {app.secret}  secret id: {app.secret_id}"
    )
    print(f"mailboxes: {', '.join(m.address for m in mailboxes)}", flush=True)
    seen, sent = set(), set()
    if args.seed_dir:
        _deliver_new(mailboxes, args.seed_dir, seen, already_there=True)
    try:
        while True:
            if args.drop_dir and os.path.isdir(args.drop_dir):
                _deliver_new(mailboxes, args.drop_dir, seen)
            _announce_sent(mailboxes, args.sent_dir, sent)
            time.sleep(args.poll)
    except KeyboardInterrupt:
        pass
    finally:
        emu.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
