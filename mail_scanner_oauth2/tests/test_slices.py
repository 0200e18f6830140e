# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What the scanner reads once per slice of mail, and what it leaves out of the
gateway's parse, never changes what a mail becomes."""

import email
import email.policy
import hashlib
import os
import struct
import zlib
from datetime import datetime, timedelta, timezone
from email.message import EmailMessage
from email.policy import SMTP

from odoo.tests import tagged
from odoo.tools import html2plaintext

from ..tools.large_parts import CUT_ABOVE, cut_large_parts
from ..tools.mail_facts import MailFacts
from .common import MailScannerCase


def png(width, height):
    """A real PNG of noise (Odoo opens images it stores), too big to compress."""

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    rows = b"".join(b"\x00" + os.urandom(width * 3) for _row in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


PNG = png(160, 160)  # about 77 KB, above CUT_ABOVE
PDF = b"%PDF-1.4\n" + os.urandom(5 * CUT_ABOVE)


def mail_with_large_parts(message_id):
    """HTML with a large inline image (cid:) and a large PDF attachment."""
    msg = EmailMessage(policy=SMTP)
    msg["From"] = "Ana Souza <ana@customer.example>"
    msg["To"] = "support@contoso.example"
    msg["Subject"] = "Tela de erro e contrato"
    msg["Message-ID"] = message_id
    msg.set_content("Veja a tela abaixo e o contrato.")
    msg.add_alternative(
        '<p>Veja a tela:</p><img src="cid:tela@customer.example"><p>Obrigada</p>',
        subtype="html",
    )
    html = msg.get_payload()[1]
    html.add_related(
        PNG, maintype="image", subtype="png", cid="<tela@customer.example>",
        filename="tela.png",
    )  # fmt: skip
    msg.add_attachment(
        PDF, maintype="application", subtype="pdf", filename="contrato assinado.pdf"
    )
    return msg.as_bytes()


def attachments_of(message):
    return sorted(
        (a.name, a.mimetype, a.checksum, a.file_size) for a in message.attachment_ids
    )


@tagged("post_install", "-at_install")
class TestSlices(MailScannerCase):
    def setUp(self):
        super().setUp()
        self.mailbox = self.create_mailbox()

    def test_large_attachments_are_the_gateways_own(self):
        """Cut out before the gateway parses the mail, the attachments are stored
        as Odoo's own gateway stores them from the whole mail: same names,
        mimetypes, checksums and sizes, and the inline image is shown in the body."""
        graph_msg = self.deliver_raw(mail_with_large_parts("<large@customer.example>"))
        _slim, cut = cut_large_parts(graph_msg.mime)
        self.assertEqual(len(cut), 2, "both the image and the PDF are cut out")
        self.sync(self.mailbox)
        row = self.row_of(self.mailbox, graph_msg)
        self.assertEqual(row.state, "done", row.reason)
        ours = row.mail_message_id
        # The same mail, as Graph served it, through Odoo's gateway alone.
        served = graph_msg.mime.replace(b"<large@", b"<whole@")
        self.assertIn(b"<whole@customer.example>", served)
        self.env["mail.thread"].message_process("helpdesk.ticket", served)
        whole = self.env["mail.message"].search(
            [("message_id", "=", "<whole@customer.example>")]
        )
        self.assertEqual(attachments_of(ours), attachments_of(whole))
        self.assertIn(
            (hashlib.sha1(PDF).hexdigest(), len(PDF)),
            [(a.checksum, a.file_size) for a in ours.attachment_ids],
        )
        image = ours.attachment_ids.filtered(lambda a: a.name == "tela.png")
        self.assertEqual(image.checksum, hashlib.sha1(PNG).hexdigest())
        self.assertIn(f"/web/image/{image.id}", str(ours.body))

    def test_reply_by_conversation_in_the_same_slice(self):
        """The earliest ticket of a conversation is known as soon as the mail that
        made it is committed, for the next mail of the same run."""
        # Received a minute apart: the mailbox imports in the order of arrival.
        earlier = datetime.now(timezone.utc) - timedelta(minutes=1)
        first = self.deliver(
            subject="Portal fora do ar", sender="ana@customer.example", received=earlier
        )
        self.deliver_raw(
            b"From: Ana <ana@customer.example>\r\nTo: support@contoso.example\r\n"
            b"Subject: RE: Portal fora do ar\r\n"
            b"Date: Mon, 30 Nov 2026 11:00:00 +0000\r\n\r\nContinua fora.\r\n",
            conversation_id=first.conversation_id,
        )
        self.sync(self.mailbox)
        rows = self.ledger(self.mailbox).sorted("received_date")
        self.assertEqual(rows.mapped("outcome"), ["ticket", "reply"])
        self.assertEqual(len(rows.ticket_id), 1)

    def test_same_message_twice_in_one_slice(self):
        raw = mail_with_large_parts("<twice@customer.example>")
        self.deliver_raw(raw)
        self.deliver_raw(raw)
        self.sync(self.mailbox)
        # Either copy may be imported first (the realistic emulator's delta order).
        rows = self.ledger(self.mailbox).sorted("state")
        self.assertEqual(rows.mapped("state"), ["done", "duplicate"])
        self.assertEqual(rows[1].mail_message_id, rows[0].mail_message_id)
        self.assertEqual(
            self.env["mail.message"].search_count(
                [("message_id", "=", "<twice@customer.example>")]
            ),
            1,
        )

    def test_known_contact_is_not_created_again_in_a_slice(self):
        for n in range(3):
            self.deliver(
                subject=f"Pedido {n}",
                sender="Carla Dias <carla@customer.example>",
                cc=["Bruno <bruno@customer.example>"],
            )
        self.sync(self.mailbox)
        for address in ("carla@customer.example", "bruno@customer.example"):
            self.assertEqual(
                self.env["res.partner"].search_count(
                    [("email_normalized", "=", address)]
                ),
                1,
                address,
            )
        tickets = self.ledger(self.mailbox).ticket_id
        self.assertEqual(len(tickets), 3)
        for ticket in tickets:
            self.assertEqual(ticket.partner_id.email, "carla@customer.example")
            self.assertIn(
                "bruno@customer.example", ticket.message_partner_ids.mapped("email")
            )

    def test_every_mail_marked_read_once_while_importing(self):
        """Mark-as-read goes out in batches while the next mails are imported; the
        rest at the end of the run. Each mail is marked once, after its commit."""
        sent = [
            self.deliver(subject=f"Chamado {n}", sender=f"c{n}@customer.example")
            for n in range(45)
        ]
        self.emu.log.clear()
        with self.emu.temporarily("tidy"):
            self.sync(self.mailbox)
        rows = self.ledger(self.mailbox)
        self.assertEqual(set(rows.mapped("state")), {"done"})
        self.assertTrue(all(rows.mapped("after_import_done")))
        self.assertTrue(
            all(self.graph_mailbox.get(m.immutable_id).is_read for m in sent)
        )
        patches = [r for r in self.emu.log.select(in_batch=True) if r.method == "PATCH"]
        self.assertEqual(len(patches), len(sent))


@tagged("post_install", "-at_install")
class TestMailFactsBody(MailScannerCase):
    """The body and attachments the rules read are what the email package's
    modern API gives (read faster, through compat32 parts)."""

    def expected(self, raw):
        message = email.message_from_bytes(raw, policy=email.policy.default)
        plain = html = ""
        for part in message.walk():
            if part.is_multipart() or part.get_content_disposition() == "attachment":
                continue
            kind = part.get_content_type()
            if kind not in ("text/plain", "text/html"):
                continue
            try:
                content = part.get_content()
            except (LookupError, ValueError, AssertionError):
                content = (part.get_payload(decode=True) or b"").decode(
                    "utf-8", "replace"
                )
            if kind == "text/plain" and not plain:
                plain = content
            elif kind == "text/html" and not html:
                html = content
        text = plain or (html2plaintext(html) if html else "")
        return text.replace("\r\n", "\n").replace("\r", "\n")

    def test_bodies_as_the_modern_api_reads_them(self):
        head = b"From: a@x.example\r\nTo: b@y.example\r\nSubject: s\r\n"
        samples = [
            head + b"Content-Type: text/plain; charset=iso-8859-1\r\n"
            b"Content-Transfer-Encoding: 8bit\r\n\r\nPedido: 42 \xe9\r\n",
            head + b"Content-Type: text/plain; charset=x-unknown\r\n\r\nValor: 1\r\n",
            head + b"Content-Type: text/plain; charset*=utf-8''utf-8\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\nQ29udHJhdG8gOTk=\r\n",
            head + b"Content-Type: text/html; charset=utf-8\r\n\r\n"
            b"<p>Vencimento: <b>03/04/2026</b></p>\r\n",
            mail_with_large_parts("<facts@customer.example>"),
        ]
        for raw in samples:
            facts = MailFacts(raw)
            self.assertEqual(facts.body, self.expected(raw), raw[:120])
        self.assertTrue(MailFacts(samples[-1]).has_attachment)
        self.assertFalse(MailFacts(samples[0]).has_attachment)
