"""Tests of the Graph + identity emulator itself: plain requests, msal for tokens."""

import base64
import os
import re
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone
from types import SimpleNamespace

import jwt
import msal
import pytest
import requests
from graph_emulator import Emulator, make_eml
from graph_emulator.pytest_fixtures import (
    Graph,
    new_session,
    self_signed_certificate,
    token_request,
)

MBOX = "support@contoso.com"
U = f"/users/{MBOX}"
SCOPE = ["https://graph.microsoft.com/.default"]
DESCRIPTION = re.compile(
    r"^AADSTS(\d+): .+\r\nTrace ID: [0-9a-f-]{36}\r\nCorrelation ID: [0-9a-f-]{36}\r\n"
    r"Timestamp: \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ$",
    re.S,
)


@pytest.fixture
def emu():
    with Emulator() as emulator:
        yield emulator


@pytest.fixture
def env(emu):
    tenant = emu.add_tenant(domain="contoso.onmicrosoft.com")
    app = tenant.add_app(roles=("Mail.ReadWrite",))
    mailbox = tenant.add_mailbox(MBOX)
    session = new_session(emu)
    resp = token_request(
        emu, tenant, session, client_id=app.client_id, client_secret=app.secret
    )
    token = resp.json()["access_token"]
    return SimpleNamespace(
        emu=emu,
        tenant=tenant,
        app=app,
        mailbox=mailbox,
        session=session,
        token=token,
        graph=Graph(emu, token, session),
        igraph=Graph(emu, token, session, immutable=True),
    )


def deliver(mailbox, n=1, folder="inbox", start=None, **kwargs):
    start = start or datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)
    return [
        mailbox.deliver(
            make_eml(
                f"Ticket {i}", f"Customer {i} <c{i}@example.com>", MBOX, f"Body {i}"
            ),
            folder=folder,
            received=start + timedelta(minutes=i),
            **kwargs,
        )
        for i in range(n)
    ]


def msal_app(emu, tenant_segment, client_id, credential):
    return msal.ConfidentialClientApplication(
        client_id,
        client_credential=credential,
        authority=f"{emu.url}/{tenant_segment}",
        instance_discovery=False,
        azure_region=False,
        http_client=new_session(emu),
    )


def error_code(resp):
    return resp.json()["error"]["code"]


# -- identity platform ----------------------------------------------------------------


def test_discovery_by_id_and_domain(env):
    for segment in (env.tenant.id, env.tenant.domain):
        resp = env.session.get(
            f"{env.emu.url}/{segment}/v2.0/.well-known/openid-configuration"
        )
        assert resp.status_code == 200
        config = resp.json()
        assert (
            config["token_endpoint"]
            == f"{env.emu.url}/{env.tenant.id}/oauth2/v2.0/token"
        )
        assert config["authorization_endpoint"].startswith(
            f"{env.emu.url}/{env.tenant.id}/"
        )
        assert config["issuer"] == f"{env.emu.url}/{env.tenant.id}/v2.0"


def test_discovery_unknown_tenant(env):
    resp = env.session.get(
        f"{env.emu.url}/nope.onmicrosoft.com/v2.0/.well-known/openid-configuration"
    )
    assert resp.status_code == 400
    body = resp.json()
    assert body["error"] == "invalid_tenant" and body["error_codes"] == [90002]
    assert {"timestamp", "trace_id", "correlation_id", "error_uri"} <= set(body)
    assert DESCRIPTION.match(body["error_description"])
    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        msal_app(env.emu, "nope.onmicrosoft.com", env.app.client_id, env.app.secret)


def test_msal_secret_token(env):
    env.emu.token_lifetime = 3599
    cca = msal_app(env.emu, env.tenant.domain, env.app.client_id, env.app.secret)
    result = cca.acquire_token_for_client(SCOPE)
    assert result["token_type"] == "Bearer" and result["expires_in"] == 3599
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["aud"] == "https://graph.microsoft.com"
    assert claims["tid"] == env.tenant.id and claims["appid"] == env.app.client_id
    assert claims["roles"] == ["Mail.ReadWrite"]
    assert claims["exp"] - claims["iat"] == 3599
    assert cca.acquire_token_for_client(SCOPE)["token_source"] == "cache"
    resp = token_request(
        env.emu, env.tenant, client_id=env.app.client_id, client_secret=env.app.secret
    )
    assert resp.headers["Cache-Control"] == "no-store, no-cache"
    assert resp.json()["ext_expires_in"] == 3599


