"""Microsoft's own Python SDK (msgraph-sdk + azure-identity) against the emulator.

The SDK is the reference for what Microsoft Graph accepts and returns: every call our
client makes is made here again through `GraphServiceClient`, the answers must parse
into the SDK's models without error, carry what the emulator holds, and match what our
own client (the `client` fixture of tests/conftest.py) sees for the same mailbox.

Wiring (found in the installed packages): azure-identity's `ClientSecretCredential`
with `authority` = the emulator, `disable_instance_discovery=True` and
`connection_verify` = the emulator's CA (its azure-core requests transport, with
`use_env_settings=False`); the SDK's own `httpx.AsyncClient` built by
`GraphClientFactory.create_with_default_middleware` with the SDK's default options,
`base_url` = emulator.graph_url and an SSL context trusting only the emulator's CA.
TLS-related environment variables are removed for every test, and neither side reads
the environment anyway.

What the SDK sends that the docs' examples do not show, and the emulator accepts as
Graph does: `/v1.0//users/...` (the base URL keeps httpx's trailing slash),
`/messages/delta()` (the OData function-call form; the SDK never sends the qualified
`microsoft.graph.delta()`, but follows next and delta links written that way),
`{"DestinationId": ...}` for a move (the parameter name of Graph's metadata), and batch
entries with `depends_on`.

The session's emulator is realistic (graph_emulator.realism): $value is the MIME
Exchange regenerates, changes come twice, rounds may start with an empty page. A test
that counts pages says so with `emulator.temporarily("tidy")`.

The SDK is async: each test runs its coroutine with asyncio.run (no pytest-asyncio).
"""

import asyncio
import contextlib
import email
import email.policy
import re
import ssl
import sys
import types
import uuid
from datetime import datetime, timedelta, timezone

import httpx
import jwt
import pytest
from azure.identity import ClientSecretCredential
from conftest import make_client
from graph_emulator.samples import make_eml
from kiota_abstractions.authentication.anonymous_authentication_provider import (
    AnonymousAuthenticationProvider,
)
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_abstractions.method import Method
from kiota_abstractions.native_response_handler import NativeResponseHandler
from kiota_abstractions.request_information import RequestInformation
from kiota_authentication_azure.azure_identity_authentication_provider import (
    AzureIdentityAuthenticationProvider,
)
from kiota_http.middleware.options.response_handler_option import (
    ResponseHandlerOption,
)
from mail_scanner_graph import errors
from mail_scanner_graph.delta import DELTA_SELECT
from mail_scanner_graph.send import MailSender
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.attachment_item import AttachmentItem
from msgraph.generated.models.attachment_type import AttachmentType
from msgraph.generated.models.body_type import BodyType
from msgraph.generated.models.email_address import EmailAddress
from msgraph.generated.models.file_attachment import FileAttachment
from msgraph.generated.models.item_body import ItemBody
from msgraph.generated.models.mail_folder import MailFolder
from msgraph.generated.models.message import Message
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.recipient import Recipient
from msgraph.generated.models.upload_session import UploadSession
from msgraph.generated.users.item.mail_folders.item.messages.delta.delta_request_builder import (  # noqa: E501
    DeltaRequestBuilder,
)
from msgraph.generated.users.item.messages.item.attachments.create_upload_session.create_upload_session_post_request_body import (  # noqa: E501
    CreateUploadSessionPostRequestBody,
)
from msgraph.generated.users.item.messages.item.move.move_post_request_body import (
    MovePostRequestBody,
)
from msgraph.generated.users.item.send_mail.send_mail_post_request_body import (
    SendMailPostRequestBody,
)
from msgraph.graph_request_adapter import options as SDK_DEFAULT_OPTIONS
from msgraph_core import GraphClientFactory
from msgraph_core.models import LargeFileUploadSession

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
IMMUTABLE_ID = 'IdType="ImmutableId"'
UTC = timezone.utc
# Anything that could point TLS trust, the authority or a proxy elsewhere.
ENVIRONMENT = (
    "REQUESTS_CA_BUNDLE",
    "CURL_CA_BUNDLE",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "AZURE_AUTHORITY_HOST",
    "AZURE_REGIONAL_AUTHORITY_NAME",
    "MSAL_FORCE_REGION",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "all_proxy",
)


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch):
    for name in ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)


# --- the SDK, wired to the emulator ---------------------------------------------------


