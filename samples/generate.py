#!/usr/bin/env python3
# The sample texts are data: real mail has long lines and typographic dashes.
# ruff: noqa: E501, RUF001
"""Writes the sandbox sample-mail corpus to samples/sandbox/NN-short-name.eml.

Standard library only, fully deterministic: fixed dates (9 and 10 November
2026), fixed Message-IDs (<sandbox-NN@sender-domain>), fixed MIME boundaries
and attachments built from fixed recipes. Running it twice gives identical
bytes. Every file is addressed to suporte@contoso.example, the scanned
mailbox, and uses CRLF line ends, as mail travels over SMTP.

    python3 samples/generate.py          # (re)write samples/sandbox/*.eml
    python3 samples/generate.py --check  # also parse every file back

See samples/README.md for what each file exercises.
"""

import argparse
import email
import hashlib
import io
import struct
import sys
import zipfile
import zlib
from datetime import datetime, timedelta, timezone
from email import policy
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

OUT_DIR = Path(__file__).resolve().parent / "sandbox"
MAILBOX = "suporte@contoso.example"
SUPPORT = "Suporte Contoso <suporte@contoso.example>"

BRT = timezone(timedelta(hours=-3), "BRT")  # São Paulo, no DST since 2019
UTC = timezone.utc
CET = timezone(timedelta(hours=1), "CET")
EST = timezone(timedelta(hours=-5), "EST")
PST = timezone(timedelta(hours=-8), "PST")

# People -----------------------------------------------------------------
JOAO = "João Araújo <joao.araujo@cliente.example.com.br>"
PAULA = "Paula Ribeiro <paula.ribeiro@cliente.example.com.br>"
MARIA = "Maria da Conceição <maria.conceicao@padaria-estrela.example.com.br>"
ROBERTO = "Roberto Tavares <roberto.tavares@padaria-estrela.example.com.br>"
OLIVER = "Oliver Bennett <oliver.bennett@fabrikam.example>"
CARLOS = "Carlos Eduardo Lima <carlos.lima@escritorio-lima.example.com.br>"
ANA = "Ana Beatriz Souza <ana.souza@transportes-sul.example.com.br>"
RAFAEL = "Rafael Nogueira <rafael.nogueira@transportes-sul.example.com.br>"
LOGISTICA = "Logística Transportes Sul <logistica@transportes-sul.example.com.br>"
FERNANDA = (
    "Fernanda Gonçalves <fernanda.goncalves@construtora-horizonte.example.com.br>"
)
SERGIO = "Sérgio Almeida <sergio.almeida@construtora-horizonte.example.com.br>"
EMILY = "Emily Carter <emily.carter@northwind.example>"
LUCIANA = "Luciana Prado <luciana.prado@clinica-vida.example.com.br>"
LUKAS = "Lukas Schäfer <lukas.schaefer@adatum.example>"
INGRID = "Ingrid Müller <ingrid.mueller@adatum.example>"
PIERRE = "Pierre Lefèvre <pierre.lefevre@adatum.example>"
THIAGO = "Thiago Martins <thiago.martins@cliente.example.com.br>"
TI_LIST = "TI Cliente <ti@cliente.example.com.br>"
PATRICIA = "Patrícia Mendes <patricia.mendes@mendes-advogados.example.com.br>"
JULIANA = "Juliana Castro <juliana.castro@clinica-vida.example.com.br>"
KEVIN = "Kevin Park <kevin.park@tailspin.example>"
MARCOS = "Marcos Vinícius Rocha <marcos.rocha@cliente.example.com.br>"
EDUARDO = "Eduardo Pires <eduardo.pires@metalurgica-pires.example.com.br>"
BEATRIZ = "Beatriz Fonseca <beatriz.fonseca@cliente.example.com.br>"
RENATA = "Renata Oliveira <renata.oliveira@mercado-bom-preco.example.com.br>"


def addr(person):
    return person.rsplit("<", 1)[1].rstrip(">")


def domain(person):
    return addr(person).split("@", 1)[1]


def mid(nn, person):
    return f"<sandbox-{nn:02d}@{domain(person)}>"


# Attachments built by hand -----------------------------------------------
def make_pdf(lines):
    """A minimal valid one-page PDF 1.4 (Helvetica, WinAnsi text)."""

    def esc(text):
        return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")

    ops = ["BT", "/F1 12 Tf", "14 TL", "72 770 Td"]
    for line in lines:
        ops.append(f"({esc(line)}) Tj T*")
    ops.append("ET")
    stream = ("\n".join(ops) + "\n").encode("cp1252")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
        b"/Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
        b"/Encoding /WinAnsiEncoding >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"endstream",
        b"<< /Producer (samples/generate.py) /CreationDate (D:20261109080000-03'00') >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += (
        b"trailer\n<< /Size %d /Root 1 0 R /Info 6 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, xref)
    )
    return bytes(out)


def make_png(width, height, pixel):
    """A valid 8-bit RGB PNG; pixel(x, y) returns an (r, g, b) tuple."""

    def chunk(kind, data):
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = bytearray()
    for y in range(height):
        raw.append(0)  # filter: none
        for x in range(width):
            raw.extend(pixel(x, y))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
        + chunk(b"IEND", b"")
    )


def gradient_png():
    """64x64 diagonal gradient (a photo of the faulty printer, say)."""
    return make_png(64, 64, lambda x, y: (x * 4, y * 4, 255 - (x + y) * 2))