@pytest.mark.parametrize(
    "case, code, error, status",
    [
        ("wrong_secret", 7000215, "invalid_client", 401),
        ("secret_id", 7000215, "invalid_client", 401),
        ("expired", 7000222, "invalid_client", 401),
        ("unknown_app", 700016, "unauthorized_client", 400),
        ("unknown_tenant", 90002, "invalid_tenant", 400),
        ("no_credential", 7000218, "invalid_client", 401),
        ("bad_scope", 70011, "invalid_scope", 400),
    ],
)
def test_token_errors(env, case, code, error, status):
    tenant, form = (
        env.tenant.id,
        {"client_id": env.app.client_id, "client_secret": env.app.secret},
    )
    if case == "wrong_secret":
        form["client_secret"] = "nope"
    elif case == "secret_id":
        form["client_secret"] = env.app.secret_id
    elif case == "expired":
        env.app.secret_expired = True
    elif case == "unknown_app":
        form["client_id"] = "11111111-2222-3333-4444-555555555555"
    elif case == "unknown_tenant":
        tenant = "00000000-0000-0000-0000-000000000000"
    elif case == "no_credential":
        del form["client_secret"]
    elif case == "bad_scope":
        form["scope"] = "Mail.Read"
    resp = token_request(env.emu, tenant, **form)
    body = resp.json()
    assert (resp.status_code, body["error"], body["error_codes"]) == (
        status,
        error,
        [code],
    )
    assert DESCRIPTION.match(body["error_description"]).group(1) == str(code)
    if case in ("wrong_secret", "secret_id"):
        assert (
            "Ensure the secret being sent in the request is the client secret value, "
            "not the client "
            f"secret ID, for a secret added to app '{env.app.client_id}'."
        ) in body["error_description"]


def test_msal_returns_error_dict(env):
    cca = msal_app(env.emu, env.tenant.id, env.app.client_id, "wrong")
    result = cca.acquire_token_for_client(SCOPE)
    assert result["error"] == "invalid_client" and 7000215 in result["error_codes"]


@pytest.mark.parametrize("style", ["thumbprint", "public_certificate"])
def test_msal_certificate(env, style):
    key_pem, cert_pem, thumbprint = self_signed_certificate()
    app = env.tenant.add_app(secret=None, certificate_pem=cert_pem)
    credential = {"private_key": key_pem}
    credential.update(
        {"thumbprint": thumbprint}
        if style == "thumbprint"
        else {"public_certificate": cert_pem}
    )
    result = msal_app(
        env.emu, env.tenant.id, app.client_id, credential
    ).acquire_token_for_client(SCOPE)
    assert "access_token" in result, result
    claims = jwt.decode(result["access_token"], options={"verify_signature": False})
    assert claims["appid"] == app.client_id and claims["appidacr"] == "2"
    # A certificate the app does not know is refused.
    other_key, _other_cert, other_thumb = self_signed_certificate("other")
    bad = msal_app(
        env.emu,
        env.tenant.id,
        app.client_id,
        {"private_key": other_key, "thumbprint": other_thumb},
    )
    assert bad.acquire_token_for_client(SCOPE)["error_codes"] == [700027]


# -- Graph authentication and authorization ---------------------------------


def test_graph_401(env):
    url = env.emu.graph_url + U + "/mailFolders/inbox"
    resp = env.session.get(url)
    assert resp.status_code == 401 and error_code(resp) == "InvalidAuthenticationToken"
    assert resp.json()["error"]["message"] == "Access token is empty."
    assert "request-id" in resp.headers and set(resp.json()["error"]["innerError"]) >= {
        "date",
        "request-id",
    }
    resp = env.session.get(url, headers={"Authorization": "Bearer garbage"})
    assert resp.status_code == 401 and error_code(resp) == "InvalidAuthenticationToken"
    assert env.graph.get(U + "/mailFolders/inbox").status_code == 200
    env.emu.expire_tokens()
    resp = env.graph.get(U + "/mailFolders/inbox")
    assert resp.status_code == 401
    assert (
        resp.json()["error"]["message"]
        == "Lifetime validation failed, the token is expired."
    )
    assert resp.headers["WWW-Authenticate"].startswith("Bearer ")
    fresh = token_request(
        env.emu, env.tenant, client_id=env.app.client_id, client_secret=env.app.secret
    )
    assert (
        Graph(env.emu, fresh.json()["access_token"])
        .get(U + "/mailFolders/inbox")
        .status_code
        == 200
    )


def test_token_expires_by_lifetime(env):
    env.emu.token_lifetime = 1
    resp = token_request(
        env.emu, env.tenant, client_id=env.app.client_id, client_secret=env.app.secret
    )
    assert resp.json()["expires_in"] == 1
    time.sleep(1.1)
    resp = Graph(env.emu, resp.json()["access_token"]).get(U + "/mailFolders/inbox")
    assert resp.status_code == 401 and "expired" in resp.json()["error"]["message"]


def test_graph_403(env):
    msg = deliver(env.mailbox)[0]
    reader = env.tenant.add_app(roles=("Mail.Read",))
    graph = Graph(
        env.emu,
        token_request(
            env.emu, env.tenant, client_id=reader.client_id, client_secret=reader.secret
        ).json()["access_token"],
    )
    assert graph.get(f"{U}/messages/{msg.rest_id}").status_code == 200
    resp = graph.patch(f"{U}/messages/{msg.rest_id}", json={"isRead": True})
    assert resp.status_code == 403 and error_code(resp) == "ErrorAccessDenied"
    assert (
        resp.json()["error"]["message"]
        == "Access is denied. Check credentials and try again."
    )
    assert (
        graph.post(
            f"{U}/messages/{msg.rest_id}/move", json={"destinationId": "archive"}
        ).status_code
        == 403
    )
    env.tenant.add_mailbox("ceo@contoso.com")
    env.app.allowed_mailboxes = [MBOX]
    resp = env.graph.get("/users/ceo@contoso.com/messages")
    assert resp.status_code == 403 and error_code(resp) == "ErrorAccessDenied"
    assert env.graph.get(U.upper() + "/messages").status_code == 200


