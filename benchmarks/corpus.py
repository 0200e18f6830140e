#!/usr/bin/env python3
# The texts are data: real mail has long lines and typographic characters.
# ruff: noqa: E501, RUF001
"""A deterministic corpus of realistic helpdesk mail for the benchmarks.

    python benchmarks/corpus.py [--count 500] [--seed 2026] [--out DIR]

``build_corpus(count=500, seed=2026)`` returns ``Mail`` objects in delivery order
(every reply comes after the mail it answers). Same arguments, same bytes: dates,
Message-IDs, MIME boundaries and attachment contents all come from the seed.

What is in it (for count=500, see ``describe()``):

* plain-text mail (quoted-printable UTF-8), text+HTML alternatives and HTML-only mail;
* conversations: about 45% of the mails are replies (``Re:``, ``RES:``, ``AW:``,
  ``RE:``) with In-Reply-To and References to the previous mail of their thread and the
  quoted text below, from the customer or a colleague in Cc; every reply carries its
  headers, so Odoo's own gateway threads it the same way on every path;
* attachments from 10 KB to 2 MB (PDF, zip, xlsx, PNG screenshots, CSV), sizes spread
  log-uniformly, about one mail in three has one or two;
* inline images (``multipart/related`` with ``cid:`` references: signature logos and
  pasted screenshots);
* non-ASCII subjects and display names (Portuguese, German, French, Spanish, Polish,
  Japanese), RFC 2047 encoded;
* about 190 senders in 70 companies, so no sender comes near Odoo's loop detection
  (20 new tickets per sender in 2 hours).

Each mail is addressed to ``MAILBOX`` (suporte@contoso.example). ``Mail.received`` is a
UTC datetime one minute after the previous mail, for mailboxes that order by it.
Standard library only; ``big_mail(n_bytes)`` builds one mail with a large attachment
(for benchmarks/memory.py).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import math
import random
import struct
import sys
import time
import unicodedata
import zlib
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

MAILBOX = "suporte@contoso.example"
SUPPORT = Address("Suporte Contoso", addr_spec=MAILBOX)
START = datetime(2026, 3, 2, 11, 0, tzinfo=timezone.utc)
MIN_ATTACHMENT = 10 * 1024
MAX_ATTACHMENT = 2 * 1024 * 1024
SMTP = policy.SMTP  # CRLF line ends, as mail travels


@dataclass
class Mail:
    index: int
    raw: bytes
    message_id: str  # with angle brackets
    subject: str
    sender: str  # address
    received: datetime  # UTC
    thread: int  # index of the first mail of the conversation
    parent_message_id: str | None = None
    attachments: list = field(default_factory=list)  # [(name, size)]
    inline_images: int = 0
    kind: str = "plain"  # plain | alternative | html

    @property
    def is_reply(self):
        return self.parent_message_id is not None


# ------------------------------------------------------------------ people and words
FIRST = {
    "pt": [
        "João",
        "Conceição",
        "Ana Beatriz",
        "Sérgio",
        "Fernanda",
        "Luís",
        "Márcia",
        "Patrícia",
        "Antônio",
        "Gonçalo",
        "Inês",
        "Vinícius",
        "Cláudia",
        "Otávio",
        "Lúcia",
        "André",
        "Letícia",
        "Caio",
        "Débora",
        "Raí",
    ],
    "de": ["Jürgen", "Lukas", "Ingrid", "Björn", "Käthe", "Günther", "Sören", "Jörg"],
    "fr": [
        "Pierre",
        "Hélène",
        "François",
        "Élodie",
        "Noël",
        "Cécile",
        "Jérôme",
        "Anaïs",
    ],
    "es": ["José", "María", "Iñaki", "Begoña", "Ramón", "Lucía"],
    "pl": ["Łukasz", "Małgorzata", "Paweł", "Zofia"],
    "en": ["Emily", "Oliver", "Kevin", "Sarah", "Daniel", "Megan"],
    "ja": ["太郎", "花子", "健一", "由美"],
}
LAST = {
    "pt": [
        "Araújo",
        "Gonçalves",
        "Conceição",
        "Simões",
        "Falcão",
        "Assunção",
        "Magalhães",
        "Brandão",
        "Lima",
        "Souza",
        "Ribeiro",
        "Nogueira",
        "Peçanha",
        "Guimarães",
    ],
    "de": ["Schäfer", "Müller", "Größ", "Köhler", "Weiß", "Bäcker"],
    "fr": ["Lefèvre", "Béranger", "Clément", "Gérard", "Dubois"],
    "es": ["Muñoz", "Ibáñez", "Peña", "Núñez"],
    "pl": ["Wiśniewski", "Łącka", "Żuławski"],
    "en": ["Carter", "Bennett", "Park", "Hughes", "Reed"],
    "ja": ["山田", "佐藤", "鈴木", "高橋"],
}
ASCII = str.maketrans(
    "áàâãäçéèêëíìîïñóòôõöúùûüýÿłśżźąęńćŁŚŻ", "aaaaaceeeeiiiinooooouuuuyylszzaenclsz"
)
COMPANY_WORDS = [
    "padaria",
    "transportes",
    "construtora",
    "clinica",
    "metalurgica",
    "mercado",
    "advocacia",
    "fabrikam",
    "adatum",
    "northwind",
    "tailspin",
    "escritorio",
    "farmacia",
    "logistica",
    "agro",
    "tecelagem",
    "hotel",
    "auto-pecas",
    "grafica",
    "laboratorio",
]
TLDS = {
    "pt": "example.com.br",
    "de": "example.de",
    "fr": "example.fr",
    "es": "example.es",
    "pl": "example.pl",
    "en": "example",
    "ja": "example.jp",
}
LANG_WEIGHTS = [
    ("pt", 60),
    ("en", 12),
    ("de", 8),
    ("fr", 7),
    ("es", 6),
    ("pl", 4),
    ("ja", 3),
]

SUBJECTS = {
    "pt": [
        "Nota fiscal {n} com valor divergente",
        "Boleto {n} – segunda via",
        "Ação necessária: renovação do contrato {n}",
        "Impressora fiscal não emite cupom (loja {n})",
        "Atraso na entrega do pedido {n}",
        "Dúvida sobre cobrança da fatura {n}",
        "Sistema lento após atualização – chamado {n}",
        "Não consigo acessar o portal (usuário {n})",
        "Erro na emissão da NF-e {n}",
        "Solicitação de orçamento nº {n}",
        "Reclamação: produto avariado no pedido {n}",
        "Alteração de endereço de cobrança – cliente {n}",
        "Relatório mensal {n} não chegou",
        "Certificado digital vencido – filial {n}",
        "Integração com o ERP parou (lote {n})",
    ],
    "en": [
        "Invoice {n} shows the wrong amount",
        "Cannot log in to the portal (account {n})",
        "VPN drops every few minutes – site {n}",
        "Request for quotation #{n}",
        "Order {n} arrived damaged",
        "Printer queue stuck on floor {n}",
        "Password reset link expired ({n})",
    ],
    "de": [
        "Rechnung {n} – falscher Betrag",
        "Lieferverzögerung bei Bestellung {n}",
        "Zugang gesperrt (Benutzer {n})",
        "Störung im Lager {n}: Drucker",
    ],
    "fr": [
        "Facture {n} : montant erroné",
        "Problème d'accès au portail ({n})",
        "Commande {n} livrée en retard",
        "Écran bleu sur le poste {n}",
    ],
    "es": [
        "Factura {n} con importe incorrecto",
        "Pedido {n} llegó dañado",
        "No puedo acceder al portal (usuario {n})",
    ],
    "pl": [
        "Faktura {n} – błędna kwota",
        "Zamówienie {n} nie dotarło",
        "Problem z logowaniem ({n})",
    ],
    "ja": [
        "請求書 {n} の金額が違います",
        "注文 {n} の配送遅延について",
        "ログインできません（ユーザー {n}）",
    ],
}
REPLY_PREFIX = {
    "pt": ["RES: ", "Re: ", "RE: "],
    "en": ["Re: ", "RE: "],
    "de": ["AW: ", "Re: "],
    "fr": ["RE : ", "Re: "],
    "es": ["RE: ", "Re: "],
    "pl": ["Odp: ", "Re: "],
    "ja": ["Re: ", "RE: "],
}
BODY_SENTENCES = {
    "pt": [
        "Bom dia, equipe de suporte.",
        "Estamos com um problema que começou ontem à tarde.",
        "Segue em anexo o documento para análise.",
        "Já tentamos reiniciar o equipamento, sem sucesso.",
        "O cliente está cobrando uma posição ainda hoje.",
        "Poderiam verificar com urgência?",
        "A mensagem de erro aparece logo após o login.",
        "O valor cobrado não confere com o pedido de compra.",
        "Agradeço desde já pela atenção.",
        "Qualquer dúvida, estou à disposição pelo telefone (11) 4002-8922.",
        "Isso está impactando o faturamento da filial.",
        "Obrigado pelo retorno rápido.",
    ],
    "en": [
        "Hello support team,",
        "We have had this issue since yesterday afternoon.",
        "Please find the document attached.",
        "We already restarted the machine, without success.",
        "Could you please look into it today?",
        "The error shows right after logging in.",
        "Thanks in advance for your help.",
        "This is blocking our month-end closing.",
        "Thank you for the quick answer.",
    ],
    "de": [
        "Guten Tag,",
        "seit gestern Nachmittag haben wir folgendes Problem.",
        "Anbei das Dokument zur Prüfung.",
        "Ein Neustart hat nicht geholfen.",
        "Könnten Sie sich das bitte heute noch ansehen?",
        "Vielen Dank im Voraus.",
        "Mit freundlichen Grüßen",
    ],
    "fr": [
        "Bonjour,",
        "nous rencontrons ce problème depuis hier après-midi.",
        "Vous trouverez le document ci-joint.",
        "Le redémarrage n'a rien changé.",
        "Pourriez-vous regarder aujourd'hui ?",
        "Merci d'avance pour votre aide.",
        "Cordialement,",
    ],
    "es": [
        "Buenos días,",
        "tenemos este problema desde ayer por la tarde.",
        "Adjunto el documento para su revisión.",
        "¿Podrían revisarlo hoy?",
        "Muchas gracias de antemano.",
        "Saludos cordiales,",
    ],
    "pl": [
        "Dzień dobry,",
        "od wczoraj mamy następujący problem.",
        "W załączniku przesyłam dokument.",
        "Czy mogą Państwo to sprawdzić dzisiaj?",
        "Z góry dziękuję.",
        "Pozdrawiam serdecznie,",
    ],
    "ja": [
        "いつもお世話になっております。",
        "昨日の午後から以下の問題が発生しています。",
        "資料を添付いたします。",
        "本日中にご確認いただけますでしょうか。",
        "よろしくお願いいたします。",
    ],
}
TIMEZONES = {"pt": -3, "en": -5, "de": 1, "fr": 1, "es": 1, "pl": 1, "ja": 9}
ATTACHMENT_KINDS = [
    # (weight, extension, maintype, subtype, stem)
    (
        30,
        "pdf",
        "application",
        "pdf",
        ["nota-fiscal", "boleto", "contrato", "invoice", "relatorio", "Rechnung"],
    ),
    (
        20,
        "png",
        "image",
        "png",
        ["screenshot", "captura de tela", "erro", "Bildschirmfoto"],
    ),
    (15, "zip", "application", "zip", ["logs", "xml-nfe", "export", "backup-config"]),
    (
        15,
        "xlsx",
        "application",
        "vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        ["planilha", "orçamento", "inventário", "report"],
    ),
    (10, "csv", "text", "csv", ["extrato", "pedidos", "export-vendas"]),
    (
        10,
        "docx",
        "application",
        "vnd.openxmlformats-officedocument.wordprocessingml.document",
        ["proposta", "aditivo", "carta"],
    ),
]


# ----------------------------------------------------------------------- payloads
def _png(rng, width, height):
    """A valid RGB PNG whose IDAT holds noise rows (noise does not compress, so the
    file size is about width*height*3): a stand-in for a photo or screenshot."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    row = width * 3
    noise = rng.randbytes(row * height)
    raw = b"".join(b"\x00" + noise[y * row : (y + 1) * row] for y in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 1))
        + chunk(b"IEND", b"")
    )