def sdk_credential(emulator, tenant, app):
    return ClientSecretCredential(
        tenant.id,
        app.client_id,
        app.secret,
        authority=emulator.url,
        disable_instance_discovery=True,
        connection_verify=emulator.ca_path,
        use_env_settings=False,
    )


@contextlib.asynccontextmanager
async def graph_sdk(emulator, tenant, app):
    """A GraphServiceClient built the way the SDK builds its default one, except for
    the host and the CA. Its base URL keeps httpx's trailing slash, as the default
    does, so requests go to /v1.0//users/... exactly as they would to Microsoft."""
    credential = sdk_credential(emulator, tenant, app)
    http = httpx.AsyncClient(
        base_url=emulator.graph_url,
        verify=ssl.create_default_context(cafile=emulator.ca_path),
        trust_env=False,
        timeout=httpx.Timeout(30, connect=10),
    )
    http = GraphClientFactory.create_with_default_middleware(
        client=http, options=SDK_DEFAULT_OPTIONS
    )
    auth = AzureIdentityAuthenticationProvider(
        credential, scopes=[GRAPH_SCOPE], allowed_hosts=["127.0.0.1"]
    )
    try:
        yield GraphServiceClient(request_adapter=GraphRequestAdapter(auth, client=http))
    finally:
        await http.aclose()
        credential.close()


def run(emulator, tenant, app, scenario):
    """asyncio.run(scenario(graph)) with a fresh SDK client."""

    async def main():
        async with graph_sdk(emulator, tenant, app) as graph:
            return await scenario(graph)

    return asyncio.run(main())


def config(*preferences, query=None):
    """A request configuration sending Prefer: IdType="ImmutableId" (as our client
    does on every request) plus any other preference."""
    configuration = RequestConfiguration(query_parameters=query)
    for preference in (*preferences, IMMUTABLE_ID):
        configuration.headers.add("Prefer", preference)
    return configuration


def deliver(mailbox, count, folder="inbox", tag="m", start=None):
    """`count` messages of varied shape and size, oldest first; returns them."""
    start = start or datetime.now(UTC) - timedelta(days=1)
    delivered = []
    for n in range(count):
        attachments = (
            [(f"report-{n}.pdf", b"%PDF-1.4\n" + bytes(range(256)) * (n + 1))]
            if n % 3 == 2
            else ()
        )
        eml = make_eml(
            f"{tag} {n} - ação {uuid.uuid4().hex[:6]}",
            f'"Cliente {n}" <customer{n}@example.com>',
            mailbox.address,
            f"Olá,\nmensagem {n}\n" + "linha\n" * (n * 40),
            html=f"<p>mensagem <b>{n}</b></p>" if n % 2 else None,
            attachments=attachments,
        )
        delivered.append(
            mailbox.deliver(eml, folder=folder, received=start + timedelta(minutes=n))
        )
    return delivered


async def all_pages(first, follow):
    """Every item of a paged collection, following odata_next_link."""
    page, items = await first, []
    while True:
        items += page.value or []
        if not page.odata_next_link:
            return items
        page = await follow(page.odata_next_link)


def mime_values(data):
    """What a mail reader takes from a message: the same in the delivered MIME and in
    the MIME Exchange regenerates."""
    msg = email.message_from_bytes(data, policy=email.policy.SMTP)
    text = msg.get_body(("plain",))
    return {
        "from": [(a.display_name, a.addr_spec) for a in msg["From"].addresses],
        "to": [a.addr_spec for a in msg["To"].addresses],
        "subject": str(msg["Subject"]),
        "message_id": re.findall(r"<[^<>\s]+>", str(msg["Message-ID"])),
        "date": msg["Date"].datetime,
        "text": text.get_content().replace("\r\n", "\n").strip(),
        "attachments": sorted(
            (part.get_filename(), part.get_content())
            for part in msg.walk()
            if part.get_filename()
        ),
    }


# --- token ----------------------------------------------------------------------------


def test_token_for_client_credentials_matches_ours(emulator, tenant, app, client):
    credential = sdk_credential(emulator, tenant, app)
    try:
        token = credential.get_token(GRAPH_SCOPE)
    finally:
        credential.close()
    assert token.expires_on > datetime.now(UTC).timestamp() + 3000
    sdk_claims = jwt.decode(token.token, options={"verify_signature": False})
    our_claims = jwt.decode(client.acquire_token(), options={"verify_signature": False})
    for claim in ("aud", "appid", "tid", "roles", "iss"):
        assert sdk_claims[claim] == our_claims[claim], claim
    assert sdk_claims["aud"] == "https://graph.microsoft.com"
    assert sdk_claims["appid"] == app.client_id
    assert sdk_claims["tid"] == tenant.id
    assert "Mail.ReadWrite" in sdk_claims["roles"]
    token_rows = emulator.log.select(path_contains="/oauth2/v2.0/token")
    assert [row.status for row in token_rows] == [200, 200]
    assert {row.client_id for row in token_rows} == {app.client_id}


