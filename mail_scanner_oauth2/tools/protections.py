# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Mail that must never become a ticket nor be answered: auto-replies and
delivery failures. Checked on the headers only."""

import re

# Subjects of out-of-office and auto-replies of Outlook, Gmail and others, in
# the languages our customers use.
AUTO_REPLY_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matic)?[- ]?reply|auto:|out of (the )?office|"
    r"resposta autom[aá]tica|aus[eê]ncia|fora do escrit[oó]rio|"
    r"respuesta autom[aá]tica|r[ée]ponse automatique)",
    re.IGNORECASE,
)
DSN_SENDERS = re.compile(r"^(mailer-daemon|postmaster)@", re.IGNORECASE)


def auto_reply_reason(facts):
    """Why this mail is an automatic reply, or None."""
    auto_submitted = facts.header("Auto-Submitted").strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"Auto-Submitted: {auto_submitted}"
    suppress = facts.header("X-Auto-Response-Suppress").strip()
    if suppress and re.search(r"\b(all|oof|autoreply)\b", suppress, re.IGNORECASE):
        return f"X-Auto-Response-Suppress: {suppress}"
    precedence = facts.header("Precedence").strip().lower()
    if precedence in ("bulk", "junk", "list", "auto_reply"):
        return f"Precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond", "X-Auto-Reply"):
        if facts.header(name).strip():
            return f"{name} header"
    if AUTO_REPLY_SUBJECT.match(facts.subject):
        return f"subject '{facts.subject[:80]}'"
    return None


def delivery_failure_reason(facts):
    """Why this mail is a delivery status notification (bounce), or None."""
    content_type = facts.header("Content-Type").lower()
    if "multipart/report" in content_type and "delivery-status" in content_type:
        return "multipart/report; report-type=delivery-status"
    if DSN_SENDERS.match(facts.sender):
        return f"sent by {facts.sender}"
    return None