def _png_of_size(rng, size):
    pixels = max(size // 3, 64)
    width = min(max(int(math.sqrt(pixels * 16 / 9)), 8), 1600)
    height = max(pixels // width, 8)
    return _png(rng, width, height)


def _pdf_of_size(rng, size, title):
    """A PDF with one page and an embedded binary stream of the wanted size
    (compressed content is noise-like too)."""
    text = f"BT /F1 12 Tf 72 770 Td ({title}) Tj ET\n".encode("latin-1", "replace")
    blob = rng.randbytes(max(size - 900, 16))
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
        b"<< /Length %d >>\nstream\n" % len(text) + text + b"endstream",
        b"<< /Type /EmbeddedFile /Length %d >>\nstream\n" % len(blob)
        + blob
        + b"\nendstream",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


def _zip_like(rng, size):
    # PK header + noise: the gateway stores it as is, like any compressed archive.
    return b"PK\x03\x04" + rng.randbytes(max(size - 4, 16))


def _csv_of_size(rng, size):
    lines = ["data;pedido;cliente;valor;situação"]
    total = len(lines[0])
    n = 0
    while total < size:
        n += 1
        line = (
            f"2026-02-{1 + n % 28:02d};{100000 + rng.randrange(900000)};Cliente {rng.randrange(5000)} Ltda.;{rng.randrange(100000) / 100:.2f}".replace(
                ".", ","
            )
            + ";"
            + rng.choice(["pago", "em aberto", "cancelado", "atrasado"])
        )
        lines.append(line)
        total += len(line.encode()) + 2
    return ("\ufeff" + "\r\n".join(lines) + "\r\n").encode()


def _attachment(rng, size, ext, title):
    if ext == "pdf":
        return _pdf_of_size(rng, size, title)
    if ext == "png":
        return _png_of_size(rng, size)
    if ext == "csv":
        return _csv_of_size(rng, size)
    return _zip_like(rng, size)


def _log_uniform(rng, low, high):
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


# -------------------------------------------------------------------------- people
def _ascii(text):
    text = text.translate(ASCII).replace("ß", "ss")
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()


@dataclass
class Person:
    name: str
    address: str
    lang: str
    company: int

    @property
    def header(self):
        return Address(self.name, addr_spec=self.address)


def _people(rng):
    langs, weights = zip(*LANG_WEIGHTS)
    companies = []
    for c in range(70):
        lang = rng.choices(langs, weights)[0]
        word = COMPANY_WORDS[c % len(COMPANY_WORDS)]
        domain = f"{word}-{c:02d}.{TLDS[lang]}"
        staff = []
        for _ in range(rng.choice([2, 2, 3, 3, 4])):
            first, last = rng.choice(FIRST[lang]), rng.choice(LAST[lang])
            name = f"{last} {first}" if lang == "ja" else f"{first} {last}"
            local = (
                f"user{len(staff) + 1}.{c:02d}"
                if lang == "ja"
                else _ascii(f"{first.split()[0]}.{last}".lower())
            )
            if any(p.address.startswith(local + "@") for p in staff):
                local += str(len(staff))
            staff.append(Person(name, f"{local}@{domain}", lang, c))
        companies.append(staff)
    return companies


# --------------------------------------------------------------------- composition
def _body_text(rng, lang, sentences=(3, 7)):
    pool = BODY_SENTENCES[lang]
    count = rng.randint(*sentences)
    paragraphs, para = [], []
    for _ in range(count):
        para.append(rng.choice(pool))
        if len(para) >= 2 and rng.random() < 0.5:
            paragraphs.append(" ".join(para))
            para = []
    if para:
        paragraphs.append(" ".join(para))
    return "\n\n".join(paragraphs)


def _html_of(text, signature_cid=None, inline_cid=None):

    paras = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n"))
    extra = ""
    if inline_cid:
        extra += f'<p><img src="cid:{inline_cid}" alt="captura" width="480"></p>'
    if signature_cid:
        extra += f'<table><tr><td><img src="cid:{signature_cid}" alt="logo" width="120" height="40"></td><td style="color:#555">Enviado do meu computador</td></tr></table>'
    return (
        '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8"></head>'
        f'<body><div style="font-family:Calibri,Arial,sans-serif;font-size:11pt">{paras}{extra}</div></body></html>'
    )


def _quote(previous_text, previous_sender, when):
    quoted = "\n".join(
        "> " + line if line else ">" for line in previous_text.splitlines()
    )
    return f"\n\nEm {when:%d/%m/%Y %H:%M}, {previous_sender} escreveu:\n{quoted}"


def _set_boundaries(msg, index):
    counter = 0
    for part in msg.walk():
        if part.is_multipart():
            counter += 1
            part.set_boundary(f"----=_Part_{index:04d}_{counter}.bench")


def _compose(
    rng,
    i,
    person,
    to_people,
    subject,
    lang,
    when,
    message_id,
    *,
    kind,
    attachments,
    inline,
    in_reply_to=None,
    references=None,
    quote="",
):
    """One mail as bytes, plus the text part (for later quotes)."""
    text = _body_text(rng, lang) + "\n\n" + person.name + quote
    msg = EmailMessage(policy=SMTP)
    msg["From"] = person.header
    msg["To"] = SUPPORT
    if to_people:
        msg["Cc"] = [p.header for p in to_people]
    msg["Subject"] = subject
    msg["Date"] = format_datetime(
        when.astimezone(timezone(timedelta(hours=TIMEZONES[lang])))
    )
    msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
        msg["References"] = " ".join(references)
    msg["MIME-Version"] = "1.0"
    msg["X-Mailer"] = rng.choice(
        ["Microsoft Outlook 16.0", "Thunderbird 128.3", "Apple Mail (2.3774)", "Gmail"]
    )
    inline_cids = []
    if kind == "plain":
        msg.set_content(text, cte="quoted-printable")
    else:
        sig = f"logo{i}@bench.example" if inline else None
        shot = f"shot{i}@bench.example" if inline == 2 else None
        html = _html_of(text, sig, shot)
        if kind == "alternative":
            msg.set_content(text, cte="quoted-printable")
            msg.add_alternative(html, subtype="html", cte="quoted-printable")
            html_part = msg.get_payload()[1]
        else:
            msg.set_content(html, subtype="html", cte="quoted-printable")
            html_part = msg
        for cid, size in ((sig, 6 * 1024), (shot, rng.randint(40, 180) * 1024)):
            if cid:
                data = _png_of_size(rng, size)
                html_part.add_related(
                    data,
                    "image",
                    "png",
                    cid=f"<{cid}>",
                    filename=cid.split("@")[0] + ".png",
                    disposition="inline",
                )
                inline_cids.append(cid)
    listed = []
    for name, (maintype, subtype), data in attachments:
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        listed.append((name, len(data)))
    _set_boundaries(msg, i)
    return msg.as_bytes(policy=SMTP), text, listed, len(inline_cids)


def build_corpus(count=500, seed=2026) -> list[Mail]:
    rng = random.Random(seed)
    companies = _people(rng)
    threads = []  # open conversations: dict
    new_tickets_per_sender = Counter()
    used_numbers = set()
    mails: list[Mail] = []
    kinds, kind_weights = zip(*[(a[1:], a[0]) for a in ATTACHMENT_KINDS])
    for i in range(count):
        when = START + timedelta(minutes=i)
        reply = threads and rng.random() < 0.45
        if reply:
            # Replies go to recent conversations mostly.
            thread = rng.choice(threads[-40:])
            staff = companies[thread["company"]]
            person = rng.choice(staff)
            lang = thread["lang"]
            previous = thread["last"]
            subject = rng.choice(REPLY_PREFIX[lang]) + thread["subject"]
            quote = _quote(previous["text"], previous["name"], previous["when"])
            refs = thread["refs"][-10:]
            in_reply_to = thread["refs"][-1]
            cc = [p for p in staff if p is not person][: rng.randint(0, 1)]
        else:
            while True:
                staff = rng.choice(companies)
                person = rng.choice(staff)
                if new_tickets_per_sender[person.address] < 10:
                    break
            new_tickets_per_sender[person.address] += 1
            lang = person.lang
            while True:
                number = rng.randrange(10000, 99999)
                if number not in used_numbers:
                    used_numbers.add(number)
                    break
            subject = rng.choice(SUBJECTS[lang]).format(n=number)
            quote, refs, in_reply_to = "", None, None
            cc = [p for p in staff if p is not person][: rng.choice([0, 0, 1, 2])]
        message_id = f"<bench-{seed}-{i:04d}.{rng.getrandbits(40):010x}@{person.address.split('@')[1]}>"
        kind = rng.choices(["plain", "alternative", "html"], [40, 45, 15])[0]
        inline = 0 if kind == "plain" else rng.choices([0, 1, 2], [70, 18, 12])[0]
        attachments = []
        if rng.random() < 0.33:
            for _ in range(rng.choice([1, 1, 1, 2])):
                ext, maintype, subtype, stems = rng.choices(kinds, kind_weights)[0]
                size = _log_uniform(rng, MIN_ATTACHMENT, MAX_ATTACHMENT)
                name = f"{rng.choice(stems)}-{i:04d}.{ext}"
                data = _attachment(rng, size, ext, subject)
                attachments.append((name, (maintype, subtype), data))
        raw, text, listed, n_inline = _compose(
            rng,
            i,
            person,
            cc,
            subject,
            lang,
            when,
            message_id,
            kind=kind,
            attachments=attachments,
            inline=inline,
            in_reply_to=in_reply_to,
            references=refs,
            quote=quote,
        )
        last = {"text": text, "name": person.name, "when": when}
        if reply:
            thread["refs"].append(message_id)
            thread["last"] = last
            thread_index = thread["index"]
            parent = in_reply_to
            # Keep recently active conversations at the end of the list.
            threads.remove(thread)
            threads.append(thread)
        else:
            threads.append(
                {
                    "index": i,
                    "company": person.company,
                    "lang": lang,
                    "subject": subject,
                    "refs": [message_id],
                    "last": last,
                }
            )
            thread_index, parent = i, None
        mails.append(
            Mail(
                i,
                raw,
                message_id,
                subject,
                person.address,
                when,
                thread_index,
                parent,
                listed,
                n_inline,
                kind,
            )
        )
    return mails


def expected_threads(mails) -> dict:
    """{ticket title: number of replies}: what every path must produce."""
    by_root = {m.index: m.subject for m in mails if not m.is_reply}
    replies = Counter(m.thread for m in mails if m.is_reply)
    return {subject: replies.get(index, 0) for index, subject in by_root.items()}


def describe(mails) -> dict:
    sizes = [len(m.raw) for m in mails]
    att = [s for m in mails for _, s in m.attachments]
    return {
        "mails": len(mails),
        "new_conversations": sum(not m.is_reply for m in mails),
        "replies": sum(m.is_reply for m in mails),
        "plain": sum(m.kind == "plain" for m in mails),
        "alternative": sum(m.kind == "alternative" for m in mails),
        "html_only": sum(m.kind == "html" for m in mails),
        "with_attachments": sum(bool(m.attachments) for m in mails),
        "attachments": len(att),
        "attachment_kb_min": round(min(att) / 1024) if att else 0,
        "attachment_kb_max": round(max(att) / 1024) if att else 0,
        "with_inline_images": sum(bool(m.inline_images) for m in mails),
        "non_ascii_subjects": sum(not m.subject.isascii() for m in mails),
        "senders": len({m.sender for m in mails}),
        "total_mb": round(sum(sizes) / 1e6, 1),
        "median_kb": round(sorted(sizes)[len(sizes) // 2] / 1024, 1),
        "max_kb": round(max(sizes) / 1024),
    }


def write_eml_dir(mails, directory) -> list[Path]:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for m in mails:
        path = directory / f"{m.index:04d}.eml"
        path.write_bytes(m.raw)
        paths.append(path)
    return paths


def big_mail(
    attachment_bytes,
    seed=50,
    message_id="<bench-big-attachment@cliente.example.com.br>",
    subject="Backup do servidor – arquivo grande",
    filename="backup-servidor.zip",
):
    """One plain mail with one attachment of ``attachment_bytes`` random bytes."""
    rng = random.Random(seed)
    msg = EmailMessage(policy=SMTP)
    msg["From"] = Address(
        "Antônio Simões", addr_spec="antonio.simoes@cliente.example.com.br"
    )
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Date"] = format_datetime(START.astimezone(timezone(timedelta(hours=-3))))
    msg["Message-ID"] = message_id
    msg.set_content(
        "Bom dia,\n\nsegue o arquivo de backup solicitado.\n\nAntônio\n",
        cte="quoted-printable",
    )
    # base64 by hand: EmailMessage's encoder is slow on tens of megabytes.
    part = EmailMessage(policy=SMTP)
    part["Content-Type"] = "application/zip"
    part["Content-Disposition"] = f'attachment; filename="{filename}"'
    part["Content-Transfer-Encoding"] = "base64"
    placeholder = b"@@PAYLOAD@@"
    part.set_payload("@@PAYLOAD@@")
    msg.make_mixed()
    msg.attach(part)
    _set_boundaries(msg, 0)
    head, tail = msg.as_bytes(policy=SMTP).split(placeholder, 1)
    encoded = base64.encodebytes(
        b"PK\x03\x04" + rng.randbytes(attachment_bytes - 4)
    ).replace(b"\n", b"\r\n")
    return head + encoded + tail.lstrip(b"\r\n")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--out", help="write NNNN.eml files here")
    args = parser.parse_args(argv)

    t0 = time.monotonic()
    mails = build_corpus(args.count, args.seed)
    digest = hashlib.sha256(b"".join(m.raw for m in mails)).hexdigest()[:16]
    if args.out:
        write_eml_dir(mails, args.out)
    info = describe(mails)
    info["sha256"] = digest
    info["seconds"] = round(time.monotonic() - t0, 1)
    print(" ".join(f"{k}={v}" for k, v in info.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