def test_graph_404(env):
    resp = env.graph.get("/users/nobody@contoso.com/mailFolders/inbox")
    assert (resp.status_code, error_code(resp)) == (404, "ErrorInvalidUser")
    assert (
        resp.json()["error"]["message"]
        == "The requested user 'nobody@contoso.com' is invalid."
    )
    resp = env.graph.get(U + "/mailFolders/AAMkAGnope")
    assert (resp.status_code, error_code(resp)) == (404, "ErrorFolderNotFound")
    resp = env.graph.get(U + "/messages/AAMkAGnope")
    assert (resp.status_code, error_code(resp)) == (404, "ErrorItemNotFound")
    assert (
        env.graph.get(f"/users/{env.mailbox.id}/mailFolders/inbox").status_code == 200
    )
    env.tenant.add_mailbox("nomailbox@contoso.com").rest_enabled = False
    resp = env.graph.get("/users/nomailbox@contoso.com/messages")
    assert (resp.status_code, error_code(resp)) == (404, "MailboxNotEnabledForRESTAPI")


# -- folders ------------------------------------------------------------------------


def test_folders_tree_create_duplicate(env):
    items, _ = env.graph.all_pages(U + "/mailFolders", params={"$top": 3})
    names = [f["displayName"] for f in items]
    assert names == [
        "Inbox",
        "Drafts",
        "Sent Items",
        "Deleted Items",
        "Junk Email",
        "Archive",
        "Outbox",
    ]
    root = env.graph.get(U + "/mailFolders/msgfolderroot").json()
    assert {f["parentFolderId"] for f in items} == {root["id"]}
    inbox = env.graph.get(U + "/mailFolders/Inbox").json()
    assert set(inbox) >= {
        "id",
        "displayName",
        "parentFolderId",
        "childFolderCount",
        "unreadItemCount",
        "totalItemCount",
        "isHidden",
    }
    resp = env.graph.post(
        f"{U}/mailFolders/{inbox['id']}/childFolders", json={"displayName": "Tickets"}
    )
    assert resp.status_code == 201
    tickets = resp.json()
    assert tickets["parentFolderId"] == inbox["id"] and tickets["totalItemCount"] == 0
    resp = env.graph.post(
        f"{U}/mailFolders/inbox/childFolders", json={"displayName": "tickets"}
    )
    assert (resp.status_code, error_code(resp)) == (409, "ErrorFolderExists")
    assert (
        resp.json()["error"]["message"]
        == "A folder with the specified name already exists."
    )
    env.emu.folder_exists_status = 400
    resp = env.graph.post(
        f"{U}/mailFolders/inbox/childFolders", json={"displayName": "TICKETS"}
    )
    assert resp.status_code == 400
    children = env.graph.get(f"{U}/mailFolders/inbox/childFolders").json()["value"]
    assert [c["id"] for c in children] == [tickets["id"]]
    assert env.graph.get(U + "/mailFolders/inbox").json()["childFolderCount"] == 1
    resp = env.graph.post(U + "/mailFolders", json={"displayName": "Processed"})
    assert resp.status_code == 201 and resp.json()["parentFolderId"] == root["id"]
    assert env.mailbox.folder("Inbox/Tickets").id == tickets["id"]


# -- messages ---------------------------------------------------------------------


def test_list_paging_select_filter_orderby(env):
    msgs = deliver(env.mailbox, 15)
    env.mailbox.set_read(msgs[0], True)
    resp = env.graph.get(U + "/mailFolders/inbox/messages")
    body = resp.json()
    assert len(body["value"]) == 10 and "@odata.nextLink" in body
    assert body["value"][0]["subject"] == "Ticket 14"  # newest first
    items, _ = env.graph.all_pages(
        U + "/mailFolders/inbox/messages", params={"$top": 4, "$select": "subject"}
    )
    assert len(items) == 15 and set(items[0]) == {"@odata.etag", "id", "subject"}
    unread, _ = env.graph.all_pages(
        U + "/messages", params={"$filter": "isRead eq false", "$top": 100}
    )
    assert len(unread) == 14
    since = "2024-05-01T08:10:00Z"
    ok = env.graph.get(
        U + "/messages",
        params={
            "$filter": f"receivedDateTime ge {since} and isRead eq false",
            "$orderby": "receivedDateTime asc",
        },
    )
    assert [m["subject"] for m in ok.json()["value"]] == [
        f"Ticket {i}" for i in range(10, 15)
    ]
    assert (
        env.graph.get(
            U + "/messages", params={"$orderby": "receivedDateTime desc"}
        ).status_code
        == 200
    )
    resp = env.graph.get(
        U + "/messages",
        params={"$filter": "isRead eq false", "$orderby": "receivedDateTime"},
    )
    assert (resp.status_code, error_code(resp)) == (400, "InefficientFilter")
    resp = env.graph.get(U + "/messages", params={"$select": "nonsense"})
    assert resp.status_code == 400


