# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Fold the quoted history of a reply the way Odoo folds Gmail quotes.

``mark_quoted_history(html)`` finds where the quoted history of a reply starts and
marks everything from there to the end with ``data-o-mail-quote="1"``: the attribute
that Odoo's sanitizer keeps and that the chatter hides behind "Read More"
(``insertReadMoreLess`` in mail/static/src/core/web_portal/message_patch.js).

Where the history starts, in English, Portuguese, Spanish, French and German:

- Outlook's reply header (From/Sent/To/Subject, De/Enviado/Para/Assunto, ...), with
  the ``______`` line, ``<hr>`` or "-----Original Message-----" line above it;
- "-----Original Message-----" / "-----Mensagem original-----" / ... lines alone;
- "On ... wrote:" / "Em ... escreveu:" / "El ... escribió:" / "Le ... a écrit :" /
  "Am ... schrieb ...:" lines of Gmail, Apple Mail and Thunderbird;
- Outlook's HTML markers (``divRplyFwdMsg``, the ``border-top:solid #E1E1E1`` block),
  Apple Mail's ``<blockquote type="cite">`` and Gmail's ``gmail_quote``.

Nothing is ever removed: the text before and after is the same, only wrapped and
marked. When the history would start at the very top (nothing written above it),
the message is left as it is, so a whole message is never folded away.