# --- folders --------------------------------------------------------------------------


def test_folder_tree_matches_emulator_and_ours(emulator, tenant, app, mailbox, client):
    tickets = mailbox.add_folder("Tickets", parent="inbox")
    mailbox.add_folder("Done", parent="Inbox/Tickets")
    mailbox.add_folder("Spam rules", parent="Inbox/Tickets/Done")
    for n in range(6):  # more top-level folders than one default page (10)
        mailbox.add_folder(f"Area {n}", parent=None)
    first, _second = deliver(mailbox, 2, folder=tickets)
    mailbox.set_read(first, True)

    async def tree(graph):
        user = graph.users.by_user_id(mailbox.address)
        folders = {}

        async def walk(items, parent_path):
            for item in items:
                assert isinstance(item, MailFolder)
                name = item.display_name
                path = f"{parent_path}/{name}" if parent_path else name
                folders[path] = item
                if item.child_folder_count:
                    children = user.mail_folders.by_mail_folder_id(
                        item.id
                    ).child_folders
                    await walk(
                        await all_pages(
                            children.get(request_configuration=config()),
                            lambda url, c=children: c.with_url(url).get(),
                        ),
                        path,
                    )

        roots = await all_pages(
            user.mail_folders.get(request_configuration=config()),
            lambda url: user.mail_folders.with_url(url).get(),
        )
        await walk(roots, None)
        return folders

    sdk = run(emulator, tenant, app, tree)

    expected = {
        f.path: f for f in mailbox.folders.values() if f.well_known != "msgfolderroot"
    }
    assert set(sdk) == set(expected)
    assert "Inbox/Tickets/Done/Spam rules" in sdk
    for path, item in sdk.items():
        folder = expected[path]
        assert item.id == folder.id
        assert item.display_name == folder.name
        assert item.parent_folder_id == folder.parent_id
        assert item.child_folder_count == len(folder.children)
        assert item.total_item_count == len(folder.items)
        assert item.unread_item_count == sum(
            1 for m in folder.items.values() if not m.is_read
        )
    assert (
        sdk["Inbox/Tickets"].total_item_count,
        sdk["Inbox/Tickets"].unread_item_count,
    ) == (2, 1)

    mine = {
        f.path: f for root in client.list_folders(mailbox.address) for f in root.walk()
    }
    assert set(mine) == set(sdk)
    for path, folder in mine.items():
        item = sdk[path]
        assert (folder.id, folder.name, folder.parent_id) == (
            item.id,
            item.display_name,
            item.parent_folder_id,
        )
        assert (folder.total, folder.unread, folder.child_count) == (
            item.total_item_count,
            item.unread_item_count,
            item.child_folder_count,
        )


def test_create_child_folder(emulator, tenant, app, mailbox, client):
    inbox = mailbox.folder("inbox")

    async def create(graph):
        children = (
            graph.users.by_user_id(mailbox.address)
            .mail_folders.by_mail_folder_id("inbox")
            .child_folders
        )
        created = await children.post(MailFolder(display_name="Processed"))
        with pytest.raises(ODataError) as duplicate:
            await children.post(MailFolder(display_name="processed"))
        return created, duplicate.value

    created, duplicate = run(emulator, tenant, app, create)

    folder = mailbox.folder("Inbox/Processed")
    assert isinstance(created, MailFolder)
    assert (created.id, created.display_name, created.parent_folder_id) == (
        folder.id,
        "Processed",
        inbox.id,
    )
    assert (created.child_folder_count, created.total_item_count) == (0, 0)
    assert duplicate.response_status_code == emulator.folder_exists_status
    assert duplicate.error.code == "ErrorFolderExists"
    # Our client: same folder back for the same name (ErrorFolderExists handled).
    again = client.create_folder(mailbox.address, "Processed", parent_id=inbox.id)
    assert (again.id, again.name, again.parent_id) == (folder.id, "Processed", inbox.id)


# --- delta ----------------------------------------------------------------------------