def test_message_fields(env):
    inline = {
        "filename": "logo.png",
        "content": b"\x89PNG",
        "mimetype": "image/png",
        "inline": True,
        "cid": "<logo@x>",
    }
    raw = make_eml(
        "Printer broken",
        "Alice Smith <alice@example.com>",
        [MBOX, "other@contoso.com"],
        "Hello,\n\nthe printer is broken.\n",
        cc="Bob <bob@example.com>",
        headers={"Reply-To": "Helpdesk Alice <alice+reply@example.com>"},
        html="<p>Hello <b>there</b></p>",
        attachments=[inline],
    )
    msg = env.mailbox.deliver(raw)
    data = env.graph.get(f"{U}/messages/{msg.rest_id}").json()
    assert data["id"] == msg.rest_id and data["subject"] == "Printer broken"
    assert data["from"] == {
        "emailAddress": {"name": "Alice Smith", "address": "alice@example.com"}
    }
    assert data["sender"] == data["from"]
    assert [r["emailAddress"]["address"] for r in data["toRecipients"]] == [
        MBOX,
        "other@contoso.com",
    ]
    assert data["ccRecipients"][0]["emailAddress"]["address"] == "bob@example.com"
    assert data["replyTo"][0]["emailAddress"]["address"] == "alice+reply@example.com"
    assert data["hasAttachments"] is False  # inline only
    assert data["body"]["contentType"] == "html" and data["bodyPreview"].startswith(
        "Hello,"
    )
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", data["receivedDateTime"])
    assert (
        data["internetMessageId"] == msg.internet_message_id and data["isRead"] is False
    )
    base64.b64decode(data["conversationIndex"])
    assert data["parentFolderId"] == env.mailbox.folder("inbox").id
    assert "internetMessageHeaders" not in data
    data = env.graph.get(
        f"{U}/messages/{msg.rest_id}",
        params={
            "$select": "internetMessageHeaders,subject",
            "$expand": "singleValueExtendedProperties($filter=id eq 'Integer 0x0E08')",
        },
    ).json()
    assert {"name": "Subject", "value": "Printer broken"} in data[
        "internetMessageHeaders"
    ]
    assert data["singleValueExtendedProperties"] == [
        {"id": "Integer 0x0e08", "value": str(len(raw))}
    ]
    with_file = env.mailbox.deliver(
        make_eml("File", "a@example.com", MBOX, "x", attachments=[("a.pdf", b"%PDF")])
    )
    assert (
        env.graph.get(f"{U}/messages/{with_file.rest_id}").json()["hasAttachments"]
        is True
    )


def test_broken_mail_never_crashes(env):
    raw = (
        b"From: =?bogus-charset?Q?broken?= <<<>>>\r\nTo: ,,,\r\nSubject: "
        b"=?utf-8?B?!!!?=\r\n"
        b"Date: not a date\r\nContent-Type: multipart/mixed; "
        b'boundary="x"\r\n\r\n--x\r\n'
        b"Content-Type: text/plain; charset=unknown-8bit-xyz\r\n\r\n\xff\xfe "
        b"caf\xe9\r\n"
    )
    msg = env.mailbox.deliver(raw)
    resp = env.graph.get(f"{U}/messages/{msg.rest_id}")
    assert resp.status_code == 200 and resp.json()["id"] == msg.rest_id
    resp = env.graph.get(f"{U}/messages/{msg.rest_id}/$value")
    assert resp.status_code == 200 and resp.content == raw
    env.mailbox.deliver(b"")
    assert env.graph.get(U + "/messages").status_code == 200


def test_value_bytes_exact(env):
    raw = make_eml(
        "Bytes",
        "a@example.com",
        MBOX,
        "caf\u00e9 \u2603\n" * 50,
        attachments=[("b.bin", os.urandom(3000))],
    )
    msg = env.mailbox.deliver(raw)
    resp = env.graph.get(f"{U}/messages/{msg.rest_id}/$value")
    assert resp.status_code == 200 and resp.content == raw
    assert resp.headers["Content-Type"].startswith("text/plain")


def test_patch_is_read(env):
    msg = deliver(env.mailbox)[0]
    resp = env.graph.patch(f"{U}/messages/{msg.rest_id}", json={"isRead": True})
    assert resp.status_code == 200 and resp.json()["isRead"] is True
    assert msg.is_read is True
    assert env.graph.get(U + "/mailFolders/inbox").json()["unreadItemCount"] == 0


