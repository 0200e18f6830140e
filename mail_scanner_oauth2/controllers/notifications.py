# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The endpoint Microsoft Graph calls: change notifications and lifecycle events.

- ``?validationToken=...`` (Graph's handshake when it subscribes or renews): the
  token, as ``text/plain``, at once and without touching the database.
- A notification POST: read at most MAX_BODY bytes (413 beyond), parsed strictly
  (400 when it is not a Graph notification), then 202 whatever it contained. Only
  notifications naming the mailbox's subscription and carrying its clientState count;
  they wake that mailbox's scan and nothing else (the mail itself comes by delta, so
  nothing in a notification is trusted or imported). Forged, stale or unknown
  notifications get the same 202, so the answer reveals nothing.

Both URLs carry the mailbox id; one database per Odoo server (or a dbfilter) lets an
unauthenticated request find its database, as for every webhook of Odoo.
"""

import logging

from odoo import http
from odoo.http import Response, request

from ..graph.errors import InvalidNotification
from ..graph.subscriptions import (
    MAX_NOTIFICATION_BYTES,
    parse_notifications,
    validation_token,
)

_logger = logging.getLogger(__name__)

# A batch of 1,000 notifications is ~700 kB: larger bodies are not Graph's.
MAX_BODY = MAX_NOTIFICATION_BYTES


class GraphNotifications(http.Controller):
    @http.route(
        [
            "/mail_scanner_oauth2/notify/<int:mailbox_id>",
            "/mail_scanner_oauth2/lifecycle/<int:mailbox_id>",
        ],
        type="http",
        auth="none",
        methods=["GET", "POST"],
        csrf=False,
        save_session=False,
        max_content_length=MAX_BODY,
        readonly=False,
    )
    def graph_notification(self, mailbox_id, **_query):
        try:
            token = validation_token(request.httprequest.args)
        except InvalidNotification:
            return _empty(400)
        if token is not None:
            # Graph's handshake (a GET lets an administrator check the address
            # from a browser outside the network).
            return Response(
                token,
                status=200,
                content_type="text/plain; charset=utf-8",
                headers=[("X-Content-Type-Options", "nosniff")],
            )
        if request.httprequest.method != "POST":
            return _empty(405)
        body = _body()
        if body is None:
            return _empty(413)
        try:
            notifications = parse_notifications(body, max_bytes=MAX_BODY)
        except InvalidNotification as exc:
            _logger.info("Mail Scanner: refused a notification POST: %s", exc)
            return _empty(400)
        request.env["mail.scanner.subscription"].sudo()._receive(
            mailbox_id, notifications
        )
        return _empty(202)


def _body():
    """The request body, or None when it is over MAX_BODY. A declared length over
    the limit is refused unread; without one (chunked), the route's
    max_content_length makes Werkzeug (2.3 and later) stop reading at the limit."""
    length = request.httprequest.content_length
    if length is not None and length > MAX_BODY:
        return None
    data = request.httprequest.get_data(cache=True)
    return data if len(data) <= MAX_BODY else None


def _empty(status):
    return Response(status=status, headers=[("Cache-Control", "no-store")])