def logo_png():
    """120x40 e-mail signature logo: teal band with a white square mark."""

    def pixel(x, y):
        if 8 <= x < 32 and 8 <= y < 32:
            return (255, 255, 255)
        if y >= 36:
            return (240, 160, 40)
        return (0, 120 + x // 2, 130)

    return make_png(120, 40, pixel)


def screenshot_png(accent=(200, 40, 40)):
    """320x200 mock screenshot: title bar, window body and an error dialog."""

    def pixel(x, y):
        if y < 18:
            return (30, 90, 170)
        if 80 <= x < 240 and 70 <= y < 130:
            if y < 84:
                return accent
            if 200 <= x < 230 and 112 <= y < 124:
                return (220, 220, 220)
            return (250, 250, 250)
        if x < 60:
            return (235, 238, 242)
        if (y // 12) % 2:
            return (255, 255, 255)
        return (246, 248, 250)

    return make_png(320, 200, pixel)


ZIP_DATE = (2026, 11, 9, 11, 30, 0)


def make_zip(entries):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in entries:
            info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 0
            archive.writestr(info, data)
    return buffer.getvalue()


def make_docx(paragraphs):
    """A minimal but real .docx (Word opens it): three parts in a zip."""
    body = "".join(
        f'<w:p><w:r><w:t xml:space="preserve">{p}</w:t></w:r></w:p>' for p in paragraphs
    )
    return make_zip(
        [
            (
                "[Content_Types].xml",
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
                '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
                '<Default Extension="xml" ContentType="application/xml"/>'
                '<Override PartName="/word/document.xml" ContentType="application/'
                'vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/>'
                "</Types>",
            ),
            (
                "_rels/.rels",
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
                '<Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/'
                '2006/relationships/officeDocument" Target="word/document.xml"/>'
                "</Relationships>",
            ),
            (
                "word/document.xml",
                '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'
                '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
                f"<w:body>{body}</w:body></w:document>",
            ),
        ]
    )


def pseudo_random_bytes(size, seed=b"mail_scanner_oauth2 sandbox"):
    """Deterministic incompressible bytes (SHA-256 in counter mode)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(seed + counter.to_bytes(8, "big")).digest()
        counter += 1
    return bytes(out[:size])


def device_log_bin():
    """~160 KB 'equipment log dump': a small header, then binary records."""
    header = (
        b"REPPLOG\x00"
        + struct.pack("<HHI", 3, 1, 20261109)
        + b"Relogio Ponto RP-200\x00" * 2
    )
    return header + pseudo_random_bytes(160 * 1024 - len(header))


CSV_REPORT = (
    "\ufeffchamado;aberto_em;cliente;categoria;status;horas\r\n"
    "2026-1001;01/10/2026;Clínica Vida - Matriz;Acesso;Concluído;1,5\r\n"
    "2026-1002;02/10/2026;Clínica Vida - Filial Moema;Impressão;Concluído;0,75\r\n"
    "2026-1003;05/10/2026;Clínica Vida - Matriz;E-mail;Concluído;2,0\r\n"
    "2026-1004;07/10/2026;Clínica Vida - Filial Moema;Rede;Em andamento;3,25\r\n"
    "2026-1005;12/10/2026;Clínica Vida - Matriz;Acesso;Concluído;0,5\r\n"
    "2026-1006;19/10/2026;Clínica Vida - Filial Santana;Hardware;Concluído;4,0\r\n"
    "2026-1007;26/10/2026;Clínica Vida - Matriz;E-mail;Cancelado;0,0\r\n"
    "2026-1008;30/10/2026;Clínica Vida - Filial Moema;Acesso;Concluído;1,0\r\n"
    ";;;;total;13,0\r\n"
)


# Building blocks -----------------------------------------------------------
def dt(day, hh, mm, tz=BRT, ss=0):
    return datetime(2026, 11, day, hh, mm, ss, tzinfo=tz)


def new_message(
    nn,
    sender,
    subject,
    date,
    to=MAILBOX,
    cc=None,
    msgid=None,
    in_reply_to=None,
    references=None,
    headers=(),
):
    msg = EmailMessage(policy=policy.SMTP)
    msg["From"] = sender
    msg["To"] = to
    if cc:
        msg["Cc"] = ", ".join(cc) if isinstance(cc, (list, tuple)) else cc
    msg["Subject"] = subject
    msg["Date"] = format_datetime(date)
    msg["Message-ID"] = msgid or mid(nn, sender)
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    for name, value in headers:
        msg[name] = value
    return msg


def text(msg, body, subtype="plain"):
    """Sets (or adds as alternative) a text part; QP when not plain ASCII."""
    cte = None if body.isascii() else "quoted-printable"
    if msg.get_payload() is None:
        msg.set_content(body, subtype=subtype, cte=cte)
    else:
        msg.add_alternative(body, subtype=subtype, cte=cte)
    return msg


def attach(msg, data, filename, mimetype):
    maintype, subtype = mimetype.split("/", 1)
    msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)


def quote(body):
    return "\n".join(
        ("> " + line) if line else ">" for line in body.rstrip("\n").split("\n")
    )


def outlook_header(sender, date, to, subject, cc=None, lang="pt"):
    """The header block Outlook puts above the quoted original."""
    when = format_datetime(date)
    if lang == "pt":
        lines = [f"De: {sender}", f"Enviado: {when}", f"Para: {to}"]
        if cc:
            lines.append(f"Cc: {cc}")
        lines.append(f"Assunto: {subject}")
    else:
        lines = [f"From: {sender}", f"Sent: {when}", f"To: {to}"]
        if cc:
            lines.append(f"Cc: {cc}")
        lines.append(f"Subject: {subject}")
    return "\n".join(lines)


def fix_boundaries(msg, nn):
    """The email package picks random boundaries; ours are fixed."""
    for index, part in enumerate(msg.walk()):
        if part.is_multipart() and part.get_content_maintype() == "multipart":
            part.set_boundary(f"----=_Part_sandbox_{nn:02d}_{index}")
    return msg


def to_bytes(msg, nn):
    return fix_boundaries(msg, nn).as_bytes(policy=policy.SMTP)


def html_doc(inner):
    return (
        '<html>\n<head>\n<meta http-equiv="Content-Type" content="text/html; charset=utf-8">\n'
        "</head>\n<body>\n" + inner + "\n</body>\n</html>\n"
    )


# The corpus ----------------------------------------------------------------
# Each sample is (short-name, function(nn) -> bytes). Order = delivery order.
SAMPLES = []


def sample(name):
    def register(func):
        SAMPLES.append((name, func))
        return func

    return register


# Texts reused by replies (they quote them).
BODY_01 = """Bom dia,

Recebemos a nota fiscal nº 4521 referente aos serviços de outubro, mas o valor
está diferente do contrato: veio R$ 3.870,00 e o combinado é R$ 3.450,00.

Podem verificar se houve algum serviço avulso cobrado? Se for erro, preciso da
carta de correção ou do cancelamento até sexta-feira, porque o fechamento
contábil é no dia 13.

Coloquei a Paula, do financeiro, em cópia.

Obrigado,
João Araújo
Coordenador Administrativo
(11) 3555-0142
"""

BODY_02_TEXT = """Olá, boa tarde!

O boleto da mensalidade de novembro venceu ontem (08/11) e não consegui pagar
a tempo porque o e-mail caiu no lixo eletrônico. Vocês podem me enviar a
segunda via com a data atualizada?

CNPJ: 12.345.678/0001-90
Razão social: Padaria e Confeitaria Estrela Ltda.

Atenciosamente,
Maria da Conceição
"""

BODY_02_HTML = html_doc(
    """<div style="font-family:Calibri,Arial,sans-serif;font-size:11pt">
<p>Olá, boa tarde!</p>
<p>O boleto da mensalidade de <b>novembro</b> venceu ontem (08/11) e não consegui pagar
a tempo porque o e-mail caiu no lixo eletrônico. Vocês podem me enviar a
<b>segunda via</b> com a data atualizada?</p>
<table border="0" cellpadding="2">
<tr><td>CNPJ:</td><td>12.345.678/0001-90</td></tr>
<tr><td>Razão social:</td><td>Padaria e Confeitaria Estrela Ltda.</td></tr>
</table>
<p>Atenciosamente,<br>Maria da Conceição</p>
</div>"""
)

BODY_03 = """Hello,

I reset my password on the customer portal this morning using the "Forgot
password" link. The reset itself worked (I got the confirmation e-mail), but
every login attempt since then ends with "Your account is locked. Contact your
administrator." I have tried three times at most, so I don't think I triggered
the lockout myself.

Username: oliver.bennett
Browser: Edge 131 on Windows 11

Could you unlock the account? I need to approve two purchase orders today.

Thanks,
Oliver Bennett
Procurement | Fabrikam
"""

BODY_04_HTML = html_doc(
    """<p>Prezados,</p>
<p>A impressora <b>HP LaserJet M428</b> do 2º andar (patrimônio 00731) parou de imprimir
desde ontem à tarde. No painel aparece <i>“Erro 49.4C02 – desligue e ligue”</i>; já
desligamos e ligamos várias vezes e o erro volta.</p>
<p>Os trabalhos ficam parados na fila do servidor de impressão. Conseguem enviar
um técnico ainda hoje? Temos contratos para imprimir e assinar amanhã cedo.</p>
<p>Grato,<br>
Carlos Eduardo Lima<br>
Escritório Lima Contabilidade</p>"""
)

BODY_05 = """Boa tarde,

O pedido 78812 (2 notebooks e 3 monitores) tinha entrega prevista para
05/11 e até agora não chegou. O rastreio parou em "em trânsito" no CD de
Campinas desde o dia 3.

Precisamos desses equipamentos para os novos motoristas que começam na
segunda-feira. Podem confirmar uma nova data de entrega?

Copiei o Rafael e a equipe de logística.

Ana Beatriz Souza
Transportes Sul — Compras
"""

BODY_06_TEXT = """Prezados,

Recebemos o aviso de que o contrato de manutenção predial nº CT-2025/118
vence em 30/11/2026 e que é necessária uma ação nossa para a renovação.

Antes de assinar, precisamos:
  1. da proposta com o reajuste pelo IPCA;
  2. da lista atualizada de equipamentos cobertos;
  3. da confirmação de que o atendimento aos sábados continua incluído.

O Sérgio, da diretoria, está em cópia e aprova a renovação.

Att.,
Fernanda Gonçalves
Construtora Horizonte
"""

BODY_06_HTML = html_doc(
    """<div style="font-family:Segoe UI,Arial,sans-serif;font-size:10.5pt">
<p>Prezados,</p>
<p>Recebemos o aviso de que o contrato de manutenção predial nº <b>CT-2025/118</b>
vence em <b>30/11/2026</b> e que é necessária uma ação nossa para a renovação.</p>
<p>Antes de assinar, precisamos:</p>
<ol>
<li>da proposta com o reajuste pelo IPCA;</li>
<li>da lista atualizada de equipamentos cobertos;</li>
<li>da confirmação de que o atendimento aos sábados continua incluído.</li>
</ol>
<p>O Sérgio, da diretoria, está em cópia e aprova a renovação.</p>
<p>Att.,<br>Fernanda Gonçalves<br><span style="color:#888">Construtora Horizonte</span></p>
</div>"""
)

SUBJECT_01 = "Dúvida sobre a nota fiscal de outubro"
SUBJECT_02 = "Boleto vencido – preciso da segunda via"
SUBJECT_03 = "Locked out of the customer portal after password reset"
SUBJECT_04 = "Impressora do 2º andar não imprime"
SUBJECT_05 = "Atraso na entrega do pedido 78812"
SUBJECT_06 = "Ação necessária: renovação do contrato de manutenção"
SUBJECT_08 = "Question about invoice INV-2026-1187"
SUBJECT_10 = "Divergência no relatório de chamados de outubro"
SUBJECT_11 = "VPN drops every 10 minutes since Friday's update"
SUBJECT_13 = "Erro ao emitir NF-e pelo sistema"

BODY_08 = """Hi,

Please find attached invoice INV-2026-1187. It bills 12 user licences, but we
cancelled two of them on 15 October (ticket confirmation attached to our
earlier e-mail), so it should be 10.

Could you issue a corrected invoice? Our accounts payable run is on the 20th.

Best regards,
Emily Carter
Accounts Payable, Northwind Traders
+1 (555) 010-4477
"""

BODY_10 = """Olá,

Segue em anexo o relatório de chamados de outubro exportado do portal.
Pelo contrato temos 10 horas mensais e o relatório soma 13 horas, mas o
chamado 2026-1004 ainda está "Em andamento" e o 2026-1007 foi cancelado.

Podem revisar o cálculo antes de faturar?

Luciana Prado
Clínica Vida — Administrativo
"""

BODY_11 = """Hi team,

Since the VPN client was updated on Friday (version 7.2.1), the connection
drops roughly every 10 minutes for everyone in the Munich office. Reconnecting
works, but Teams calls and RDP sessions are cut every time.

Things we checked:
- it happens on cable and on Wi-Fi;
- colleagues still on 7.1.4 are not affected;
- the client log shows "DPD timeout, peer not responding" just before each drop.

Ingrid and Pierre are in copy as they see the same problem.

Regards,
Lukas Schäfer
IT Operations, Adatum
"""

BODY_13 = """Boa tarde,

Ao emitir NF-e pelo sistema aparece a mensagem "Rejeição 539: Duplicidade de
NF-e com diferença na chave de acesso" e a nota não é autorizada. Anexei um
print da tela.

Isso começou hoje depois do almoço; de manhã emitimos 14 notas sem problema.

Thiago Martins
Faturamento
"""


@sample("nota-fiscal-duvida")
def s01(nn):
    msg = new_message(
        nn,
        JOAO,
        SUBJECT_01,
        dt(9, 8, 2),
        cc=[PAULA],
        headers=[("Content-Language", "pt-BR"), ("X-Mailer", "Microsoft Outlook 16.0")],
    )
    return to_bytes(text(msg, BODY_01), nn)


@sample("boleto-segunda-via-html")
def s02(nn):
    msg = new_message(
        nn,
        MARIA,
        SUBJECT_02,
        dt(9, 8, 15),
        cc=[ROBERTO],
        headers=[("Content-Language", "pt-BR")],
    )
    text(msg, BODY_02_TEXT)
    text(msg, BODY_02_HTML, "html")
    return to_bytes(msg, nn)


@sample("login-locked-out")
def s03(nn):
    msg = new_message(
        nn,
        OLIVER,
        SUBJECT_03,
        dt(9, 11, 31, UTC),
        headers=[("Content-Language", "en-GB")],
    )
    return to_bytes(text(msg, BODY_03), nn)


@sample("impressora-html-only")
def s04(nn):
    msg = new_message(nn, CARLOS, SUBJECT_04, dt(9, 8, 47))
    return to_bytes(text(msg, BODY_04_HTML, "html"), nn)


@sample("atraso-entrega-cc")
def s05(nn):
    msg = new_message(nn, ANA, SUBJECT_05, dt(9, 9, 5), cc=[RAFAEL, LOGISTICA])
    return to_bytes(text(msg, BODY_05), nn)


@sample("acao-necessaria-renovacao")
def s06(nn):
    msg = new_message(
        nn,
        FERNANDA,
        SUBJECT_06,
        dt(9, 9, 20),
        cc=[SERGIO],
        headers=[("Importance", "high"), ("X-Priority", "1")],
    )
    text(msg, BODY_06_TEXT)
    text(msg, BODY_06_HTML, "html")
    return to_bytes(msg, nn)


@sample("re-nota-fiscal-complemento")
def s07(nn):
    # The customer replies-all to his own mail to add information.
    body = (
        "Complementando: o serviço avulso que pode ter entrado é a visita técnica\n"
        "do dia 22/10, mas ela estava coberta pelo contrato (chamado aberto pelo\n"
        "portal). Segue também a chave da NF:\n"
        "3526 1112 3456 7800 0190 5500 1000 0045 2110 0004 5217\n\n"
        "João\n\n"
        "________________________________\n"
        + outlook_header(JOAO, dt(9, 8, 2), MAILBOX, SUBJECT_01, cc=PAULA)
        + "\n\n"
        + BODY_01
    )
    msg = new_message(
        nn,
        JOAO,
        "RE: " + SUBJECT_01,
        dt(9, 9, 41),
        cc=[PAULA],
        in_reply_to=mid(1, JOAO),
        references=[mid(1, JOAO)],
    )
    return to_bytes(text(msg, body), nn)


@sample("invoice-pdf-attachment")
def s08(nn):
    msg = new_message(nn, EMILY, SUBJECT_08, dt(9, 7, 55, EST))
    text(msg, BODY_08)
    pdf = make_pdf(
        [
            "Contoso Ltda. - INVOICE INV-2026-1187",
            "Bill to: Northwind Traders, 4110 Old Redmond Rd.",
            "Date: 2026-11-02        Due: 2026-11-20",
            "",
            "12 x Helpdesk user licence (November)    USD 1,080.00",
            "Tax                                      USD     0.00",
            "Total                                    USD 1,080.00",
        ]
    )
    attach(msg, pdf, "INV-2026-1187.pdf", "application/pdf")
    return to_bytes(msg, nn)


@sample("re-boleto-colega-cc")
def s09(nn):
    # The colleague who was in Cc answers (reply-all), HTML with the quote.
    reply_html = html_doc(
        """<div style="font-family:Calibri,Arial,sans-serif;font-size:11pt">
<p>Complementando o e-mail da Maria: por favor, emitam a segunda via no CNPJ da
<b>filial</b> (12.345.678/0002-71), que é quem paga a mensalidade desde setembro.</p>
<p>Obrigado,<br>Roberto Tavares<br>Financeiro – Padaria Estrela</p>
</div>
<hr>
<div id="divRplyFwdMsg"><b>De:</b> Maria da Conceição &lt;maria.conceicao@padaria-estrela.example.com.br&gt;<br>
<b>Enviado:</b> segunda-feira, 9 de novembro de 2026 08:15<br>
<b>Para:</b> suporte@contoso.example<br>
<b>Cc:</b> Roberto Tavares<br>
<b>Assunto:</b> Boleto vencido – preciso da segunda via</div>
<blockquote style="margin:0 0 0 .8ex;border-left:1px #ccc solid;padding-left:1ex">
<p>O boleto da mensalidade de <b>novembro</b> venceu ontem (08/11) e não consegui pagar
a tempo porque o e-mail caiu no lixo eletrônico. Vocês podem me enviar a
<b>segunda via</b> com a data atualizada?</p>
</blockquote>"""
    )
    reply_text = (
        "Complementando o e-mail da Maria: por favor, emitam a segunda via no CNPJ\n"
        "da filial (12.345.678/0002-71), que é quem paga a mensalidade desde setembro.\n\n"
        "Obrigado,\nRoberto Tavares\nFinanceiro – Padaria Estrela\n\n"
        + outlook_header(MARIA, dt(9, 8, 15), MAILBOX, SUBJECT_02, cc="Roberto Tavares")
        + "\n\n"
        + quote(BODY_02_TEXT)
        + "\n"
    )
    msg = new_message(
        nn,
        ROBERTO,
        "RE: " + SUBJECT_02,
        dt(9, 10, 10),
        cc=[MARIA],
        in_reply_to=mid(2, MARIA),
        references=[mid(2, MARIA)],
    )
    text(msg, reply_text)
    text(msg, reply_html, "html")
    return to_bytes(msg, nn)


@sample("relatorio-csv")
def s10(nn):
    msg = new_message(nn, LUCIANA, SUBJECT_10, dt(9, 10, 26))
    text(msg, BODY_10)
    attach(
        msg,
        CSV_REPORT.encode("utf-8"),
        "relatorio-chamados-outubro-2026.csv",
        "text/csv",
    )
    return to_bytes(msg, nn)


@sample("vpn-drops-cc")
def s11(nn):
    msg = new_message(
        nn,
        LUKAS,
        SUBJECT_11,
        dt(9, 14, 48, CET),
        cc=[INGRID, PIERRE],
        headers=[("Content-Language", "en-US")],
    )
    return to_bytes(text(msg, BODY_11), nn)


@sample("re-login-customer")
def s12(nn):
    body = (
        "Quick update: I also tried from a colleague's PC and in a private window,\n"
        "same message. So it is not a browser cache issue.\n\n"
        "Oliver\n\n"
        "On Mon, 9 Nov 2026 at 11:31, Oliver Bennett <oliver.bennett@fabrikam.example> wrote:\n"
        + quote(BODY_03)
        + "\n"
    )
    msg = new_message(
        nn,
        OLIVER,
        "Re: " + SUBJECT_03,
        dt(9, 14, 3, UTC),
        in_reply_to=mid(3, OLIVER),
        references=[mid(3, OLIVER)],
        headers=[("User-Agent", "Mozilla Thunderbird")],
    )
    return to_bytes(text(msg, body), nn)


def build_13(nn, extra_headers=()):
    msg = new_message(
        13, THIAGO, SUBJECT_13, dt(9, 11, 20), cc=[TI_LIST], headers=list(extra_headers)
    )
    text(msg, BODY_13)
    attach(msg, screenshot_png(), "erro-rejeicao-539.png", "image/png")
    return to_bytes(msg, 13)


@sample("erro-nfe-print-png")
def s13(nn):
    return build_13(nn)


@sample("aditivo-contrato-docx")
def s14(nn):
    body = (
        "Prezados,\n\n"
        "Segue a minuta do aditivo contratual (inclusão de 5 licenças e suporte\n"
        "estendido até as 22h) para revisão. Marquei em amarelo as cláusulas 3.2 e\n"
        "7.1, que mudaram em relação à versão anterior.\n\n"
        "Aguardo retorno até quinta-feira.\n\n"
        "Dra. Patrícia Mendes\nMendes Advogados Associados\n"
    )
    msg = new_message(
        nn, PATRICIA, "Minuta do aditivo contratual para revisão", dt(9, 11, 45)
    )
    text(msg, body)
    docx = make_docx(
        [
            "ADITIVO Nº 2 AO CONTRATO DE PRESTAÇÃO DE SERVIÇOS DE SUPORTE",
            "Cláusula 3.2 – Ficam incluídas 5 (cinco) licenças adicionais.",
            "Cláusula 7.1 – O horário de atendimento passa a ser das 8h às 22h.",
            "São Paulo, 9 de novembro de 2026.",
        ]
    )
    attach(
        msg,
        docx,
        "Minuta_Aditivo_02_v3.docx",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    )
    return to_bytes(msg, nn)


@sample("re-impressora-html")
def s15(nn):
    html = html_doc(
        """<p>Atualizando: agora a impressora nem liga o painel, só a luz laranja pisca.
Deixamos desligada da tomada. O técnico pode vir a partir das 14h.</p>
<p>Carlos</p>
<div style="border-top:1px solid #e1e1e1;padding-top:3pt">
<b>De:</b> Carlos Eduardo Lima<br><b>Enviado:</b> segunda-feira, 9 de novembro de 2026 08:47<br>
<b>Para:</b> suporte@contoso.example<br><b>Assunto:</b> Impressora do 2º andar não imprime</div>
<blockquote>
<p>A impressora <b>HP LaserJet M428</b> do 2º andar (patrimônio 00731) parou de imprimir
desde ontem à tarde. No painel aparece <i>“Erro 49.4C02 – desligue e ligue”</i>.</p>
</blockquote>"""
    )
    msg = new_message(
        nn,
        CARLOS,
        "RES: " + SUBJECT_04,
        dt(9, 13, 10),
        in_reply_to=mid(4, CARLOS),
        references=[mid(4, CARLOS)],
    )
    text(msg, html, "html")
    attach(msg, gradient_png(), "painel-impressora.png", "image/png")
    return to_bytes(msg, nn)


@sample("assinatura-logo-inline")
def s16(nn):
    plain = (
        "Olá,\n\n"
        "Por favor, cadastrem a nova recepcionista no sistema de agendamento:\n"
        "  Nome: Camila Duarte\n  E-mail: camila.duarte@clinica-vida.example.com.br\n"
        "  Perfil: Recepção – Filial Moema\n\n"
        "Ela começa na quarta-feira.\n\n"
        "Juliana Castro\nGerente Administrativa | Clínica Vida\n"
    )
    html = html_doc(
        """<p>Olá,</p>
<p>Por favor, cadastrem a nova recepcionista no sistema de agendamento:</p>
<ul><li>Nome: Camila Duarte</li>
<li>E-mail: camila.duarte@clinica-vida.example.com.br</li>
<li>Perfil: Recepção – Filial Moema</li></ul>
<p>Ela começa na quarta-feira.</p>
<table cellpadding="0" cellspacing="0"><tr>
<td style="padding-right:10px"><img src="cid:logo-clinica-vida@clinica-vida.example.com.br" width="120" height="40" alt="Clínica Vida"></td>
<td style="font-size:9pt;color:#555"><b>Juliana Castro</b><br>Gerente Administrativa | Clínica Vida<br>(11) 3555-0199</td>
</tr></table>"""
    )
    msg = new_message(
        nn, JULIANA, "Cadastro de nova usuária no sistema de agendamento", dt(9, 13, 32)
    )
    text(msg, plain)
    text(msg, html, "html")
    html_part = msg.get_payload()[1]
    html_part.add_related(
        logo_png(),
        "image",
        "png",
        cid="<logo-clinica-vida@clinica-vida.example.com.br>",
        filename="image001.png",
        disposition="inline",
    )
    return to_bytes(msg, nn)


@sample("dashboard-screenshot-inline")
def s17(nn):
    plain = (
        "Hi,\n\nSince this morning the sales dashboard shows empty charts for every\n"
        "region (screenshot below). The underlying reports still have data.\n\n"
        "[cid:screenshot-dashboard]\n\nThanks,\nKevin Park\nTailspin Toys\n"
    )
    html = html_doc(
        """<p>Hi,</p>
<p>Since this morning the sales dashboard shows empty charts for every region
(screenshot below). The underlying reports still have data.</p>
<p><img src="cid:screenshot-dashboard@tailspin.example" width="320" height="200" alt="screenshot"></p>
<p>Thanks,<br>Kevin Park<br>Tailspin Toys</p>"""
    )
    msg = new_message(
        nn,
        KEVIN,
        "Dashboard shows blank charts",
        dt(9, 9, 5, PST),
        headers=[("X-Mailer", "Apple Mail (2.3826.300.87)")],
    )
    text(msg, plain)
    text(msg, html, "html")
    msg.get_payload()[1].add_related(
        screenshot_png(accent=(60, 60, 60)),
        "image",
        "png",
        cid="<screenshot-dashboard@tailspin.example>",
        filename="Screenshot 2026-11-09 at 09.02.41.png",
        disposition="inline",
    )
    return to_bytes(msg, nn)


@sample("re-entrega-colega-cc")
def s18(nn):
    body = (
        "Pessoal, só reforçando o pedido da Ana: se não houver previsão até amanhã,\n"
        "podemos retirar os equipamentos no CD de Campinas com um veículo nosso.\n"
        "Basta nos enviarem a autorização de retirada.\n\n"
        "Rafael Nogueira\nGerente de Frota – Transportes Sul\n\n"
        "Em seg., 9 de nov. de 2026 às 09:05, Ana Beatriz Souza\n"
        "<ana.souza@transportes-sul.example.com.br> escreveu:\n" + quote(BODY_05) + "\n"
    )
    msg = new_message(
        nn,
        RAFAEL,
        "Re: " + SUBJECT_05,
        dt(9, 14, 30),
        cc=[ANA, LOGISTICA],
        in_reply_to=mid(5, ANA),
        references=[mid(5, ANA)],
    )
    return to_bytes(text(msg, body), nn)


@sample("encaminhado-rfc822")
def s19(nn):
    inner = new_message(
        0,
        "Cobrança Fornecedor <cobranca@distribuidora-norte.example.com.br>",
        "Cobrança em duplicidade – fatura 99812",
        dt(6, 16, 40),
        to="Paula Ribeiro <paula.ribeiro@cliente.example.com.br>",
        msgid="<20261106164000.99812@distribuidora-norte.example.com.br>",
    )
    text(
        inner,
        (
            "Prezada Paula,\n\nIdentificamos que a fatura 99812 foi paga duas vezes\n"
            "(boletos de 28/10 e 30/10). Favor indicar se preferem estorno ou crédito\n"
            "para o próximo pedido.\n\nDepartamento de Cobrança\nDistribuidora Norte\n"
        ),
    )
    fix_boundaries(inner, 0)
    msg = new_message(
        nn, PAULA, "ENC: Cobrança em duplicidade – fatura 99812", dt(9, 15, 2)
    )
    text(
        msg,
        (
            "Oi, pessoal do suporte,\n\n"
            "Encaminho o e-mail do fornecedor (em anexo). O pagamento duplicado saiu pelo\n"
            "módulo de contas a pagar do sistema de vocês: o boleto foi processado duas\n"
            "vezes no lote de 30/10. Podem verificar o log do lote?\n\nPaula Ribeiro\nFinanceiro\n"
        ),
    )
    msg.add_attachment(inner, filename="Cobrança em duplicidade – fatura 99812.eml")
    return to_bytes(msg, nn)


@sample("convite-calendario")
def s20(nn):
    ics = (
        "\r\n".join(
            [
                "BEGIN:VCALENDAR",
                "METHOD:REQUEST",
                "PRODID:Microsoft Exchange Server 2010",
                "VERSION:2.0",
                "BEGIN:VTIMEZONE",
                "TZID:E. South America Standard Time",
                "BEGIN:STANDARD",
                "DTSTART:16010101T000000",
                "TZOFFSETFROM:-0300",
                "TZOFFSETTO:-0300",
                "END:STANDARD",
                "END:VTIMEZONE",
                "BEGIN:VEVENT",
                "ORGANIZER;CN=Marcos Vinícius Rocha:mailto:marcos.rocha@cliente.example.com.br",
                "ATTENDEE;ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Suporte",
                " Contoso:mailto:suporte@contoso.example",
                "ATTENDEE;ROLE=OPT-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE;CN=Beatriz Fon",
                " seca:mailto:beatriz.fonseca@cliente.example.com.br",
                "DESCRIPTION;LANGUAGE=pt-BR:Pauta: cronograma da migração das caixas de e-m",
                " ail e janela de manutenção.\\n",
                "UID:040000008200E00074C5B7101A82E0080000000050A1B2C3D4E5F6070000000000000000100",
                " 00000sandbox20",
                "SUMMARY;LANGUAGE=pt-BR:Reunião de alinhamento – migração do e-mail",
                "DTSTART;TZID=E. South America Standard Time:20261112T100000",
                "DTEND;TZID=E. South America Standard Time:20261112T110000",
                "CLASS:PUBLIC",
                "PRIORITY:5",
                "DTSTAMP:20261109T184000Z",
                "TRANSP:OPAQUE",
                "STATUS:CONFIRMED",
                "SEQUENCE:0",
                "LOCATION;LANGUAGE=pt-BR:Microsoft Teams",
                "BEGIN:VALARM",
                "ACTION:DISPLAY",
                "DESCRIPTION:REMINDER",
                "TRIGGER;RELATED=START:-PT15M",
                "END:VALARM",
                "END:VEVENT",
                "END:VCALENDAR",
            ]
        )
        + "\r\n"
    )
    msg = new_message(
        nn,
        MARCOS,
        "Convite: Reunião de alinhamento – migração do e-mail",
        dt(9, 15, 40),
        cc=[BEATRIZ],
    )
    text(
        msg,
        (
            "Quando: quinta-feira, 12 de novembro de 2026 10:00-11:00 (UTC-03:00) Brasília.\n"
            "Onde: Microsoft Teams\n\n"
            "Pauta: cronograma da migração das caixas de e-mail e janela de manutenção.\n"
        ),
    )
    msg.add_alternative(
        ics, subtype="calendar", cte="base64", params={"method": "REQUEST"}
    )
    return to_bytes(msg, nn)


@sample("outlook-mobile-re-entrega")
def s21(nn):
    # Outlook mobile: no In-Reply-To / References at all.
    body = (
        "Alguma novidade sobre a entrega? O rastreio continua parado.\n\n"
        "Enviado do Outlook para Android\n"
        "________________________________\n"
        + outlook_header(
            ANA,
            dt(9, 9, 5),
            MAILBOX,
            SUBJECT_05,
            cc="Rafael Nogueira; Logística Transportes Sul",
        )
        + "\n\n"
        + BODY_05
    )
    msg = new_message(
        nn,
        ANA,
        "RE: " + SUBJECT_05,
        dt(9, 16, 15),
        headers=[("X-Mailer", "Outlook for Android")],
    )
    return to_bytes(text(msg, body), nn)


@sample("logs-equipamento-binario")
def s22(nn):
    msg = new_message(
        nn, EDUARDO, "Relógio de ponto não sincroniza – logs em anexo", dt(9, 16, 50)
    )
    text(
        msg,
        (
            "Boa tarde,\n\n"
            "O relógio de ponto da portaria (RP-200, nº de série 2200417) não sincroniza\n"
            "com o sistema desde sábado. Exportei o arquivo de logs pelo pendrive,\n"
            "conforme o manual, e anexei aqui.\n\n"
            "Eduardo Pires\nMetalúrgica Pires – RH\n"
        ),
    )
    attach(msg, device_log_bin(), "RP200_2200417_logs.dat", "application/octet-stream")
    return to_bytes(msg, nn)


@sample("resposta-automatica-ooo")
def s23(nn):
    msg = new_message(
        nn,
        FERNANDA,
        "Resposta automática: " + SUBJECT_06,
        dt(9, 17, 30),
        headers=[
            ("Auto-Submitted", "auto-replied"),
            ("X-Auto-Response-Suppress", "All"),
            (
                "X-MS-Exchange-Inbox-Rules-Loop",
                "fernanda.goncalves@construtora-horizonte.example.com.br",
            ),
            ("Content-Language", "pt-BR"),
        ],
    )
    text(
        msg,
        (
            "Estou fora do escritório até 16/11/2026, com acesso limitado ao e-mail.\n"
            "Assuntos de contratos: Sérgio Almeida (sergio.almeida@construtora-horizonte.example.com.br).\n\n"
            "I am out of the office until 16 November 2026.\n"
        ),
    )
    return to_bytes(msg, nn)


@sample("re-relatorio-so-references")
def s24(nn):
    # Threads by References only (no In-Reply-To), as some webmails do.
    body = (
        "Só para constar: o chamado 2026-1007 foi cancelado por nós mesmos, então\n"
        "não deveria contar horas. Aguardo o relatório corrigido.\n\n"
        "Luciana\n\n"
        "-----Mensagem original-----\n"
        + outlook_header(LUCIANA, dt(9, 10, 26), MAILBOX, SUBJECT_10)
        + "\n\n"
        + BODY_10
    )
    msg = new_message(
        nn, LUCIANA, "Re: " + SUBJECT_10, dt(9, 18, 5), references=[mid(10, LUCIANA)]
    )
    return to_bytes(text(msg, body), nn)


DSN_ORIGINAL_ID = "<helpdesk-reply-20261109.2101@contoso.example>"


@sample("mailer-daemon-dsn")
def s25(nn):
    boundary = f"----=_Part_sandbox_{nn:02d}_0"
    date = format_datetime(dt(10, 7, 58))
    lines = [
        "From: Mail Delivery System <MAILER-DAEMON@mx1.transportes-sul.example.com.br>",
        "To: suporte@contoso.example",
        "Subject: Undelivered Mail Returned to Sender",
        f"Date: {date}",
        f"Message-ID: {mid(nn, '<x@mx1.transportes-sul.example.com.br>')}",
        "Auto-Submitted: auto-replied",
        "MIME-Version: 1.0",
        f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"',
        "",
        "This is a MIME-encapsulated message.",
        "",
        f"--{boundary}",
        "Content-Description: Notification",
        "Content-Type: text/plain; charset=us-ascii",
        "",
        "This is the mail system at host mx1.transportes-sul.example.com.br.",
        "",
        "I'm sorry to have to inform you that your message could not",
        "be delivered to one or more recipients. It's attached below.",
        "",
        "<logistica.norte@transportes-sul.example.com.br>: host",
        "    mbox.transportes-sul.example.com.br[192.0.2.25] said: 550 5.1.1",
        "    <logistica.norte@transportes-sul.example.com.br>: Recipient address",
        "    rejected: User unknown in virtual mailbox table",
        "",
        f"--{boundary}",
        "Content-Description: Delivery report",
        "Content-Type: message/delivery-status",
        "",
        "Reporting-MTA: dns; mx1.transportes-sul.example.com.br",
        "X-Postfix-Queue-ID: 4NkQ2x1bKcz9sWd",
        "Arrival-Date: Mon,  9 Nov 2026 21:01:12 -0300 (BRT)",
        "",
        "Final-Recipient: rfc822; logistica.norte@transportes-sul.example.com.br",
        "Original-Recipient: rfc822;logistica.norte@transportes-sul.example.com.br",
        "Action: failed",
        "Status: 5.1.1",
        "Remote-MTA: dns; mbox.transportes-sul.example.com.br",
        "Diagnostic-Code: smtp; 550 5.1.1 <logistica.norte@transportes-sul.example.com.br>:",
        "    Recipient address rejected: User unknown in virtual mailbox table",
        "",
        f"--{boundary}",
        "Content-Description: Undelivered Message Headers",
        "Content-Type: text/rfc822-headers",
        "",
        "From: Suporte Contoso <suporte@contoso.example>",
        "To: logistica.norte@transportes-sul.example.com.br",
        f"Subject: Re: {SUBJECT_05}",
        "Date: Mon, 09 Nov 2026 21:01:10 -0300",
        f"Message-ID: {DSN_ORIGINAL_ID}",
        "",
        f"--{boundary}--",
        "",
    ]
    return "\r\n".join(lines).encode("ascii")


def raw_single_part(
    nn, sender, subject, date, content_type, cte, body_bytes, headers=()
):
    """A one-part mail whose body bytes are written exactly as given."""
    msg = new_message(nn, sender, subject, date, headers=headers)
    msg["MIME-Version"] = "1.0"
    msg["Content-Type"] = content_type
    msg["Content-Transfer-Encoding"] = cte
    head = msg.as_bytes(policy=policy.SMTP)
    assert head.endswith(b"\r\n\r\n"), head[-10:]
    return head + body_bytes


@sample("charset-declarado-errado")
def s26(nn):
    # Declares us-ascii but the body is latin-1 (an old ERP that never set it).
    body = (
        "Confirmação do pedido de compra nº 4471\r\n"
        "\r\n"
        "Fornecedor: Contoso Soluções em TI\r\n"
        "Itens: 3 licenças de acesso remoto, renovação anual\r\n"
        "Valor: R$ 1.290,00 - vencimento 20/11/2026\r\n"
        "Observação: entrega e faturamento na filial de São José dos Campos.\r\n"
        "\r\n"
        "Mensagem gerada automaticamente pelo sistema de compras. Não responda.\r\n"
    ).encode("latin-1")
    return raw_single_part(
        nn,
        "Compras - Mercado Bom Preco <compras@mercado-bom-preco.example.com.br>",
        "Pedido de compra 4471 - confirmacao",
        dt(10, 8, 20),
        'text/plain; charset="us-ascii"',
        "8bit",
        body,
        headers=[("X-Mailer", "ERP Compras 4.2")],
    )


@sample("outlook-mobile-re-login")
def s27(nn):
    body = (
        "Any news? Still locked out and the POs are now overdue.\n\n"
        "Sent from Outlook for iOS\n"
        "________________________________\n"
        + outlook_header(OLIVER, dt(9, 11, 31, UTC), MAILBOX, SUBJECT_03, lang="en")
        + "\n\n"
        + BODY_03
    )
    msg = new_message(
        nn,
        OLIVER,
        "RE: " + SUBJECT_03,
        dt(10, 11, 44, UTC),
        headers=[("X-Mailer", "Outlook for iOS and Android")],
    )
    return to_bytes(text(msg, body), nn)


SUBJECT_28 = (
    "Solicitação urgente de revisão do faturamento consolidado das filiais de "
    "São Paulo, Campinas, Ribeirão Preto e São José dos Campos referente aos meses "
    "de agosto, setembro e outubro de 2026, incluindo notas fiscais de serviço, "
    "boletos em aberto, descontos contratuais não aplicados e a conciliação com o "
    "relatório de chamados atendidos fora do horário comercial"
)


@sample("assunto-muito-longo")
def s28(nn):
    msg = new_message(nn, RENATA, SUBJECT_28, dt(10, 9, 12))
    text(
        msg,
        (
            "Bom dia,\n\nO assunto já diz quase tudo :) Precisamos da revisão completa antes\n"
            "do fechamento trimestral. Podem marcar uma reunião ainda esta semana?\n\n"
            "Renata Oliveira\nControladoria – Mercado Bom Preço\n"
        ),
    )
    return to_bytes(msg, nn)


@sample("somente-anexo-sem-corpo")
def s29(nn):
    msg = new_message(nn, BEATRIZ, "Comprovante de pagamento", dt(10, 9, 35))
    pdf = make_pdf(
        [
            "COMPROVANTE DE PAGAMENTO - BOLETO",
            "Beneficiario: Contoso Solucoes em TI Ltda.",
            "Pagador: Cliente Exemplo S.A.",
            "Valor pago: R$ 3.450,00",
            "Data do pagamento: 10/11/2026",
            "Autenticacao: 8F3A.21C9.77B0.4D12",
        ]
    )
    attach(msg, pdf, "comprovante_10-11-2026.pdf", "application/pdf")
    return to_bytes(msg, nn)


@sample("re-vpn-colega-anexo")
def s30(nn):
    body = (
        "Hi,\n\nSame here on two more laptops this morning. Attached is the graph\n"
        "of the tunnel uptime: drops every 600 s, exactly the DPD interval.\n\n"
        "Ingrid\n\n"
        "On 9 Nov 2026, at 14:48, Lukas Schäfer <lukas.schaefer@adatum.example> wrote:\n"
        + quote(BODY_11)
        + "\n"
    )
    msg = new_message(
        nn,
        INGRID,
        "AW: " + SUBJECT_11,
        dt(10, 14, 2, CET),
        cc=[LUKAS, PIERRE],
        in_reply_to=mid(11, LUKAS),
        references=[mid(11, LUKAS)],
    )
    text(msg, body)
    attach(msg, gradient_png(), "tunnel-uptime.png", "image/png")
    return to_bytes(msg, nn)


@sample("re-renovacao-colega-cc")
def s31(nn):
    body = (
        "Bom dia,\n\nA Fernanda está de férias; eu sigo com a renovação. Podem enviar a\n"
        "proposta diretamente para mim, com cópia para ela.\n\n"
        "Sérgio Almeida\nDiretor – Construtora Horizonte\n\n"
        "________________________________\n"
        + outlook_header(
            FERNANDA, dt(9, 9, 20), MAILBOX, SUBJECT_06, cc="Sérgio Almeida"
        )
        + "\n\n"
        + BODY_06_TEXT
    )
    msg = new_message(
        nn,
        SERGIO,
        "RE: " + SUBJECT_06,
        dt(10, 10, 30),
        cc=[FERNANDA],
        in_reply_to=mid(6, FERNANDA),
        references=[mid(6, FERNANDA)],
    )
    return to_bytes(text(msg, body), nn)


@sample("re-invoice-html")
def s32(nn):
    plain = (
        "Hi again,\n\nOur controller asks that the corrected invoice also shows the PO\n"
        "number NW-PO-55310. Thanks!\n\nEmily\n\n"
        + outlook_header(EMILY, dt(9, 7, 55, EST), MAILBOX, SUBJECT_08, lang="en")
        + "\n\n"
        + BODY_08
    )
    html = html_doc(
        """<div style="font-family:Aptos,Calibri,sans-serif;font-size:12pt">
<p>Hi again,</p><p>Our controller asks that the corrected invoice also shows the PO
number <b>NW-PO-55310</b>. Thanks!</p><p>Emily</p></div>
<hr style="display:inline-block;width:98%">
<div id="divRplyFwdMsg"><b>From:</b> Emily Carter &lt;emily.carter@northwind.example&gt;<br>
<b>Sent:</b> Monday, November 9, 2026 7:55 AM<br><b>To:</b> suporte@contoso.example<br>
<b>Subject:</b> Question about invoice INV-2026-1187</div>
<div><p>Please find attached invoice INV-2026-1187. It bills 12 user licences, but we
cancelled two of them on 15 October, so it should be 10.</p></div>"""
    )
    msg = new_message(
        nn,
        EMILY,
        "RE: " + SUBJECT_08,
        dt(10, 9, 5, EST),
        in_reply_to=mid(8, EMILY),
        references=[mid(8, EMILY)],
    )
    text(msg, plain)
    text(msg, html, "html")
    return to_bytes(msg, nn)


@sample("re-re-nota-fiscal-colega")
def s33(nn):
    body = (
        "Bom dia,\n\nConfirmo o que o João disse: a visita do dia 22/10 estava no contrato.\n"
        "Se a correção não sair até sexta, vamos lançar a nota com o valor do contrato\n"
        "e glosar a diferença.\n\nPaula Ribeiro\nFinanceiro\n\n"
        "________________________________\n"
        + outlook_header(JOAO, dt(9, 9, 41), MAILBOX, "RE: " + SUBJECT_01, cc=PAULA)
        + "\n\nComplementando: o serviço avulso que pode ter entrado é a visita técnica\n"
        "do dia 22/10, mas ela estava coberta pelo contrato.\n"
    )
    msg = new_message(
        nn,
        PAULA,
        "RE: " + SUBJECT_01,
        dt(10, 11, 40),
        cc=[JOAO],
        in_reply_to=mid(7, JOAO),
        references=[mid(1, JOAO), mid(7, JOAO)],
    )
    return to_bytes(text(msg, body), nn)


@sample("duplicado-lista-ti")
def s34(nn):
    # The copy of sample 13 that came through the ti@ distribution list, which
    # also contains the support address: same Message-ID, extra list headers.
    return build_13(
        nn,
        extra_headers=[
            ("List-Id", "TI Cliente <ti.cliente.example.com.br>"),
            ("X-MS-Exchange-Organization-ExpandedDL", "ti@cliente.example.com.br"),
        ],
    )


@sample("re-erro-nfe-resolvido")
def s35(nn):
    body = (
        "Boa tarde,\n\nResolvido: havia uma nota presa em contingência com a mesma\n"
        "numeração. Depois de inutilizar a faixa o sistema voltou a autorizar.\n"
        "Podem encerrar o chamado.\n\nThiago\n\n"
        "Em seg., 9 de nov. de 2026 às 11:20, Thiago Martins\n"
        "<thiago.martins@cliente.example.com.br> escreveu:\n" + quote(BODY_13) + "\n"
    )
    msg = new_message(
        nn,
        THIAGO,
        "Re: " + SUBJECT_13,
        dt(10, 14, 20),
        cc=[TI_LIST],
        in_reply_to=mid(13, THIAGO),
        references=[mid(13, THIAGO)],
    )
    return to_bytes(text(msg, body), nn)


@sample("charset-desconhecido-falha")
def s36(nn):
    # An old intranet system labels its HTML as charset=x-user-defined (seen in
    # the wild from legacy Outlook Express / webmail setups). Python has no such
    # codec, so Odoo's gateway raises LookupError when it decodes the body.
    html = (
        "<html><body>\r\n"
        "<p>Aviso autom\xe1tico do sistema de chamados interno:</p>\r\n"
        "<p>O chamado interno n\xba 2026-4410 (troca de senha do Wi-Fi da recep\xe7\xe3o)\r\n"
        "foi encaminhado ao suporte externo. Favor dar andamento.</p>\r\n"
        "<p>Intranet Cliente Exemplo</p>\r\n"
        "</body></html>\r\n"
    ).encode("latin-1")
    return raw_single_part(
        nn,
        "Intranet Cliente <intranet@cliente.example.com.br>",
        "Chamado interno 2026-4410 encaminhado",
        dt(10, 15, 5),
        'text/html; charset="x-user-defined"',
        "8bit",
        html,
        headers=[("X-Mailer", "Intranet Notificador 1.3")],
    )


# Main ------------------------------------------------------------------------
def build_all():
    return [
        (f"{nn:02d}-{name}.eml", func(nn)) for nn, (name, func) in enumerate(SAMPLES, 1)
    ]


def check(files):
    for filename, data in files:
        assert b"\n" not in data.replace(b"\r\n", b""), f"{filename}: bare LF"
        msg = email.message_from_bytes(data, policy=policy.default)
        assert msg["To"] and MAILBOX in str(msg["To"]), filename
        assert msg["Message-ID"], filename
        list(msg.walk())
        for part in msg.walk():
            if not part.is_multipart() and part.get_content_maintype() not in (
                "message",
            ):
                try:
                    part.get_content()
                except LookupError:
                    pass  # 36: unknown charset, on purpose
    print(f"checked {len(files)} files: all parse with email.message_from_bytes")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--check", action="store_true", help="parse the files back")
    parser.add_argument("--out", type=Path, default=OUT_DIR)
    args = parser.parse_args(argv)
    files = build_all()
    args.out.mkdir(parents=True, exist_ok=True)
    wanted = {name for name, _ in files}
    for stale in args.out.glob("*.eml"):
        if stale.name not in wanted:
            stale.unlink()
    for filename, data in files:
        (args.out / filename).write_bytes(data)
    total = sum(len(data) for _, data in files)
    print(f"wrote {len(files)} files, {total} bytes, to {args.out}")
    if args.check:
        check(files)
    return 0


if __name__ == "__main__":
    sys.exit(main())
