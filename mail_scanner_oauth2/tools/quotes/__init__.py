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

Where the history starts is read in detect.py (the patterns), on the text as a reader
sees it (layout.py); fold.py marks it, chatter.py shows what the chatter makes of it.

No Odoo import: the DB-less tests load this package on its own.
"""

from .chatter import ChatterView
from .fold import QUOTE_ATTR, mark_quoted_history

__all__ = ["QUOTE_ATTR", "ChatterView", "mark_quoted_history"]
