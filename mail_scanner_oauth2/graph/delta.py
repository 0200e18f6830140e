"""Delta sync of one folder: pages of new mail, then the link to the next round."""

import logging
from urllib.parse import quote, urlencode

from . import errors
from .items import SIZE_EXPAND, MessageRef, format_datetime
from .transport import users_path

_logger = logging.getLogger(__name__)

DELTA_SELECT = (
    "id",
    "internetMessageId",
    "conversationId",
    "subject",
    "from",
    "sender",
    "receivedDateTime",
    "isRead",
    "hasAttachments",
)
# A delta token that expires again and again within one round is a server problem.
MAX_RESYNCS_PER_ROUND = 3


class DeltaRound:
    """One pass of delta sync over a folder. Iterate pages() to the end, then save
    delta_link: it exists only once the server sent @odata.deltaLink."""

    def __init__(
        self, client, mailbox, folder_id, delta_link=None, since=None, page_size=100
    ):
        self._client = client
        self.mailbox = mailbox
        self.folder_id = folder_id
        self.since = since
        self.page_size = page_size
        self._start_link = delta_link
        self._delta_link = None
        self.resynced = False
        self.page_count = 0

    @property
    def delta_link(self):
        if self._delta_link is None:
            raise RuntimeError(
                "delta_link is only known once pages() has been exhausted"
            )
        return self._delta_link

    def first_url(self):
        # The size comes with each change, so no $batch is needed to learn it.
        params = {
            "changeType": "created",
            "$select": ",".join(DELTA_SELECT),
            "$expand": SIZE_EXPAND,
        }
        if self.since is not None:
            params["$filter"] = f"receivedDateTime ge {format_datetime(self.since)}"
        base = self._client.url(
            users_path(self.mailbox, "mailFolders", self.folder_id, "messages", "delta")
        )
        return f"{base}?{urlencode(params, quote_via=quote, safe='$,()=')}"

    def pages(self):
        url = self._start_link or self.first_url()
        resyncs = 0
        while True:
            try:
                body = self._client.get_json(
                    url,
                    mailbox=self.mailbox,
                    folder=self.folder_id,
                    prefer=f"odata.maxpagesize={int(self.page_size)}",
                )
            except errors.SyncStateNotFound:
                # Expired or reset delta state: start over with the same cut-off.
                # Messages already seen come again; the consumer deduplicates by id.
                resyncs += 1
                if resyncs > MAX_RESYNCS_PER_ROUND:
                    raise
                _logger.info(
                    "delta state of %s expired: full resynchronisation", self.mailbox
                )
                self.resynced = True
                url = self.first_url()
                continue
            self.page_count += 1
            yield [MessageRef.from_graph(item) for item in body.get("value") or []]
            if body.get("@odata.nextLink"):
                # Opaque: replayed as is, even after an empty page.
                url = body["@odata.nextLink"]
            elif body.get("@odata.deltaLink"):
                self._delta_link = body["@odata.deltaLink"]
                return
            else:
                raise errors.IncompleteDelta({"mailbox": self.mailbox})