No Odoo import: the DB-less tests load this file on its own.
"""

import bisect
import html as htmllib
import re

from lxml import etree
from lxml import html as lxml_html

QUOTE_ATTR = "data-o-mail-quote"

# Tags that start a new line on screen (what matters here is where lines begin).
_BLOCK_TAGS = frozenset(
    "address article aside blockquote body center dd details dialog dir div dl dt "
    "fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html "
    "li main menu nav ol p pre section table tbody td tfoot th thead tr ul".split()
)
# Tags whose content a reader never sees.
_HIDDEN_TAGS = frozenset(
    "head style script title meta link noscript template xml".split()
)
# Outside <pre>, line breaks in the source are plain spaces on screen. Same length,
# so offsets in the laid-out text are offsets in the tree's text.
_SOFT_WHITESPACE = str.maketrans("\r\n\t\f\v", "     ")
_PRE_WHITESPACE = str.maketrans("\r\t\f\v", "    ")
_HR_TEXT = "_" * 16  # an <hr> reads like Outlook's plain-text "_____" line
_OBJECT_TEXT = "\ufffc"  # an image is content, like text

_TEXT, _TAIL, _WHOLE, _BREAK = range(4)
# libxml2 drops, without a word, whatever is nested deeper than this (and all that
# follows it): writing such a tree back would lose text, so it is left alone.
_PARSER_MAX_DEPTH = 255

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


def _is_history_element(element):
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
# The text as a reader sees it, mapped back to the tree
# ---------------------------------------------------------------------------


class _Layout:
    """The visible text of a tree, one line per block or <br>, with the place in the
    tree of every piece of it, and where each element starts."""

    def __init__(self, root):
        self._parts = []
        self.length = 0
        self.segment_starts = []
        self.segment_nodes = []
        self.segment_kinds = []
        self.element_starts = {}
        self.first_history_element = None
        self.max_depth = 0
        self._lay_out(root)
        self.text = "".join(self._parts)
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", self.text)]

    def _emit(self, text, node, kind):
        if text:
            self._parts.append(text)
            self.segment_starts.append(self.length)
            self.segment_nodes.append(node)
            self.segment_kinds.append(kind)
            self.length += len(text)

    def _new_line(self):
        # Nested blocks open one line, not one each: an element then starts where
        # its first line starts, as do the blocks around it that start with it.
        if self.length and not self._parts[-1].endswith("\n"):
            self._emit("\n", None, _BREAK)

    def _emit_text(self, text, node, kind, in_pre):
        table = _PRE_WHITESPACE if in_pre else _SOFT_WHITESPACE
        self._emit(text.translate(table), node, kind)

    def _lay_out(self, root):
        in_pre = hidden = 0
        depth = sum(1 for _ancestor in root.iterancestors())
        for event, element in etree.iterwalk(root, events=("start", "end")):
            tag = element.tag if isinstance(element.tag, str) else None
            if event == "start":
                depth += 1
                self.max_depth = max(self.max_depth, depth)
                if tag in _HIDDEN_TAGS:
                    hidden += 1
                if hidden:
                    continue
                self._open(element, tag, in_pre)
                in_pre += tag == "pre"
                continue
            depth -= 1
            if tag in _HIDDEN_TAGS:
                hidden -= 1
            if hidden:
                continue
            in_pre -= tag == "pre"
            if tag in _BLOCK_TAGS:
                self._new_line()
            if element is not root and element.tail:
                self._emit_text(element.tail, element, _TAIL, in_pre)

    def _open(self, element, tag, in_pre):
        if tag == "br":
            self._emit("\n", None, _BREAK)
        elif tag in _BLOCK_TAGS:
            self._new_line()
        self.element_starts[element] = self.length
        if tag is None:
            return
        if self.first_history_element is None and _is_history_element(element):
            self.first_history_element = element
        if tag == "hr":
            self._emit(_HR_TEXT, element, _WHOLE)
        elif tag == "img":
            self._emit(_OBJECT_TEXT, element, _WHOLE)
        elif element.text:
            self._emit_text(element.text, element, _TEXT, in_pre or tag == "pre")

    def line_of(self, position):
        return bisect.bisect_right(self.line_starts, position) - 1

    def line(self, index):
        start = self.line_starts[index]
        if index + 1 < len(self.line_starts):
            return self.text[start : self.line_starts[index + 1] - 1]
        return self.text[start:]

    def segment_at(self, position):
        index = bisect.bisect_right(self.segment_starts, position) - 1
        return (
            self.segment_nodes[index],
            self.segment_kinds[index],
            position - self.segment_starts[index],
        )


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


def _history_start(layout):
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


# ---------------------------------------------------------------------------
# Marking
# ---------------------------------------------------------------------------


def _quote_span(text):
    span = etree.Element("span")
    span.set(QUOTE_ATTR, "1")
    span.text = text
    return span


def _first_quoted_node(layout, position, root):
    """The element from which everything is quoted, splitting a text if needed."""
    node, kind, offset = layout.segment_at(position)
    if kind == _BREAK:
        return None
    if kind == _TAIL:
        span = _quote_span(node.tail[offset:])
        node.tail = node.tail[:offset] or None
        node.addnext(span)
        return span
    if kind == _TEXT and offset:
        span = _quote_span(node.text[offset:])
        node.text = node.text[:offset]
        node.insert(0, span)
        return span
    return _outermost_starting_with(layout, node, root)


def _outermost_starting_with(layout, element, root):
    """The largest element (below root) that starts where element starts."""
    start = layout.element_starts[element]
    parent = element.getparent()
    while (
        parent is not None
        and parent is not root
        and layout.element_starts.get(parent) == start
    ):
        element, parent = parent, parent.getparent()
    return element


def _outermost_marked_ancestor(node, root):
    """Odoo may already fold a block around the start (a Gmail quote, a blockquote):
    the history then starts with that block, which stays one fold."""
    outermost = node
    for ancestor in node.iterancestors():
        if ancestor is root:
            break
        if ancestor.get(QUOTE_ATTR):
            outermost = ancestor
    return outermost


def _with_marked_siblings_before(node):
    """Include the siblings right before node that Odoo already folds (the <hr>
    above Outlook's header, Gmail's <br>s), so that they make one fold with it."""
    previous = node.getprevious()
    while (
        previous is not None
        and isinstance(previous.tag, str)
        and previous.get(QUOTE_ATTR)
        and not (previous.tail or "").strip()
    ):
        node, previous = previous, previous.getprevious()
    return node


def _lift_to_root(node, root):
    """Split node's ancestors so that node and all that follows it become children
    of root: the chatter then folds the history as one block behind one "Read More"
    instead of one per level of nesting."""
    node = _outermost_marked_ancestor(node, root)
    while True:
        node = _with_marked_siblings_before(node)
        parent = node.getparent()
        if parent is root:
            return node
        if node.getprevious() is None and not (parent.text or "").strip():
            node = parent  # the parent starts with node: it goes whole
            continue
        right = parent.makeelement(parent.tag, dict(parent.attrib))
        right.attrib.pop("id", None)  # ids stay unique
        for moving in [node, *node.itersiblings()]:
            right.append(moving)  # moves its tail along
        right.tail, parent.tail = parent.tail, None
        parent.addnext(right)
        node = right


def _quote_from(node):
    """Mark node, its following siblings and the text between them."""
    for element in [node, *node.itersiblings()]:
        if isinstance(element.tag, str):
            element.set(QUOTE_ATTR, "1")
        if element.tail and element.tail.strip():
            span = _quote_span(element.tail)
            element.tail = None
            element.addnext(span)


# ---------------------------------------------------------------------------
# Parsing and writing back
# ---------------------------------------------------------------------------

# A whole document, or a fragment with what belongs in its <head> (Odoo's first
# sanitizing keeps Outlook's <style> but drops <html> and <head>): parsed as a
# document, so that nothing the parser moves into the <head> is left out.
_DOCUMENT = re.compile(
    r"</?(?:html|body|head)[\s>]|<(?:style|meta|title|link|base)[\s>/]", re.IGNORECASE
)
_XML_DECLARATION = re.compile(r"^\s*<\?xml[^>]*\?>", re.IGNORECASE)


def _parse(source):
    """(root to work in, function writing the tree back) or None when unparsable."""
    source = _XML_DECLARATION.sub("", source)
    try:
        if _DOCUMENT.search(source):
            document = lxml_html.document_fromstring(source)
            root = _gathered_body(document)
            return root, lambda: lxml_html.tostring(document, encoding="unicode")
        root = lxml_html.fragment_fromstring(source, create_parent="div")
    except (etree.ParserError, ValueError):
        return None

    def write_fragment():
        leading = htmllib.escape(root.text or "", quote=False)
        return leading + "".join(
            lxml_html.tostring(child, encoding="unicode") for child in root
        )

    return root, write_fragment


def _gathered_body(document):
    """The body, holding also what the parser put after it (text after </body> or
    </html> lands in a second <html>): all that follows the history is in it then,
    and no <html>/<body> inside it, whose marks Odoo's sanitizer would drop."""
    body = document.find("body")
    if body is None:
        return document
    for sibling in list(body.itersiblings()):
        body.append(sibling)
    for nested in body.xpath(".//html | .//body"):
        nested.drop_tag()
    return body


