# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""What the chatter shows of a message body and what it folds."""

from .fold import QUOTE_ATTR, parse
from .layout import BLOCK_TAGS

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
        parsed = parse(source or "")
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
                    self._shown.append("\n" if child.tag in BLOCK_TAGS else "")
                    self._shown.append("\n" if child.tag == "br" else "")
                    self._walk(child)
            if child.tail:
                # Only a text that is not blank ends a fold (ends a run of siblings).
                in_fold = in_fold and not child.tail.strip()
                self._shown.append(child.tail)