def test_move_new_id_old_404_immutable_survives(env):
    env.mailbox.add_folder("Processed", parent="inbox")
    msg = deliver(env.mailbox)[0]
    old_rest = msg.rest_id
    resp = env.graph.post(
        f"{U}/messages/{old_rest}/move", json={"destinationId": "archive"}
    )
    assert resp.status_code == 201
    new_rest = resp.json()["id"]
    assert new_rest != old_rest and new_rest.startswith("AAMkAG")
    assert resp.json()["parentFolderId"] == env.mailbox.folder("archive").id
    resp = env.graph.get(f"{U}/messages/{old_rest}")
    assert (resp.status_code, error_code(resp)) == (404, "ErrorItemNotFound")
    assert (
        env.graph.post(
            f"{U}/messages/{old_rest}/move", json={"destinationId": "inbox"}
        ).status_code
        == 404
    )
    # With Prefer: IdType="ImmutableId" ids survive moves.
    imm = env.igraph.get(f"{U}/messages/{new_rest}").json()["id"]
    assert imm == msg.immutable_id and imm.startswith("AAkALg") and imm != new_rest
    processed = env.mailbox.folder("Processed").id
    resp = env.igraph.post(
        f"{U}/messages/{imm}/move", json={"destinationId": processed}
    )
    assert resp.status_code == 201 and resp.json()["id"] == imm
    assert env.igraph.get(f"{U}/messages/{imm}").json()["parentFolderId"] == processed
    assert msg.folder == "Processed" and env.mailbox.get(imm) is msg


def test_conversation_threading(env):
    first = env.mailbox.deliver(
        make_eml("Printer broken", "a@example.com", MBOX, "x", message_id="<one@ex>")
    )
    reply = env.mailbox.deliver(
        make_eml(
            "RE: Printer broken",
            MBOX,
            "a@example.com",
            "y",
            in_reply_to="<one@ex>",
            references="<one@ex>",
        )
    )
    mobile = env.mailbox.deliver(
        make_eml("Aw: FW: printer BROKEN", "a@example.com", MBOX, "z")
    )
    other = env.mailbox.deliver(make_eml("Something else", "a@example.com", MBOX, "w"))
    forced = env.mailbox.deliver(
        make_eml("Unrelated", "b@example.com", MBOX, "v"),
        conversation_id=other.conversation_id,
    )
    assert first.conversation_id == reply.conversation_id == mobile.conversation_id
    assert other.conversation_id != first.conversation_id
    assert forced.conversation_id == other.conversation_id
    data = env.graph.get(
        f"{U}/messages/{reply.rest_id}", params={"$select": "conversationId"}
    ).json()
    assert data["conversationId"] == first.conversation_id


# -- delta --------------------------------------------------------------------------


def _delta_round(graph, url, maxpagesize=None, params=None):
    headers = (
        {"Prefer": f'IdType="ImmutableId", odata.maxpagesize={maxpagesize}'}
        if maxpagesize
        else None
    )
    pages = []
    while True:
        resp = graph.get(url, headers=headers, params=params)
        assert resp.status_code == 200, resp.text
        body = resp.json()
        assert body["@odata.context"].endswith("$metadata#Collection(message)")
        pages.append(body["value"])
        params = None
        if "@odata.deltaLink" in body:
            return pages, body["@odata.deltaLink"], resp
        url = body["@odata.nextLink"]
        assert "$skiptoken=" in url


def test_delta_rounds(env):
    msgs = deliver(env.mailbox, 25)
    deliver(env.mailbox, 2, folder="archive")
    url = U + "/mailFolders/inbox/messages/delta"
    pages, link, resp = _delta_round(env.graph, url, 10, {"$select": "subject,isRead"})
    assert [len(p) for p in pages] == [10, 10, 5]
    assert (
        resp.headers["Preference-Applied"].startswith("odata.maxpagesize=10")
        or "odata.maxpagesize=10" in resp.headers["Preference-Applied"]
    )
    ids = {m["id"] for p in pages for m in p}
    assert ids == {m.immutable_id for m in msgs}
    assert set(pages[0][0]) == {"@odata.etag", "id", "subject", "isRead"}
    assert "$deltatoken=" in link and link.startswith(env.emu.graph_url)
    pages, link, _ = _delta_round(env.graph, link, 10)
    assert pages == [[]]
    # changes: a new mail, a read flag, a move out, a hard delete
    new = deliver(env.mailbox, 1, start=datetime(2024, 6, 1, tzinfo=timezone.utc))[0]
    env.mailbox.set_read(msgs[3], True)
    env.graph.post(
        f"{U}/messages/{msgs[4].rest_id}/move", json={"destinationId": "archive"}
    )
    env.mailbox.remove(msgs[5].immutable_id)
    pages, link, _ = _delta_round(env.graph, link, 10)
    items = {m["id"]: m for p in pages for m in p}
    assert items[new.immutable_id]["subject"] == "Ticket 0"
    assert items[msgs[3].immutable_id]["isRead"] is True and set(
        items[msgs[3].immutable_id]
    ) >= {"subject"}
    assert items[msgs[4].immutable_id] == {
        "id": msgs[4].immutable_id,
        "@removed": {"reason": "deleted"},
    }
    assert "@removed" in items[msgs[5].immutable_id]
    assert len(items) == 4
    # the archive folder saw the move in
    apages, _, _ = _delta_round(
        env.graph, U + "/mailFolders/archive/messages/delta", 50
    )
    assert msgs[4].immutable_id in {m["id"] for m in apages[0]}