def mark_quoted_history(source):
    """``source`` (HTML) with its quoted history marked as Odoo marks quotes, or
    ``source`` itself when there is no history or nothing above it."""
    if not source or not source.strip():
        return source
    parsed = _parse(source)
    if parsed is None:
        return source
    root, write = parsed
    layout = _Layout(root)
    if layout.max_depth >= _PARSER_MAX_DEPTH:
        return source
    position, element = _history_start(layout)
    if position is None or not layout.text[:position].strip():
        return source
    if element is not None:
        first = _outermost_starting_with(layout, element, root)
    else:
        first = _first_quoted_node(layout, position, root)
    if first is None or first is root:
        return source
    _quote_from(_lift_to_root(first, root))
    marked = write()
    # The parser repairs broken markup in ways of its own: should writing the tree
    # back lose any word, the body stays as it came.
    return marked if _same_words(marked, source) else source


def _same_words(one, other):
    try:
        return _words(one) == _words(other)
    except (etree.ParserError, ValueError):
        return False


def _words(source):
    source = _XML_DECLARATION.sub("", source)
    return lxml_html.document_fromstring(source).text_content().split()


# ---------------------------------------------------------------------------
# What the chatter shows
# ---------------------------------------------------------------------------


class ChatterView:
    """What the chatter shows of a message body, decided the way its
    ``insertReadMoreLess`` decides: an element marked with data-o-mail-quote is
    folded whole, so is a <br> after a marked sibling; a run of such siblings is one
    fold (one "Read More"); everything else is shown."""

    def __init__(self, source):
        self._shown, self._folded = [], []
        self.folds = 0
        parsed = _parse(source or "")
        if parsed is not None:
            self._walk(parsed[0])
        self.shown = "".join(self._shown)
        self.folded = "".join(self._folded)

    def _walk(self, element):
        in_fold = marked_before = False
        self._shown.append(element.text or "")
        for child in element:
            if isinstance(child.tag, str):
                if child.get(QUOTE_ATTR) or (child.tag == "br" and marked_before):
                    self.folds += not in_fold
                    in_fold = marked_before = True
                    self._folded.append(child.text_content() + "\n")
                else:
                    in_fold = False
                    self._shown.append("\n" if child.tag in _BLOCK_TAGS else "")
                    self._shown.append("\n" if child.tag == "br" else "")
                    self._walk(child)
            if child.tail:
                # Only a text that is not blank ends a fold (ends a run of siblings).
                in_fold = in_fold and not child.tail.strip()
                self._shown.append(child.tail)
