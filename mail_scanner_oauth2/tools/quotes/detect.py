# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What starts the quoted history of a reply: Outlook's reply header, "On ... wrote:"
lines, "-----Original Message-----" separators and HTML markers, in English,
Portuguese, Spanish, French and German; and the line of a Layout where it starts."""

import re

# ---------------------------------------------------------------------------
# What starts a quoted history
# ---------------------------------------------------------------------------

_LINE_LEAD = r"^[ \t\xa0\ufeff>]*"
_LABEL_KINDS = {
    "from": ("from", "de", "von"),
    "date": (
        "sent",
        "date",
        "enviado",
        "enviada",
        "enviado em",
        "enviado el",
        "data",
        "fecha",
        "envoyé",
        "envoyé le",
        "gesendet",
        "datum",
    ),
    "to": ("to", "para", "à", "a", "pour", "an"),
    "cc": ("cc", "bcc", "cco", "cci", "copie à", "kopie", "kopie (cc)"),
    "subject": ("subject", "assunto", "asunto", "objet", "sujet", "betreff"),
}
_KIND_OF_LABEL = {
    label: kind for kind, labels in _LABEL_KINDS.items() for label in labels
}
_LABELS = sorted(_KIND_OF_LABEL, key=len, reverse=True)
# "From: x", "*From:* x" (Outlook's text part of an HTML mail), "De : x" (French).
_HEADER_LINE = re.compile(
    _LINE_LEAD
    + r"\*{0,2}("
    + "|".join(re.escape(label).replace(r"\ ", r"[ \xa0]") for label in _LABELS)
    + r")\*{0,2}[ \t\xa0]*:",
    re.IGNORECASE | re.MULTILINE,
)
# A header block may wrap a long value over this many lines.
_HEADER_CONTINUATION_LINES = 2

# "On <date>, <name> wrote:", possibly wrapped over three lines; the lead word and
# the verb are those of one language.
_ATTRIBUTION_FORMS = (
    (r"On", r"wrote"),
    (r"Em", r"escreveu"),
    (r"El", r"escribi[óo]"),
    (r"Le", r"a[ \xa0]+[ée]crit"),
    (r"Am", r"schrieb(?:[^\n:]{0,200})"),
)
_ATTRIBUTION = re.compile(
    _LINE_LEAD
    + r"(?:"
    + "|".join(
        rf"{lead}\s[^\n]{{0,300}}?(?:\n[^\n]{{0,300}}?){{0,2}}?\s{verb}"
        for lead, verb in _ATTRIBUTION_FORMS
    )
    + r")[ \t\xa0]*:[ \t\xa0]*$",
    re.MULTILINE,
)

_ORIGINAL_MESSAGE = (
    r"original message|mensagem original|mensaje original|message d['\u2019]origine|"
    r"urspr[üu]ngliche nachricht|original-nachricht|forwarded message|"
    r"mensagem encaminhada|mensaje reenviado|message transf[ée]r[ée]|"
    r"weitergeleitete nachricht"
)
# "-----Original Message-----", "-------- Message transféré --------", and Apple
# Mail's "Begin forwarded message:".
_SEPARATOR = re.compile(
    _LINE_LEAD
    + r"(?:[-=_]{2,}[ \t\xa0]*(?:"
    + _ORIGINAL_MESSAGE
    + r")[ \t\xa0]*[-=_]{2,}"
    + r"|(?:begin forwarded message|in[íi]cio da mensagem encaminhada|"
    r"inicio del mensaje reenviado|d[ée]but du message r[ée]exp[ée]di[ée]|"
    r"anfang der weitergeleiteten nachricht)[ \t\xa0]*:)[ \t\xa0]*$",
    re.IGNORECASE | re.MULTILINE,
)
# A rule drawn above a reply header: Outlook's "____" line, an <hr>, dashes.
_RULE = re.compile(r"^[ \t\xa0>]*(?:_{8,}|-{8,}|={8,})[ \t\xa0]*$")
_OUTLOOK_BORDER = re.compile(
    r"border-top\s*:\s*solid\s+#(?:e1e1e1|b5c4df)", re.IGNORECASE
)


def is_history_element(element):
    """HTML markers of the history that do not depend on the language."""
    if "divRplyFwdMsg" in (element.get("id") or ""):
        return True
    if element.tag == "blockquote" and (element.get("type") or "").lower() == "cite":
        return True
    if element.tag == "div":
        if "gmail_quote" in (element.get("class") or "").split():
            return True
        if _OUTLOOK_BORDER.search(element.get("style") or ""):
            return True
    return False


# ---------------------------------------------------------------------------
# Finding the start
# ---------------------------------------------------------------------------


def _first_header_block(layout):
    """Line where the first reply header block (From + date/subject + ...) starts."""
    first_line = last_line = None
    kinds = set()
    for match in _HEADER_LINE.finditer(layout.text):
        line = layout.line_of(match.start())
        if last_line is not None and line - last_line > _HEADER_CONTINUATION_LINES + 1:
            if _is_reply_header(kinds):
                return first_line
            first_line, kinds = None, set()
        if first_line is None:
            first_line = line
        kinds.add(_KIND_OF_LABEL[" ".join(match.group(1).lower().split())])
        last_line = line
    if first_line is not None and _is_reply_header(kinds):
        return first_line
    return None


def _is_reply_header(kinds):
    return (
        "from" in kinds and len(kinds) >= 3 and ("date" in kinds or "subject" in kinds)
    )


def _first_attribution(layout):
    """Line of the first "On <date>, <name> wrote:" (it always has a digit)."""
    for match in _ATTRIBUTION.finditer(layout.text):
        if any(char.isdigit() for char in match.group()):
            return layout.line_of(match.start())
    return None


def _first_separator(layout):
    match = _SEPARATOR.search(layout.text)
    return layout.line_of(match.start()) if match else None


def _with_rule_above(layout, line):
    """Move the start up to the rule or separator drawn right above it."""
    while True:
        above = line - 1
        while above >= 0 and not layout.line(above).strip():
            above -= 1
        if above < 0:
            return line
        text = layout.line(above)
        if not (_RULE.match(text) or _SEPARATOR.match(text)):
            return line
        line = above


def history_start(layout):
    """Where the history starts: (position in the text, element or None)."""
    lines = [
        line
        for line in (
            _first_header_block(layout),
            _first_attribution(layout),
            _first_separator(layout),
        )
        if line is not None
    ]
    element = layout.first_history_element
    if element is not None:
        element_line = layout.line_of(layout.element_starts[element])
        # The element may open on a line break: its text starts on the next line.
        while (
            element_line + 1 < len(layout.line_starts)
            and not layout.line(element_line).strip()
        ):
            element_line += 1
        if not lines or element_line < min(lines):
            start_line = _with_rule_above(layout, element_line)
            if start_line == element_line:
                return layout.element_starts[element], element
            return layout.line_starts[start_line], None
    if not lines:
        return None, None
    start_line = _with_rule_above(layout, min(lines))
    return layout.line_starts[start_line], None