def test_delta_rest_ids_and_change_type(env):
    msgs = deliver(env.mailbox, 3)
    pages, link, _ = _delta_round(
        env.graph,
        U + "/mailFolders/inbox/messages/delta",
        None,
        {"changeType": "created"},
    )
    assert {m["id"] for m in pages[0]} == {m.rest_id for m in msgs}
    old = msgs[0].rest_id
    env.mailbox.move(msgs[0], "archive")
    env.mailbox.set_read(msgs[1], True)
    deliver(env.mailbox, 1)
    pages, _, _ = _delta_round(env.graph, link)
    assert len(pages[0]) == 1 and "@removed" not in pages[0][0]  # only the created one
    resp = env.graph.get(
        U + "/mailFolders/inbox/messages/delta", params={"changeType": "deleted"}
    )
    assert resp.status_code == 200
    pages, link, _ = _delta_round(env.graph, U + "/mailFolders/inbox/messages/delta")
    env.mailbox.remove(msgs[1].immutable_id)
    pages, _, _ = _delta_round(env.graph, link)
    assert pages[0] == [{"id": msgs[1].rest_id, "@removed": {"reason": "deleted"}}]
    assert old != msgs[0].rest_id


def test_delta_options(env):
    deliver(env.mailbox, 5)
    url = U + "/mailFolders/inbox/messages/delta"
    pages, _, _ = _delta_round(
        env.graph,
        url,
        params={
            "$filter": "receivedDateTime ge 2024-05-01T08:03:00Z",
            "$orderby": "receivedDateTime desc",
        },
    )
    assert [m["subject"] for m in pages[0]] == ["Ticket 4", "Ticket 3"]
    for bad in (
        {"$filter": "isRead eq false"},
        {"$orderby": "subject"},
        {"changeType": "moved"},
        {"$filter": "receivedDateTime le 2024-05-01T00:00:00Z"},
    ):
        assert env.graph.get(url, params=bad).status_code == 400, bad
    env.emu.delta_empty_pages = 1
    pages, _, _ = _delta_round(env.graph, url)
    assert pages[0] == [] and len(pages[1]) == 5


def test_delta_410_and_reset(env):
    deliver(env.mailbox, 3)
    url = U + "/mailFolders/inbox/messages/delta"
    _, link, _ = _delta_round(env.graph, url, 2)
    first = env.graph.get(url, headers={"Prefer": "odata.maxpagesize=2"}).json()
    skip_link = first["@odata.nextLink"]
    env.emu.invalidate_delta_tokens()
    for stale in (link, skip_link):
        resp = env.graph.get(stale)
        assert resp.status_code == 410 and error_code(resp) == "SyncStateNotFound"
        assert resp.json()["error"]["message"].startswith(
            "The sync state generation is not found;"
        )
    _, link, _ = _delta_round(env.graph, url)
    env.emu.invalidate_delta_tokens(reset=True)
    resp = env.graph.get(link)
    assert resp.status_code == 410
    location = resp.headers["Location"]
    assert location.endswith("$deltatoken=")
    pages, link, _ = _delta_round(env.graph, location)
    assert len(pages[0]) == 3
    # fault "410" on a request with a token
    env.emu.faults.script(["410"])
    assert env.graph.get(url).status_code == 200  # no token: the fault waits
    assert env.graph.get(link).status_code == 410


def test_delta_redelivery(env):
    env.emu.redeliver_rate = 1.0
    msgs = deliver(env.mailbox, 2)
    _, link, _ = _delta_round(env.graph, U + "/mailFolders/inbox/messages/delta")
    pages, _, _ = _delta_round(env.graph, link)
    assert {m["id"] for m in pages[0]} == {m.rest_id for m in msgs}


# -- $batch ------------------------------------------------------------------


