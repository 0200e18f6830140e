# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Marking the quoted history, from where it starts to the end, as Odoo marks quotes."""

import html as htmllib
import re

from lxml import etree
from lxml import html as lxml_html

from .detect import history_start
from .layout import BREAK, TAIL, TEXT, Layout

QUOTE_ATTR = "data-o-mail-quote"

# libxml2 drops, without a word, whatever is nested deeper than this (and all that
# follows it): writing such a tree back would lose text, so it is left alone.
_PARSER_MAX_DEPTH = 255


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
    if kind == BREAK:
        return None
    if kind == TAIL:
        span = _quote_span(node.tail[offset:])
        node.tail = node.tail[:offset] or None
        node.addnext(span)
        return span
    if kind == TEXT and offset:
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


def parse(source):
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
    parsed = parse(source)
    if parsed is None:
        return source
    root, write = parsed
    layout = Layout(root)
    if layout.max_depth >= _PARSER_MAX_DEPTH:
        return source
    position, element = history_start(layout)
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