def test_delta_round_then_replay(emulator, tenant, app, mailbox, client):
    first_batch = deliver(mailbox, 7, tag="first")
    mailbox.set_read(first_batch[1], True)
    page_size = 3
    # Our client's round over the same state (below), for a page-by-page comparison.
    query = DeltaRequestBuilder.DeltaRequestBuilderGetQueryParameters(
        change_type="created", select=list(DELTA_SELECT)
    )

    async def round_(graph, delta_link=None):
        delta = (
            graph.users.by_user_id(mailbox.address)
            .mail_folders.by_mail_folder_id("inbox")
            .messages.delta
        )
        prefer = f"odata.maxpagesize={page_size}"
        if delta_link:  # replayed exactly as received
            page = await delta.with_url(delta_link).get(
                request_configuration=config(prefer)
            )
        else:
            page = await delta.get(request_configuration=config(prefer, query=query))
        pages = []
        while True:
            assert all(isinstance(m, Message) for m in page.value)
            pages.append(page.value)
            if not page.odata_next_link:
                assert page.odata_delta_link
                return pages, page.odata_delta_link
            assert not page.odata_delta_link
            page = await delta.with_url(page.odata_next_link).get(
                request_configuration=config(prefer)
            )

    async def scenario(graph):
        pages, link = await round_(graph)
        new = deliver(mailbox, 2, tag="second", start=datetime.now(UTC))
        replay, link2 = await round_(graph, link)
        idle, _ = await round_(graph, link2)
        return pages, link, new, replay, idle

    with emulator.temporarily("tidy"):  # exact pages: no repeats, no empty pages
        our_round = client.delta(mailbox.address, "inbox", page_size=page_size)
        our_pages = list(our_round.pages())
        our_link = our_round.delta_link
        pages, link, new, replay, idle = run(emulator, tenant, app, scenario)

    assert [len(p) for p in pages] == [3, 3, 1]
    by_id = {m.immutable_id: m for m in first_batch}
    seen = [m for page in pages for m in page]
    assert sorted(m.id for m in seen) == sorted(by_id)
    for item in seen:
        msg = by_id[item.id]
        assert item.subject == msg.subject
        assert item.is_read == msg.is_read
        assert item.internet_message_id == msg.internet_message_id
        assert item.conversation_id == msg.conversation_id
        assert item.received_date_time == msg.received
        assert item.has_attachments == msg.parsed.has_attachments
        assert item.from_.email_address.address == msg.parsed.from_[1]
        assert item.from_.email_address.name == msg.parsed.from_[0]
        assert item.body is None  # only the $select-ed properties come back
    assert sum(item.is_read for item in seen) == 1
    new_ids = sorted(m.immutable_id for m in new)
    assert sorted(m.id for p in replay for m in p) == new_ids
    assert idle == [[]]

    # Our client saw the same pages, in the same order, with the same values.
    assert [[r.id for r in p] for p in our_pages] == [[m.id for m in p] for p in pages]
    for ref, item in zip([r for p in our_pages for r in p], seen):
        assert (
            ref.subject,
            ref.is_read,
            ref.received,
            ref.internet_message_id,
            ref.conversation_id,
            ref.has_attachments,
            ref.sender,
            ref.sender_name,
        ) == (
            item.subject,
            item.is_read,
            item.received_date_time,
            item.internet_message_id,
            item.conversation_id,
            item.has_attachments,
            item.from_.email_address.address,
            item.from_.email_address.name,
        )
    # Replaying our link, or the SDK's (opaque, same origin), gives the same changes.
    with emulator.temporarily("tidy"):
        for saved in (our_link, link):
            replayed = list(
                client.delta(mailbox.address, "inbox", delta_link=saved).pages()
            )
            assert sorted(r.id for p in replayed for r in p) == new_ids


# --- messages -------------------------------------------------------------------------