def test_batch_value_depends_and_limits(env):
    msgs = [
        env.mailbox.deliver(make_eml(f"B{i}", "a@example.com", MBOX, f"body {i}"))
        for i in range(3)
    ]
    requests_ = [
        {"id": str(i), "method": "GET", "url": f"{U}/messages/{m.immutable_id}/$value"}
        for i, m in enumerate(msgs)
    ]
    requests_ += [
        {"id": "missing", "method": "GET", "url": f"{U}/messages/AAMkAGmissing"},
        {
            "id": "dep",
            "method": "PATCH",
            "url": f"{U}/messages/{msgs[0].immutable_id}",
            "dependsOn": ["missing"],
            "headers": {"Content-Type": "application/json"},
            "body": {"isRead": True},
        },
        {
            "id": "read",
            "method": "PATCH",
            "url": f"{U}/messages/{msgs[1].immutable_id}",
            "headers": {
                "Content-Type": "application/json",
                "Prefer": 'IdType="ImmutableId"',
            },
            "body": {"isRead": True},
        },
    ]
    env.emu.log.clear()
    resp = env.graph.post("/$batch", json={"requests": requests_})
    assert resp.status_code == 200
    by_id = {r["id"]: r for r in resp.json()["responses"]}
    for i, m in enumerate(msgs):
        entry = by_id[str(i)]
        assert entry["status"] == 200 and entry["headers"]["Content-Type"].startswith(
            "text/plain"
        )
        assert base64.b64decode(entry["body"]) == m.raw
    assert (
        by_id["missing"]["status"] == 404
        and by_id["missing"]["body"]["error"]["code"] == "ErrorItemNotFound"
    )
    assert by_id["dep"]["status"] == 424 and msgs[0].is_read is False
    assert (
        by_id["read"]["status"] == 200
        and by_id["read"]["body"]["id"] == msgs[1].immutable_id
    )
    assert (
        env.emu.log.count(in_batch=False) == 1 and env.emu.log.count(in_batch=True) == 5
    )
    outer = env.emu.log.select(in_batch=False)[0]
    assert outer.batch_size == 6 and outer.client_id == env.app.client_id
    too_many = [
        {"id": str(i), "method": "GET", "url": f"{U}/mailFolders/inbox"}
        for i in range(21)
    ]
    resp = env.graph.post("/$batch", json={"requests": too_many})
    assert resp.status_code == 400 and "20" in resp.json()["error"]["message"]
    assert (
        env.graph.post("/$batch", json={"requests": too_many[:20]}).status_code == 200
    )
    dup = [{"id": "1", "method": "GET", "url": f"{U}/mailFolders/inbox"}] * 2
    assert env.graph.post("/$batch", json={"requests": dup}).status_code == 400


def test_batch_429_entry(env):
    msgs = deliver(env.mailbox, 3)
    env.emu.faults.script(["429-entry"])
    batch = [
        {"id": str(i), "method": "GET", "url": f"{U}/messages/{m.rest_id}"}
        for i, m in enumerate(msgs)
    ]
    resp = env.graph.post("/$batch", json={"requests": batch})
    assert resp.status_code == 200
    statuses = sorted(r["status"] for r in resp.json()["responses"])
    assert statuses == [200, 200, 429]
    throttled = next(r for r in resp.json()["responses"] if r["status"] == 429)
    assert throttled["headers"]["Retry-After"] == "1"
    assert throttled["body"]["error"]["code"] == "ApplicationThrottled"
    assert env.emu.faults.injected == 1


# -- throttling and faults ------------------------------------------------------------


def test_concurrency_throttling(env):
    env.emu.faults.slow_seconds = 0.5
    env.emu.faults.script(["slow"] * 5)
    results = []

    def call():
        results.append(Graph(env.emu, env.token).get(U + "/mailFolders/inbox"))

    threads = [threading.Thread(target=call) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.status_code for r in results)
    assert codes.count(429) >= 1 and codes.count(200) >= 1
    throttled = next(r for r in results if r.status_code == 429)
    assert throttled.headers["Retry-After"] == "1"
    assert throttled.json()["error"] == {
        **throttled.json()["error"],
        "code": "ApplicationThrottled",
        "message": "Application is over its MailboxConcurrency limit.",
    }


def test_request_budget(env):
    env.emu.request_budget = (3, 30)
    for _ in range(3):
        assert env.graph.get(U + "/mailFolders/inbox").status_code == 200
    resp = env.graph.get(U + "/mailFolders/inbox")
    assert resp.status_code == 429 and 1 <= int(resp.headers["Retry-After"]) <= 30
    env.emu.reset_throttling()
    assert env.graph.get(U + "/mailFolders/inbox").status_code == 200


def test_fault_script_kinds(env):
    env.emu.faults.retry_after = 2
    env.emu.faults.script(["429", "503", None, "drop", "504"])
    url = U + "/mailFolders/inbox"
    resp = env.graph.get(url)
    assert resp.status_code == 429 and resp.headers["Retry-After"] == "2"
    resp = env.graph.get(url)
    assert resp.status_code == 503 and resp.headers["Retry-After"] == "2"
    assert env.graph.get(url).status_code == 200
    with pytest.raises(requests.ConnectionError):
        Graph(env.emu, env.token).get(url)
    assert env.graph.get(url).status_code == 504
    assert env.graph.get(url).status_code == 200
    assert env.emu.faults.injected == 4
    rows = env.emu.log.select(path_contains="/mailFolders/inbox")
    assert [r.fault for r in rows] == ["429", "503", None, "drop", "504", None]
    assert rows[3].status is None


