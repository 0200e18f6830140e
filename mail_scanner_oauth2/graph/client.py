"""GraphMailClient: the few Microsoft Graph mail calls the scanner needs, app-only.

The requests themselves go through graph/transport.py (token, retries, errors) and
graph/batch.py ($batch); delta rounds are graph/delta.py, how downloads are grouped
graph/download.py, the values answered graph/items.py.
"""

import tempfile
from urllib.parse import quote, urlsplit

from . import errors
from .auth import token_roles
from .batch import GraphBatches, chunks
from .delta import DeltaRound
from .download import SPOOL_BYTES, decode_mime_body, download_plan
from .items import SIZE_EXPAND, Folder, size_from
from .transport import users_path

WRITE_ROLE = "Mail.ReadWrite"


class GraphMailClient(GraphBatches):
    def __repr__(self):
        return f"<GraphMailClient tenant={self.tenant_id} client_id={self.client_id}>"

    # --- roles -----------------------------------------------------------------------

    def check_roles(self, required=(WRITE_ROLE,)):
        """Raises MissingRole for the first application role the token lacks.

        The token's `roles` claim says at once what Azure granted, before any
        mailbox is named. Returns the granted roles (None: not a readable JWT).
        A role missing from the cached token is looked for in a new one first.
        """
        roles = token_roles(self.acquire_token())
        if roles is not None and any(role not in roles for role in required):
            roles = token_roles(self.refresh_token())
        if roles is None:
            return None
        for role in required:
            if role not in roles:
                raise errors.MissingRole(
                    {
                        "app": self.client_id,
                        "role": role,
                        "granted": ", ".join(sorted(roles)) or "-",
                    },
                    code="MissingRole",
                )
        return roles

    def check_access(self, mailbox, folder="inbox", roles=(WRITE_ROLE,)):
        """Proves token, application roles, mailbox, folder and access policy."""
        self.check_roles(roles)
        return self.get_folder(mailbox, folder)

    # --- folders -------------------------------------------------------------------

    def get_folder(self, mailbox, folder):
        item = self.get_json(
            self.url(users_path(mailbox, "mailFolders", folder)),
            mailbox=mailbox,
            folder=folder,
        )
        return Folder.from_graph(item)

    def list_folders(self, mailbox):
        """The whole folder tree: root folders, each with .children filled in."""
        roots = self._list_children(mailbox, None, parent_path=None)
        pending = list(roots)
        while pending:
            folder = pending.pop()
            if folder.child_count:
                folder.children = self._list_children(
                    mailbox, folder.id, parent_path=folder.path
                )
                pending.extend(folder.children)
        return roots

    def create_folder(self, mailbox, name, parent_id=None):
        """Create a folder (under parent_id, or at the top); return the existing one
        of the same name (case-insensitive) if there is one."""
        url = self._folders_url(mailbox, parent_id)
        try:
            item = self.request_json(
                "POST",
                url,
                json={"displayName": name},
                mailbox=mailbox,
                folder=parent_id,
            )
            return Folder.from_graph(item)
        except errors.FolderExists:
            existing = self._find_child(mailbox, parent_id, name)
            if existing is None:
                raise
            return existing

    def _folders_url(self, mailbox, parent_id):
        if parent_id:
            return self.url(
                users_path(mailbox, "mailFolders", parent_id, "childFolders")
            )
        return self.url(users_path(mailbox, "mailFolders"))

    def _list_children(self, mailbox, parent_id, parent_path):
        folders = []
        url = f"{self._folders_url(mailbox, parent_id)}?$top=100"
        while url:
            body = self.get_json(url, mailbox=mailbox, folder=parent_id)
            folders += [
                Folder.from_graph(item, parent_path) for item in body.get("value") or []
            ]
            url = body.get("@odata.nextLink")
        return folders

    def _find_child(self, mailbox, parent_id, name):
        wanted = name.casefold()
        for folder in self._list_children(mailbox, parent_id, parent_path=None):
            if folder.name.casefold() == wanted:
                return folder
        return None

    # --- messages ------------------------------------------------------------------

    def delta(self, mailbox, folder_id, delta_link=None, since=None, page_size=100):
        if delta_link:
            self._check_same_origin(delta_link)
        return DeltaRound(
            self,
            mailbox,
            folder_id,
            delta_link=delta_link,
            since=since,
            page_size=page_size,
        )

    def fetch_mime(self, mailbox, items):
        """Yield (id, bytes | GraphError) download after download, so the caller can
        work while the next one downloads. One failing message never stops the others.

        `items` are ids or (id, size in bytes or None) pairs, in the order wanted;
        see download_plan() for how they are grouped.
        """
        for group in download_plan(items, self.batch_size):
            if len(group) == 1 and group[0][1] is None:
                mid = group[0][0]
                yield mid, self._stream_mime(mailbox, mid)
                continue
            entries = {
                mid: {
                    "method": "GET",
                    "url": f"{self._message_path(mailbox, mid)}/$value",
                }
                for mid, _size in group
            }
            answers = self._batch(entries, mailbox)
            for mid, _size in group:
                status, _headers, body = answers[mid]
                yield mid, self._mime_result(status, body, mailbox)

    def _stream_mime(self, mailbox, message_id):
        """One mail's MIME from $value, streamed through a temporary file: no JSON,
        no base64, and at most SPOOL_BYTES of it in memory while it arrives."""
        url = self.url(f"{self._message_path(mailbox, message_id)}/$value")
        try:
            response = self.request("GET", url, mailbox=mailbox, stream=True)
        except errors.GraphError as exc:
            return exc
        with response, tempfile.SpooledTemporaryFile(SPOOL_BYTES) as spool:
            try:
                for chunk in response.iter_content(256 * 1024):
                    spool.write(chunk)
            except OSError as exc:  # the connection broke in the middle
                return errors.connection_error(urlsplit(url).hostname, exc)
            spool.seek(0)
            return spool.read()

    def mark_read(self, mailbox, ids):
        return self._batch_command(
            mailbox,
            ids,
            lambda mid: {
                "method": "PATCH",
                "url": self._message_path(mailbox, mid),
                "body": {"isRead": True},
            },
        )

    def move(self, mailbox, ids, destination_id):
        # Retried entries of a move that already happened answer 404
        # ErrorItemNotFound: reported as ItemNotFound and left to the caller (with
        # ImmutableId it can look the message up in the destination).
        return self._batch_command(
            mailbox,
            ids,
            lambda mid: {
                "method": "POST",
                "url": f"{self._message_path(mailbox, mid)}/move",
                "body": {"destinationId": destination_id},
            },
        )

    def message_sizes(self, mailbox, ids):
        """PR_MESSAGE_SIZE of each message (bytes), None when unknown or on error."""
        expand = quote(SIZE_EXPAND, safe="()$='")
        sizes = {}
        for chunk in chunks(list(ids), self.batch_size):
            entries = {
                mid: {
                    "method": "GET",
                    "url": f"{self._message_path(mailbox, mid)}"
                    f"?$select=id&$expand={expand}",
                }
                for mid in chunk
            }
            for mid, (status, _headers, body) in self._batch(entries, mailbox).items():
                sizes[mid] = size_from(body) if 200 <= status < 300 else None
        return sizes

    def _message_path(self, mailbox, message_id):
        return users_path(mailbox, "messages", message_id)

    def _mime_result(self, status, body, mailbox):
        if not 200 <= status < 300:
            return self._entry_error(status, {}, body, mailbox)
        if body is None:
            return b""  # an item without content: the importer says "empty"
        try:
            return decode_mime_body(body)
        except ValueError:
            return errors.UnreadableBody({"mailbox": mailbox}, status=status)
