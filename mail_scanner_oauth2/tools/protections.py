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
# Mailboxes of mail systems, never of a person: what they send is a report.
MTA_SENDERS = re.compile(
    r"^(mailer-daemon|mail-daemon|mailer_daemon|mdaemon)@", re.IGNORECASE
)
# Who else sends non-delivery reports (besides MTA_SENDERS, decided before them,
# and nobody: the null envelope sender <> of RFC 5321 section 4.5.5). These are
# also role addresses a person may write from (postmaster@): they count only with
# a failure report's subject.
DSN_SENDERS = re.compile(
    r"^(postmaster|ndr|mail\.delivery\.system|mail\.delivery|maildelivery|"
    r"bounce[sd]?)@",
    re.IGNORECASE,
)
# What non-delivery reports that are not multipart/report call themselves.
NDR_SUBJECT = re.compile(
    r"^\s*(\[postmaster\]\s*)?(undeliver|undelivered|non-?delivery|"
    r"delivery (status|report|failure|problem|notification|has failed)|"
    r"(e-?mail|mail|message) (delivery (failed|failure|problem|subsystem|warning)|"
    r"not delivered|"
    r"could not be delivered|failed)|"
    r"returned mail|failure notice|failure delivery|failed mail|mail error|"
    r"permanent delivery failure|delayed mail|warning: message .{0,40}"
    r"(delayed|not yet been delivered)|your message to .{0,80} could not be delivered|"
    r"non remis|unzustellbar|n[aã]o (é|e) poss[ií]vel entregar|"
    r"mensagem n[aã]o entregue|no se puede entregar|mensaje no entregado)",
    re.IGNORECASE,
)
# Phrases of machine-written failure reports, looked for in the mail's first bytes.
NDR_TEXT = re.compile(
    rb"(diagnostic-code|final-recipient|permanent fatal error|delivery to the "
    rb"following recipient|could not be delivered|was not delivered|this is an "
    rb"automatically generated|user unknown|unknown user|mailbox unavailable|"
    rb"recipient address rejected|host unknown|\b5\.\d\.\d{1,3}\b|\b55[0-4][ -])",
    re.IGNORECASE,
)
NDR_TEXT_WINDOW = 64 * 1024


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
    feedback = feedback_report_reason(facts)
    if feedback:
        return feedback
    if AUTO_REPLY_SUBJECT.match(facts.subject):
        return f"subject '{facts.subject[:80]}'"
    return None


def delivery_failure_reason(facts):
    """Why this mail is a non-delivery report (bounce), judged by what it is: its
    structure, a delivery-failure header, a mail system's own sender
    (MAILER-DAEMON), or a failure report's subject coming from a mail system (its
    null sender, a bounce address, or a text written by one): never by a
    postmaster@ sender alone."""
    if facts.content_type == "multipart/report":
        report_type = facts.content_param("report-type")
        if report_type in ("delivery-status", ""):
            return f"multipart/report; report-type={report_type or '(none)'}"
    if facts.content_type == "message/delivery-status":
        return "message/delivery-status"
    if facts.header("X-Failed-Recipients").strip():
        return "X-Failed-Recipients header"
    if MTA_SENDERS.match(facts.sender):
        return f"sent by the mail system {facts.sender}"
    if not NDR_SUBJECT.match(facts.subject):
        return None
    subject = facts.subject[:80]
    if DSN_SENDERS.match(facts.sender) or _null_sender(facts):
        return f"sent by {facts.sender or '<>'}, subject '{subject}'"
    if NDR_TEXT.search(facts.raw[:NDR_TEXT_WINDOW]):
        return f"a failure report's subject and text: '{subject}'"
    return None


def _null_sender(facts):
    return (
        facts.header("Return-Path").strip() == "<>"
        or not facts.sender
        or facts.header("From").strip().endswith("<>")
    )


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


def feedback_report_reason(facts):
    """An abuse or feedback report (ARF, RFC 5965): a machine's message, no ticket."""
    if facts.content_type == "multipart/report":
        if facts.content_param("report-type") == "feedback-report":
            return "multipart/report; report-type=feedback-report"
    return None
