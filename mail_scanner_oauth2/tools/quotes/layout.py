# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The text of an HTML tree as a reader sees it, mapped back to the tree."""

import bisect
import re

from lxml import etree

from .detect import is_history_element

# Tags that start a new line on screen (what matters here is where lines begin).
BLOCK_TAGS = frozenset(
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

TEXT, TAIL, WHOLE, BREAK = range(4)


# ---------------------------------------------------------------------------
# The text as a reader sees it, mapped back to the tree
# ---------------------------------------------------------------------------


class Layout:
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
            self._emit("\n", None, BREAK)

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
            if tag in BLOCK_TAGS:
                self._new_line()
            if element is not root and element.tail:
                self._emit_text(element.tail, element, TAIL, in_pre)

    def _open(self, element, tag, in_pre):
        if tag == "br":
            self._emit("\n", None, BREAK)
        elif tag in BLOCK_TAGS:
            self._new_line()
        self.element_starts[element] = self.length
        if tag is None:
            return
        if self.first_history_element is None and is_history_element(element):
            self.first_history_element = element
        if tag == "hr":
            self._emit(_HR_TEXT, element, WHOLE)
        elif tag == "img":
            self._emit(_OBJECT_TEXT, element, WHOLE)
        elif element.text:
            self._emit_text(element.text, element, TEXT, in_pre or tag == "pre")

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