def test_mime_content_is_what_graph_serves(emulator, tenant, app, mailbox, client):
    messages = deliver(mailbox, 4, tag="mime")
    gone = messages.pop()
    mailbox.remove(gone)

    async def contents(graph):
        user = graph.users.by_user_id(mailbox.address)
        got = {}
        for msg in messages:
            got[msg.immutable_id] = await user.messages.by_message_id(
                msg.immutable_id
            ).content.get(request_configuration=config())
        with pytest.raises(ODataError) as missing:
            await user.messages.by_message_id(gone.immutable_id).content.get(
                request_configuration=config()
            )
        return got, missing.value

    got, missing = run(emulator, tenant, app, contents)

    for msg in messages:
        assert isinstance(got[msg.immutable_id], bytes)
        # Exchange's regenerated MIME: other bytes, the same values.
        assert got[msg.immutable_id] == msg.mime != msg.raw
        assert mime_values(got[msg.immutable_id]) == mime_values(msg.raw)
    assert any(b"report-2.pdf" in body for body in got.values())
    assert missing.response_status_code == 404
    assert missing.error.code == "ErrorItemNotFound"
    mine = dict(client.fetch_mime(mailbox.address, [*got, gone.immutable_id]))
    for message_id, body in got.items():
        assert mine[message_id] == body
    assert isinstance(mine[gone.immutable_id], errors.ItemNotFound)


def test_mark_read_and_move(emulator, tenant, app, mailbox, client):
    unread, immutable_move, rest_move = deliver(mailbox, 3, tag="act")
    processed = mailbox.add_folder("Processed", parent="inbox")
    old_rest_id = rest_move.rest_id

    async def act(graph):
        messages = graph.users.by_user_id(mailbox.address).messages
        patched = await messages.by_message_id(unread.immutable_id).patch(
            Message(is_read=True), request_configuration=config()
        )
        moved = await messages.by_message_id(immutable_move.immutable_id).move.post(
            MovePostRequestBody(destination_id=processed.id),
            request_configuration=config(),
        )
        # Without the ImmutableId preference: REST ids, and a new one after the move.
        moved_rest = await messages.by_message_id(old_rest_id).move.post(
            MovePostRequestBody(destination_id="archive")
        )
        with pytest.raises(ODataError) as stale:
            await messages.by_message_id(old_rest_id).content.get()
        return patched, moved, moved_rest, stale.value

    patched, moved, moved_rest, stale = run(emulator, tenant, app, act)

    assert isinstance(patched, Message)
    assert (patched.id, patched.is_read, patched.subject) == (
        unread.immutable_id,
        True,
        unread.subject,
    )
    assert unread.is_read is True
    assert isinstance(moved, Message)
    assert moved.id == immutable_move.immutable_id  # ImmutableId survives the move
    assert moved.parent_folder_id == processed.id
    assert immutable_move.folder == "Inbox/Processed"
    assert moved_rest.id == rest_move.rest_id != old_rest_id  # a new REST id
    assert moved_rest.parent_folder_id == mailbox.folder("archive").id
    assert rest_move.folder == "archive"
    assert stale.response_status_code == 404
    assert stale.error.code == "ErrorItemNotFound"

    # Our client sees the same: read flag, and the moved message in its destination.
    inbox_round = client.delta(mailbox.address, "inbox")
    inbox = {r.id: r for p in inbox_round.pages() for r in p}
    assert set(inbox) == {unread.immutable_id}
    assert inbox[unread.immutable_id].is_read is True
    processed_round = client.delta(mailbox.address, processed.id)
    assert {r.id for p in processed_round.pages() for r in p} == {moved.id}
    archive = client.delta(mailbox.address, "archive")
    assert {r.id for p in archive.pages() for r in p} == {rest_move.immutable_id}


# --- $batch ---------------------------------------------------------------------------


@pytest.fixture
def batch_classes(monkeypatch):
    """msgraph-core's batch classes. msgraph-core 1.5 imports the `deprecated` package
    without declaring it; a no-op stand-in is used when it is not installed."""
    try:
        import deprecated  # noqa: F401, PLC0415
    except ImportError:
        shim = types.ModuleType("deprecated")
        shim.deprecated = lambda *_args, **_kwargs: lambda obj: obj
        monkeypatch.setitem(sys.modules, "deprecated", shim)
    from msgraph_core.requests.batch_request_content import (  # noqa: PLC0415
        BatchRequestContent,
    )
    from msgraph_core.requests.batch_request_item import (  # noqa: PLC0415
        BatchRequestItem,
    )
    from msgraph_core.requests.batch_response_content import (  # noqa: PLC0415
        BatchResponseContent,
    )

    return BatchRequestContent, BatchRequestItem, BatchResponseContent


