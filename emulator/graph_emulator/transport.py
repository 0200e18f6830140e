"""Exchange transport after a send: the copy in Sent Items, delivery to mailboxes of
the same organisation, mail that leaves it (kept in emu.outbound for tests), and
non-delivery reports (NDRs) delivered back into the sender's Inbox.

Recipients Exchange cannot deliver to: addresses in emu.undeliverable (a knob), and
addresses of the organisation's own domains that match no mailbox (as Exchange
answers 550 5.1.10 RecipientNotFound).
"""

import email.header
import email.utils
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from . import compose

# The sender Exchange Online puts on the NDRs it generates.
NDR_SENDER = "MicrosoftExchange329e71ec88ae4615bbc36ab6ce41109e"
NOT_FOUND = (
    "5.1.10",
    "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP "
    "address lookup",
)
REJECTED = ("5.1.1", "550 5.1.1 User unknown")


@dataclass
class OutboundMail:
    """A message that left the organisation (one per send, all external recipients)."""

    sender: str
    recipients: list
    raw: bytes
    internet_message_id: str
    sent: float = field(default_factory=time.time)


class Transport:
    def __init__(self, emu):
        self.emu = emu

    def submit(self, mailbox, msg, save_copy=True):
        """Send `msg` (a draft of `mailbox`), under the emulator's lock: Sent Items
        copy (same immutable id), then delivery, then one NDR for every failure."""
        raw, parsed = msg.raw, msg.parsed
        msg.is_draft = False
        if save_copy:
            mailbox.move(msg, "sentitems")
        else:
            mailbox.remove(msg)
        public = compose.without_header(raw, "Bcc")
        external, failed = [], []
        for address in _unique(a for _, a in parsed.to + parsed.cc + parsed.bcc):
            verdict = self._route(mailbox.tenant, address)
            if verdict is None:
                external.append(address)
            elif isinstance(verdict, tuple):
                failed.append((address, *verdict))
            else:
                verdict.deliver(public, folder="inbox")
        if external:
            self.emu.outbound.append(
                OutboundMail(mailbox.address, external, public, msg.internet_message_id)
            )
        if failed:
            mailbox.deliver(non_delivery_report(mailbox, raw, msg, failed))

    def _route(self, tenant, address):
        """A Mailbox of the organisation, a (status, diagnostic) failure, or None for
        a recipient outside the organisation."""
        folded = address.casefold()
        local = tenant.find_mailbox(address)
        if folded in {str(a).casefold() for a in self.emu.undeliverable}:
            return NOT_FOUND if local or _is_accepted(tenant, folded) else REJECTED
        if local is not None:
            return local
        if _is_accepted(tenant, folded):
            return NOT_FOUND
        return None


def _unique(addresses):
    seen = set()
    for address in addresses:
        if address and address.casefold() not in seen:
            seen.add(address.casefold())
            yield address


def _is_accepted(tenant, folded_address):
    """The organisation's own domains: the tenant's and its mailboxes'."""
    domain = folded_address.rsplit("@", 1)[-1]
    domains = {tenant.domain.casefold()}
    domains |= {m.domain.casefold() for m in tenant.mailboxes.values()}
    return domain in domains


# -- the report ------------------------------------------------------------------------
def non_delivery_report(mailbox, original, msg, failed):
    """An NDR the way Exchange Online writes one (RFC 3464): multipart/report with a
    readable part, a message/delivery-status part and the original's headers; it
    answers the original (In-Reply-To / References = its Message-ID)."""
    boundary = f"_NDR_{secrets.token_hex(12)}_"
    server = compose.exchange_message_id().split("@", 1)[1].rstrip(">")
    now = email.utils.format_datetime(datetime.now(timezone.utc))
    original_id = msg.internet_message_id
    headers = [
        f"From: Microsoft Outlook <{NDR_SENDER}@{mailbox.tenant.domain}>",
        f"To: <{mailbox.address}>",
        f"Date: {now}",
        f"Subject: {_encode('Undeliverable: ' + (msg.subject or ''))}",
        f"Message-ID: {compose.exchange_message_id()}",
        f"In-Reply-To: {original_id}",
        f"References: {original_id}",
        "MIME-Version: 1.0",
        "Content-Type: multipart/report; report-type=delivery-status;",
        f'\tboundary="{boundary}"',
        "Auto-Submitted: auto-replied",
        "X-MS-Exchange-Message-Is-Ndr:",
        "Content-Language: en-US",
    ]
    readable = "\r\n".join(
        f"Your message to {address} couldn't be delivered.\r\n{diagnostic}\r\n"
        for address, _, diagnostic in failed
    )
    status = [
        f"Reporting-MTA: dns;{server}",
        f"Received-From-MTA: dns;{server}",
        f"Arrival-Date: {now}",
        "",
    ]
    for address, code, diagnostic in failed:
        status += [
            f"Original-Recipient: rfc822;{address}",
            f"Final-Recipient: rfc822;{address}",
            "Action: failed",
            f"Status: {code}",
            f"Diagnostic-Code: smtp;{diagnostic}",
            "",
        ]
    parts = [
        b'Content-Type: text/plain; charset="us-ascii"\r\n'
        b"Content-Transfer-Encoding: 7bit\r\n\r\n"
        + readable.encode("ascii", "replace"),
        b"Content-Type: message/delivery-status\r\n\r\n"
        + "\r\n".join(status).encode("ascii", "replace"),
        b"Content-Type: text/rfc822-headers\r\n\r\n"
        + b"\r\n".join(compose.header_lines(original))
        + b"\r\n",
    ]
    body = b"".join(f"--{boundary}\r\n".encode() + part + b"\r\n" for part in parts)
    return (
        "\r\n".join(headers).encode()
        + b"\r\n\r\n"
        + body
        + f"--{boundary}--\r\n".encode()
    )


def _encode(text):
    if text.isascii():
        return text
    return email.header.Header(text, "utf-8").encode(linesep="\r\n")
