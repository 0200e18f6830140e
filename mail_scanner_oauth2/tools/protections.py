# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What kind of mail this is, from its headers only, before it becomes a ticket.

Two different things are told apart (RFC 3834):
- mail written by a machine in answer to another mail (auto-replies, out-of-office,
  delivery failures, read receipts): recorded, never a ticket, never answered;
- mail a person wrote that must not be answered automatically (mailing lists, bulk
  senders, Outlook's X-Auto-Response-Suppress): a ticket like any other, but Odoo
  sends it no automatic answer.
Each function returns a short reason naming the header, or None.
"""

import re

# Subjects of out-of-office and auto-replies of Outlook, Gmail and others, in
# the languages our customers use.
AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matic)?[- ]?reply|auto:|out of (the )?office|"
    r"resposta autom[aá]tica|aus[eê]ncia|fora do escrit[oó]rio|"
    r"respuesta autom[aá]tica|r[ée]ponse automatique|abwesenheitsnotiz|"
    r"automatische antwort)",
    re.IGNORECASE,
)
DSN_SENDERS = re.compile(r"^(mailer-daemon|postmaster|mail-daemon)@", re.IGNORECASE)
# What non-delivery reports that are not multipart/report call themselves.
NDR_SUBJECT = re.compile(
    r"^\s*(undeliverable|undelivered mail|delivery status notification|"
    r"mail delivery (failed|failure|subsystem)|failure notice|returned mail|"
    r"delivery failure|message not delivered|delivery has failed|non remis|"
    r"unzustellbar|n[aã]o (é|e) poss[ií]vel entregar|mensagem n[aã]o entregue|"
    r"no se puede entregar|mensaje no entregado)",
    re.IGNORECASE,
)


def auto_reply_reason(facts):
    """Why this mail is a machine's answer that must never become a ticket."""
    auto_submitted = facts.header("Auto-Submitted").strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    precedence = facts.header("Precedence").strip().lower()
    if precedence == "auto_reply":
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if facts.header(name).strip():
            return f"{name} header"
    if _is_read_receipt(facts):
        return "read receipt (disposition-notification)"
    if AUTO_REPLY_SUBJECT.match(facts.subject):
        return f"subject '{facts.subject[:80]}'"
    return None


def delivery_failure_reason(facts):
    """Why this mail is a non-delivery report (bounce), judged by what it is: its
    structure or a delivery-failure header, not its sender alone."""
    if facts.content_type == "multipart/report":
        if facts.content_param("report-type") == "delivery-status":
            return "multipart/report; report-type=delivery-status"
    if facts.content_type == "message/delivery-status":
        return "message/delivery-status"
    if facts.header("X-Failed-Recipients").strip():
        return "X-Failed-Recipients header"
    if DSN_SENDERS.match(facts.sender) and NDR_SUBJECT.match(facts.subject):
        return f"sent by {facts.sender}, subject '{facts.subject[:80]}'"
    return None


def no_auto_answer_reason(facts):
    """Why this person's mail must get no automatic answer (it still is a ticket)."""
    precedence = facts.header("Precedence").strip().lower()
    if precedence in ("bulk", "junk", "list"):
        return f"Precedence: {precedence}"
    if facts.header("List-Id").strip():
        return "List-Id header"
    suppress = facts.header("X-Auto-Response-Suppress").strip()
    if suppress and re.search(r"\b(all|oof|autoreply)\b", suppress, re.IGNORECASE):
        return f"X-Auto-Response-Suppress: {suppress}"
    return None


def _is_read_receipt(facts):
    if facts.content_type == "message/disposition-notification":
        return True
    return (
        facts.content_type == "multipart/report"
        and facts.content_param("report-type") == "disposition-notification"
    )