def test_batch_mime_and_mark_read(
    emulator, tenant, app, mailbox, client, batch_classes
):
    BatchRequestContent, BatchRequestItem, BatchResponseContent = batch_classes
    to_fetch = deliver(mailbox, 12, tag="batch")
    to_mark = to_fetch[:8]

    async def batch(graph):
        messages = graph.users.by_user_id(mailbox.address).messages
        content = BatchRequestContent()
        fetch_ids, mark_ids = {}, {}
        for msg in to_fetch:
            item = BatchRequestItem(
                request_information=messages.by_message_id(
                    msg.immutable_id
                ).content.to_get_request_information(request_configuration=config())
            )
            content.add_request(item.id, item)
            fetch_ids[item.id] = msg
        for msg in to_mark:
            item = BatchRequestItem(
                request_information=messages.by_message_id(
                    msg.immutable_id
                ).to_patch_request_information(
                    Message(is_read=True), request_configuration=config()
                )
            )
            content.add_request(item.id, item)
            mark_ids[item.id] = msg
        emulator.log.clear()
        return await graph.batch.post(content), fetch_ids, mark_ids

    response, fetch_ids, mark_ids = run(emulator, tenant, app, batch)

    assert isinstance(response, BatchResponseContent)
    statuses = response.get_response_status_codes()
    assert statuses == {key: 200 for key in (*fetch_ids, *mark_ids)}
    for key, msg in fetch_ids.items():
        # A non-JSON body travels base64-encoded; the SDK hands back the bytes.
        assert response.get_response_stream_by_id(key).read() == msg.mime
        assert response.get_response_by_id(key).content_type == "text/plain"
    assert all(msg.is_read for msg in to_mark)
    assert not any(msg.is_read for msg in to_fetch[8:])
    graph_rows = emulator.log.select(in_batch=False, path_contains="/v1.0")
    assert [(row.method, row.path, row.status) for row in graph_rows] == [
        ("POST", "/v1.0/$batch", 200)
    ]
    assert emulator.log.count(in_batch=True) == 20

    # Our client's $batch download gives the same bytes.
    mine = dict(client.fetch_mime(mailbox.address, [m.immutable_id for m in to_fetch]))
    for msg in to_fetch:
        assert mine[msg.immutable_id] == msg.mime


# --- what the real service does that its documentation does not show -----------------


def test_sdk_reads_exchange_regenerated_mime(emulator, tenant, app, mailbox, client):
    """$value is the MIME Exchange writes, not the MIME that was delivered; the SDK
    hands it over as bytes, and a mail reader finds the same values in it."""
    eml = make_eml(
        "RE: Fatura n\u00ba 42 \u2014 pagamento em atraso",
        '"Jo\u00e3o da Silva" <joao@example.com>',
        [mailbox.address, "plain@example.com"],
        "Bom dia,\nsegue a fatura.\n",
        html="<p>Bom dia, segue a <b>fatura</b>.</p>",
        message_id="<CAF" + "0123456789abcdef" * 4 + "@mail.example.com>",
        in_reply_to="<first@example.com>",
        references=["<first@example.com>"],
        attachments=[("fatura-n\u00ba42.pdf", b"%PDF-1.7\n" + bytes(range(256)) * 9)],
    )
    msg = mailbox.deliver(eml)

    async def download(graph):
        user = graph.users.by_user_id(mailbox.address)
        return await user.messages.by_message_id(msg.immutable_id).content.get(
            request_configuration=config()
        )

    with emulator.temporarily(mime_style="exchange"):
        got = run(emulator, tenant, app, download)
        assert got == msg.mime != eml
        head = got.split(b"\r\n\r\n", 1)[0]
        for header in (b"X-MS-Has-Attach: yes", b"Thread-Topic: ", b"Thread-Index: "):
            assert b"\r\n" + header in head
        assert mime_values(got) == mime_values(eml)
        parsed = email.message_from_bytes(got, policy=email.policy.SMTP)
        assert re.findall(r"<[^>]+>", str(parsed["In-Reply-To"])) == [
            "<first@example.com>"
        ]
        assert dict(client.fetch_mime(mailbox.address, [msg.immutable_id])) == {
            msg.immutable_id: got
        }
    with emulator.temporarily(mime_style="original"):  # tidy: the delivered bytes
        assert run(emulator, tenant, app, download) == eml