def test_faults_token_path_and_random(env):
    env.emu.faults.script(["503"])
    ok = token_request(
        env.emu, env.tenant, client_id=env.app.client_id, client_secret=env.app.secret
    )
    assert ok.status_code == 200  # token requests are not selected by default
    env.emu.faults.script(["503"], path_contains="/oauth2/v2.0/token")
    resp = token_request(
        env.emu, env.tenant, client_id=env.app.client_id, client_secret=env.app.secret
    )
    assert resp.status_code == 503 and "Retry-After" in resp.headers
    env.emu.faults.clear()
    env.emu.faults.random(
        rate=0.5, kinds=("429", "503"), seed=7, path_contains="/messages"
    )
    codes = [env.graph.get(U + "/messages").status_code for _ in range(20)]
    assert 0 < codes.count(200) < 20 and set(codes) <= {200, 429, 503}
    assert (
        env.graph.get(U + "/mailFolders/inbox").status_code == 200
    )  # path not selected


def test_cli_seed_dir(tmp_path):
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "one.eml").write_bytes(make_eml("Seeded", "a@example.com", MBOX, "hi"))
    paths = [os.path.dirname(os.path.abspath(__file__)), os.environ.get("PYTHONPATH")]
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in paths if p))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "graph_emulator",
            "--port",
            "0",
            "--tenant-id",
            "tid-1",
            "--client-id",
            "cid-1",
            "--secret",
            "s",
            "--mailbox",
            MBOX,
            "--seed-dir",
            str(seed),
            "--drop-dir",
            str(tmp_path / "drop"),
            "--state-dir",
            str(tmp_path / "state"),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        lines = [proc.stdout.readline() for _ in range(6)]
        found = re.search(r"on (https://\S+)", lines[0])
        assert found, (
            "".join(lines) + proc.stderr.read() if proc.poll() is not None else lines
        )
        url = found.group(1)
        assert (tmp_path / "state" / "graph-emulator-ca.pem").exists()
        session = requests.Session()
        session.trust_env = False
        session.verify = str(tmp_path / "state" / "graph-emulator-ca.pem")
        token = session.post(
            f"{url}/tid-1/oauth2/v2.0/token",
            data={
                "grant_type": "client_credentials",
                "client_id": "cid-1",
                "client_secret": "s",
                "scope": "https://graph.microsoft.com/.default",
            },
        ).json()["access_token"]
        resp = session.get(
            f"{url}/v1.0{U}/messages", headers={"Authorization": f"Bearer {token}"}
        )
        assert [m["subject"] for m in resp.json()["value"]] == ["Seeded"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


# --- HTTP/1.1 keep-alive: every request on a connection is answered
def _raw_request(path, token, host):
    return (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
        "Accept: application/json\r\n\r\n"
    ).encode()


def _read_responses(sock, count, timeout=10):
    """Reads `count` HTTP responses (each with a Content-Length) from one socket."""
    sock.settimeout(timeout)
    buffer, statuses = b"", []
    while len(statuses) < count:
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            chunk = sock.recv(65536)
            assert chunk, f"connection closed after {len(statuses)} answers"
            buffer += chunk
            continue
        head = buffer[:head_end].decode("latin-1")
        length = int(re.search(r"(?im)^content-length:\s*(\d+)", head).group(1))
        while len(buffer) < head_end + 4 + length:
            chunk = sock.recv(65536)
            assert chunk, "connection closed in the middle of an answer"
            buffer += chunk
        statuses.append(int(head.split()[1]))
        buffer = buffer[head_end + 4 + length :]
    return statuses


def _tls_socket(emu):
    import socket  # noqa: PLC0415
    import ssl  # noqa: PLC0415

    context = ssl.create_default_context(cafile=emu.ca_path)
    raw = socket.create_connection((emu.host, emu.port), timeout=10)
    return context.wrap_socket(raw, server_hostname=emu.host)


def test_back_to_back_requests_on_one_connection(env):
    """Requests sent with no gap on one kept-alive connection are all executed,
    answered in order and logged (a development server swallowed the second one)."""
    path = f"/v1.0{U}/mailFolders/inbox"
    host = f"{env.emu.host}:{env.emu.port}"
    with _tls_socket(env.emu) as sock:
        # Pipelined: three requests in one write, 0 ms apart.
        sock.sendall(_raw_request(path, env.token, host) * 3)
        assert _read_responses(sock, 3) == [200, 200, 200]
        # Then one request the instant each answer is read, 20 times.
        for _ in range(20):
            sock.sendall(_raw_request(path, env.token, host))
            assert _read_responses(sock, 1) == [200]
    assert env.emu.log.count(path_contains="/mailFolders/inbox") == 23


def test_session_reuses_one_connection_for_discovery_then_token(env):
    """msal's discovery-then-token pair on one kept-alive connection, twenty times."""
    env.emu.log.clear()
    session = new_session(env.emu)
    for _ in range(20):
        cca = msal.ConfidentialClientApplication(
            env.app.client_id,
            client_credential=env.app.secret,
            authority=f"{env.emu.url}/{env.tenant.id}",
            http_client=session,
            instance_discovery=False,
            azure_region=False,
        )
        assert "access_token" in cca.acquire_token_for_client(SCOPE)
    adapter = session.get_adapter(env.emu.url)
    pools = list(adapter.poolmanager.pools._container.values())
    assert len(pools) == 1 and pools[0].num_connections == 1
    assert env.emu.log.count(path_contains="/oauth2/v2.0/token") == 20