def test_sdk_delta_with_empty_page_redelivery_long_links_and_expiry(
    emulator, tenant, app, mailbox
):
    """A round that starts with an empty page, hands every change out twice and
    writes its links as microsoft.graph.delta(); the SDK follows them as they are. A
    delta link past its sync state's lifetime answers 410 SyncStateNotFound."""
    delivered = deliver(mailbox, 5, tag="real")
    by_id = {m.immutable_id: m for m in delivered}

    async def round_(graph, link=None):
        delta = (
            graph.users.by_user_id(mailbox.address)
            .mail_folders.by_mail_folder_id("inbox")
            .messages.delta
        )
        prefer = config("odata.maxpagesize=2")
        page = await (delta.with_url(link) if link else delta).get(
            request_configuration=prefer
        )
        pages, links = [], []
        while True:
            assert all(isinstance(m, Message) for m in page.value)
            pages.append([m.id for m in page.value])
            if not page.odata_next_link:
                return pages, links, page.odata_delta_link
            links.append(page.odata_next_link)
            page = await delta.with_url(page.odata_next_link).get(
                request_configuration=prefer
            )

    async def scenario(graph):
        first = await round_(graph)
        second = await round_(graph, first[2])
        with pytest.raises(ODataError) as expired:
            await round_(graph, second[2])
        return first, second, expired.value

    knobs = {
        "delta_empty_pages": 1,
        "delta_empty_page_rate": 1.0,
        "redeliver_rate": 1.0,
        "delta_link_style": "long",
        "delta_token_max_rounds": 2,
    }
    with emulator.temporarily("realistic", **knobs):
        (pages, links, delta_link), second, expired = run(
            emulator, tenant, app, scenario
        )

    assert pages[0] == []  # an empty page with a nextLink: keep going
    assert all("messages/microsoft.graph.delta()?$skiptoken=" in u for u in links)
    assert "messages/microsoft.graph.delta()?$deltatoken=" in delta_link
    seen = [item for page in pages for item in page]
    assert set(seen) == set(by_id)
    assert all(seen.count(item) == 2 for item in by_id)  # each change twice
    first_page = {
        item: n for n, page in reversed(list(enumerate(pages))) for item in page
    }
    last_page = {item: n for n, page in enumerate(pages) for item in page}
    assert any(last_page[i] > first_page[i] for i in by_id)  # on a later page
    # Nothing happened since: the next round still hands the last changes out again.
    again = {item for page in second[0] for item in page}
    assert again and again <= set(by_id)
    assert expired.response_status_code == 410
    assert expired.error.code == "SyncStateNotFound"
    graph_rows = emulator.log.select(path_contains="microsoft.graph.delta()")
    assert graph_rows and all(row.status in (200, 410) for row in graph_rows)


# --- sending (Mail.Send) --------------------------------------------------------------


@pytest.fixture
def send_app(tenant):
    return tenant.add_app(roles=("Mail.ReadWrite", "Mail.Send"))


def sdk_message(subject, to, text, attachments=()):
    return Message(
        subject=subject,
        body=ItemBody(content_type=BodyType.Text, content=text),
        to_recipients=[Recipient(email_address=EmailAddress(address=a)) for a in to],
        attachments=[
            FileAttachment(name=name, content_type=ctype, content_bytes=data)
            for name, ctype, data in attachments
        ]
        or None,
    )


def test_send_mail(emulator, tenant, send_app, mailbox):
    colleague = tenant.add_mailbox(f"agent@{tenant.domain}")
    pdf = b"%PDF-1.4\n" + bytes(range(256)) * 40
    message = sdk_message(
        "Ação: resposta",
        [colleague.address, "customer@example.com"],
        "Olá",
        [("quote.pdf", "application/pdf", pdf)],
    )

    async def send(graph):
        return await graph.users.by_user_id(mailbox.address).send_mail.post(
            SendMailPostRequestBody(message=message, save_to_sent_items=True),
            request_configuration=config(),
        )

    assert run(emulator, tenant, send_app, send) is None  # 202, no body

    [copy] = mailbox.messages("sentitems")
    [delivered] = colleague.messages("inbox")
    assert copy.subject == delivered.subject == "Ação: resposta"
    assert delivered.internet_message_id == copy.internet_message_id
    assert {a.name: a.content for a in delivered.parsed.attachments} == {
        "quote.pdf": pdf
    }
    assert [r.status for r in emulator.log.select(path_contains="/sendMail")] == [202]
    assert [m.recipients for m in emulator.outbound] == [["customer@example.com"]]
    # Our client finds the sent copy by its internetMessageId.
    ours = make_client(emulator, tenant, send_app)
    try:
        with MailSender(ours) as sender:
            copies = sender.find_copies(mailbox.address, copy.internet_message_id)
    finally:
        ours.close()
    assert [(c["id"], c["isDraft"]) for c in copies] == [(copy.immutable_id, False)]


def test_create_draft_then_send(emulator, tenant, send_app, mailbox):
    async def draft_and_send(graph):
        messages = graph.users.by_user_id(mailbox.address).messages
        draft = await messages.post(
            sdk_message("Draft", ["customer@example.com"], "text"),
            request_configuration=config(),
        )
        await messages.by_message_id(draft.id).send.post(request_configuration=config())
        sent = await messages.by_message_id(draft.id).get(
            request_configuration=config()
        )
        return draft, sent

    draft, sent = run(emulator, tenant, send_app, draft_and_send)

    [copy] = mailbox.messages("sentitems")
    assert isinstance(draft, Message) and isinstance(sent, Message)
    assert (draft.id, draft.is_draft, draft.parent_folder_id) == (
        copy.immutable_id,
        True,
        mailbox.folder("drafts").id,
    )
    assert draft.internet_message_id == copy.internet_message_id
    assert (sent.id, sent.is_draft, sent.parent_folder_id) == (
        copy.immutable_id,
        False,
        mailbox.folder("sentitems").id,
    )
    assert sent.to_recipients[0].email_address.address == "customer@example.com"
    assert mailbox.messages("drafts") == []
    sends = emulator.log.select(method="POST", path_contains="/send")
    assert [r.status for r in sends] == [202]


def test_upload_session(emulator, tenant, send_app, mailbox):
    """The SDK creates the session and parses every answer into its models. The
    byte ranges go through a request adapter without authentication, as Microsoft
    advises: its LargeFileUploadTask cannot read Outlook's nextExpectedRanges
    ("3145728", no dash; msgraph-sdk-python-core issue 691) and would send the
    Graph token to the upload URL."""
    content = bytes(range(251)) * (8 * 1024 * 1024 // 251)  # ~8 MB
    chunk = 3 * 1024 * 1024

    async def upload(graph):
        messages = graph.users.by_user_id(mailbox.address).messages
        draft = await messages.post(
            sdk_message("Big", ["customer@example.com"], "see attached"),
            request_configuration=config(),
        )
        session = await messages.by_message_id(
            draft.id
        ).attachments.create_upload_session.post(
            CreateUploadSessionPostRequestBody(
                attachment_item=AttachmentItem(
                    attachment_type=AttachmentType.File,
                    name="scan.tif",
                    size=len(content),
                    content_type="image/tiff",
                )
            ),
            request_configuration=config(),
        )
        anonymous = GraphRequestAdapter(
            AnonymousAuthenticationProvider(),
            client=graph.request_adapter._http_client,
        )
        answers = []
        for start in range(0, len(content), chunk):
            end = min(start + chunk, len(content)) - 1
            info = RequestInformation(method=Method.PUT)
            info.url = session.upload_url
            info.headers.try_add("Content-Range", f"bytes {start}-{end}/{len(content)}")
            info.headers.try_add("Content-Type", "application/octet-stream")
            info.set_stream_content(content[start : end + 1])
            if end + 1 < len(content):
                answers.append(
                    await anonymous.send_async(info, LargeFileUploadSession, {})
                )
            else:
                info.add_request_options(
                    [ResponseHandlerOption(NativeResponseHandler())]
                )
                answers.append(
                    await anonymous.send_async(info, LargeFileUploadSession, {})
                )
        attachments = await messages.by_message_id(draft.id).attachments.get(
            request_configuration=config()
        )
        return draft, session, answers, attachments

    draft, session, answers, attachments = run(emulator, tenant, send_app, upload)

    assert isinstance(session, UploadSession)
    assert session.next_expected_ranges == ["0-"]
    assert session.expiration_date_time > datetime.now(UTC)
    *middle, last = answers
    assert all(isinstance(a, LargeFileUploadSession) for a in middle)
    assert [a.next_expected_ranges for a in middle] == [
        [str(n)] for n in range(chunk, len(content), chunk)
    ]
    assert last.status_code == 201 and "/Attachments('" in last.headers["Location"]
    [attached] = attachments.value
    assert (attached.name, attached.size, attached.content_type) == (
        "scan.tif",
        len(content),
        "image/tiff",
    )
    assert attached.content_bytes == content
    puts = emulator.log.select(method="PUT")
    assert [r.status for r in puts] == [200] * len(middle) + [201]
    assert all(r.query == {"authtoken": "***"} for r in puts)
    assert {a.name: a.content for a in mailbox.get(draft.id).parsed.attachments} == {
        "scan.tif": content
    }
