"""Tests of the Graph + identity emulator itself: plain requests, msal for tokens."""

import base64
import email
import email.policy
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
from graph_emulator.realism import PRESETS

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
    # PR_MESSAGE_SIZE: the size of what is stored, i.e. of what $value serves.
    assert data["singleValueExtendedProperties"] == [
        {"id": "Integer 0x0e08", "value": str(len(msg.mime))}
    ]
    assert len(msg.mime) > len(raw)
    with env.emu.temporarily("tidy"):
        assert msg.size == len(raw)
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


def test_value_bytes_exact_when_tidy(env):
    env.emu.set_realism("tidy")  # mime_style "original": the delivered bytes
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


@pytest.mark.parametrize("mode", ["subject", "references"])
def test_conversation_threading(env, mode):
    env.emu.conversation_mode = mode
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
    # A reply from a client that dropped the headers (Outlook mobile, webmail).
    mobile = env.mailbox.deliver(
        make_eml("Aw: FW: printer BROKEN", "a@example.com", MBOX, "z")
    )
    prefixes = [
        env.mailbox.deliver(
            make_eml(f"{p} Printer  broken", "c@example.com", MBOX, "p")
        )
        for p in ("Re:", "Fwd:", "WG:", "RES:", "ENC:", "TR: re:", "fw:")
    ]
    other = env.mailbox.deliver(make_eml("Something else", "a@example.com", MBOX, "w"))
    forced = env.mailbox.deliver(
        make_eml("Unrelated", "b@example.com", MBOX, "v"),
        conversation_id=other.conversation_id,
    )
    assert first.conversation_id == reply.conversation_id
    assert other.conversation_id != first.conversation_id
    assert forced.conversation_id == other.conversation_id
    by_subject = {m.conversation_id for m in (mobile, *prefixes)}
    if mode == "subject":  # the normalised subject joins, whoever sent it
        assert by_subject == {first.conversation_id}
    else:  # only In-Reply-To/References join: each of these starts its own
        assert first.conversation_id not in by_subject
        assert len(by_subject) == len(prefixes) + 1
    data = env.graph.get(
        f"{U}/messages/{reply.rest_id}", params={"$select": "conversationId"}
    ).json()
    assert data["conversationId"] == first.conversation_id


def test_conversation_mode_defaults():
    assert Emulator().conversation_mode == "subject"
    assert Emulator(realism="tidy").conversation_mode == "references"


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
    env.emu.set_realism("tidy")  # exact page sizes
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
    env.emu.set_realism("tidy")  # exact pages
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
    env.emu.set_realism("tidy")  # exact pages
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
    env.emu.set_realism("tidy")  # exact pages
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
    env.emu.set_realism("tidy")
    env.emu.redeliver_rate = 1.0
    msgs = deliver(env.mailbox, 2)
    _, link, _ = _delta_round(env.graph, U + "/mailFolders/inbox/messages/delta")
    pages, _, _ = _delta_round(env.graph, link)
    assert {m["id"] for m in pages[0]} == {m.rest_id for m in msgs}


# -- $batch ------------------------------------------------------------------


def test_batch_value_depends_and_limits(env):
    env.emu.set_realism("tidy")  # $value = the delivered bytes
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
            "--tidy",
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
        assert lines[0].rstrip().endswith(", tidy)")
        value = session.get(
            f"{url}/v1.0{U}/messages/{resp.json()['value'][0]['id']}/$value",
            headers={"Authorization": f"Bearer {token}"},
        )
        assert value.content == (seed / "one.eml").read_bytes()  # --tidy: as sent
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


# -- realism: one switch, one attribute per behaviour ----------------------------------


def test_realism_presets_and_knobs():
    emu = Emulator()
    assert emu.realism == "realistic" and emu.knobs() == PRESETS["realistic"]
    assert Emulator(realism="tidy").knobs() == PRESETS["tidy"]
    assert PRESETS["realistic"]["mime_style"] == "exchange"
    assert PRESETS["realistic"]["redeliver_rate"] > 0
    assert PRESETS["realistic"]["delta_empty_pages"] > 0
    assert PRESETS["realistic"]["delta_token_max_rounds"]
    with pytest.raises(ValueError):
        Emulator(realism="messy")
    with pytest.raises(ValueError):
        emu.configure(mime_style="mbox")
    with pytest.raises(ValueError):
        emu.configure(no_such_knob=1)
    with emu.temporarily("tidy", redeliver_rate=1.0):
        assert (emu.realism, emu.mime_style, emu.redeliver_rate) == (
            "tidy",
            "original",
            1.0,
        )
    assert emu.realism == "realistic" and emu.knobs() == PRESETS["realistic"]


# -- $value as Exchange regenerates it -----------------------------------------------

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 3
PNG = b"\x89PNG\r\n\x1a\n" + os.urandom(300)
LONG_ID = "<CAKx" + "7f3a" * 18 + "@mail.gmail.com>"


def rich_eml():
    return make_eml(
        "Re: Impressora quebrada \u2014 a\u00e7\u00e3o urgente, por favor verifiquem "
        "o quanto antes",
        '"Cliente, Z\u00e9" <ze@example.com>',
        [MBOX, "Other Person <o@example.com>", "plain@example.com"],
        "Ol\u00e1,\nA impressora n\u00e3o funciona.\n" + "linha longa " * 20 + "\n",
        html="<p>Ol&aacute;, a <b>impressora</b> parou.</p>",
        cc="\u00c7\u00e9cile <cecile@example.com>",
        message_id=LONG_ID,
        in_reply_to="<one@ex>",
        references=["<zero@ex>", "<one@ex>"],
        date=datetime(2024, 5, 1, 10, 0, tzinfo=timezone(timedelta(hours=-3))),
        attachments=[
            ("relat\u00f3rio.pdf", PDF, "application/pdf"),
            ("data.bin", os.urandom(5000)),
            {
                "filename": "logo.png",
                "content": PNG,
                "mimetype": "image/png",
                "inline": True,
                "cid": "<logo1@ex>",
            },
        ],
        headers={
            "X-Mailer": "Foo 1.0",
            "X-Autoreply": "yes",
            "Auto-Submitted": "auto-replied",
            "List-Id": "<support.example.com>",
            "X-MS-Exchange-Organization-SCL": "-1",
        },
    )


def _parse(data):
    return email.message_from_bytes(data, policy=email.policy.SMTP)


def _ids(value):
    return re.findall(r"<[^<>\s]+>", str(value or ""))


def semantic_values(data):
    """What a careful client reads from a message: the same for the delivered MIME
    and for Exchange's."""
    msg = _parse(data)
    text = msg.get_body(("plain",))
    html = msg.get_body(("html",))
    return {
        "from": [(a.display_name, a.addr_spec) for a in msg["From"].addresses],
        "to": [a.addr_spec for a in msg["To"].addresses],
        "cc": [(a.display_name, a.addr_spec) for a in msg["Cc"].addresses],
        "subject": str(msg["Subject"]),
        "message_id": _ids(msg["Message-ID"]),
        "in_reply_to": _ids(msg["In-Reply-To"]),
        "references": _ids(msg["References"]),
        "date": msg["Date"].datetime,
        "text": re.sub(r"\r\n", "\n", text.get_content()).strip() if text else None,
        "html_has": bool(html) and "<b>impressora</b>" in html.get_content(),
        "auto_submitted": str(msg["Auto-Submitted"]),
        "autoreply": str(msg["X-Autoreply"]),
        "attachments": sorted(
            (part.get_filename(), part.get_content_type(), part.get_content())
            for part in msg.walk()
            if part.get_filename()
        ),
    }


def top_headers(data):
    return data.split(b"\r\n\r\n", 1)[0].decode("ascii")


def test_value_regenerated_like_exchange(env):
    raw = rich_eml()
    msg = env.mailbox.deliver(raw)
    resp = env.graph.get(f"{U}/messages/{msg.rest_id}/$value")
    data = resp.content
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "text/plain"
    assert data != raw and data == msg.mime
    assert env.graph.get(f"{U}/messages/{msg.immutable_id}/$value").content == data
    # Values survive.
    assert semantic_values(data) == semantic_values(raw)
    # Bytes do not: CRLF everywhere, lines folded, re-ordered, Exchange's headers.
    assert b"\n" not in data.replace(b"\r\n", b"") and b"\r" not in data.replace(
        b"\r\n", b""
    )
    head = top_headers(data)
    for line in head.split("\r\n"):
        assert len(line) <= 78 or " " not in line.strip(), line
    names = [line.split(":", 1)[0] for line in head.split("\r\n") if line[:1] != " "]
    names = [n for n in names if not n.startswith("\t")]
    assert names[0] == "Received" and names[-2:] == ["Content-Type", "MIME-Version"]
    order = [
        "From",
        "To",
        "CC",
        "Subject",
        "Thread-Topic",
        "Thread-Index",
        "Date",
        "Message-ID",
        "References",
        "In-Reply-To",
        "Content-Language",
        "X-MS-Has-Attach",
        "X-MS-TNEF-Correlator",
    ]
    assert [names.index(n) for n in order] == sorted(names.index(n) for n in order)
    parsed = _parse(data)
    assert "\r\nDate: Wed, 1 May 2024 13:00:00 +0000\r\n" in head  # UTC, no 0
    assert f"Message-ID: \r\n {LONG_ID}\r\n" in head  # too long: on the next line
    assert "References: <zero@ex>\r\n <one@ex>\r\n" in head
    assert str(parsed["Thread-Topic"]).startswith("Impressora quebrada")
    assert base64.b64decode(str(parsed["Thread-Index"])) == msg.conversation_index
    assert parsed["X-MS-Has-Attach"] == "yes" and "X-MS-TNEF-Correlator" in parsed
    assert parsed["Content-Language"] == "en-US"
    assert parsed["X-MS-Exchange-Organization-SCL"] == "1"  # the sender's was dropped
    assert parsed["X-MS-Exchange-Organization-AuthAs"] == "Anonymous"
    assert "\r\nx-autoreply: yes\r\n" in head  # custom names come back lower case
    assert '"plain@example.com" <plain@example.com>' in str(parsed["To"])
    # Bodies re-encoded, new boundaries, attachments re-described.
    boundary = parsed.get_boundary()
    assert parsed.get_content_type() == "multipart/mixed"
    assert boundary.startswith("_004_") and boundary.endswith("_")
    related, *files = parsed.iter_parts()
    assert related.get_content_type() == "multipart/related"
    alternative, logo = related.iter_parts()
    text, html = alternative.iter_parts()
    assert text["Content-Transfer-Encoding"] == "base64"
    assert text.get_content_charset() == "utf-8"
    assert html["Content-Transfer-Encoding"] == "quoted-printable"
    assert 'http-equiv="Content-Type"' in html.get_content()
    assert logo["Content-ID"] == "<logo1@ex>" and logo.get_content() == PNG
    pdf = next(f for f in files if f.get_content_type() == "application/pdf")
    assert pdf.get_filename() == "relat\u00f3rio.pdf" and pdf.get_content() == PDF
    assert pdf["Content-Description"] == "relat\u00f3rio.pdf"
    assert pdf.get_param("size", header="content-disposition") == str(len(PDF))
    assert pdf.get_param("creation-date", header="content-disposition")
    # Graph's attachment list gives the same bytes as the regenerated MIME.
    listed = env.graph.get(f"{U}/messages/{msg.rest_id}/attachments").json()["value"]
    assert sorted(
        (a["name"], base64.b64decode(a["contentBytes"])) for a in listed
    ) == sorted((f, c) for f, _t, c in semantic_values(data)["attachments"])


def test_value_regenerated_in_batch_and_tidy_switch(env):
    msg = env.mailbox.deliver(rich_eml())
    batch = [{"id": "1", "method": "GET", "url": f"{U}/messages/{msg.rest_id}/$value"}]
    entry = env.graph.post("/$batch", json={"requests": batch}).json()["responses"][0]
    assert base64.b64decode(entry["body"]) == msg.mime != msg.raw
    env.emu.mime_style = "original"
    assert msg.mime == msg.raw
    assert env.graph.get(f"{U}/messages/{msg.rest_id}/$value").content == msg.raw


def test_value_regenerated_text_encodings(env):
    latin = (
        b"From: Jos\xe9 <jose@example.com>\nTo: support@contoso.com\n"
        b"Subject: =?iso-8859-1?Q?Caf=E9?=\nDate: Wed, 01 May 2024 10:00:00 +0200\n"
        b"Message-ID: <latin@example.com>\nMIME-Version: 1.0\n"
        b"Content-Type: text/plain; charset=iso-8859-1\n"
        b"Content-Transfer-Encoding: 8bit\n\ncaf\xe9 = bom\nlinha 2   \n"
    )
    html_only = make_eml("Only HTML", "h@example.com", MBOX, "ignored")
    html_only = html_only.replace(
        b"Content-Type: text/plain", b"Content-Type: text/html"
    ).replace(b"ignored", b"<div>Hello <i>there</i></div>")
    msg = env.mailbox.deliver(latin)
    data = env.graph.get(f"{U}/messages/{msg.rest_id}/$value").content
    parsed = _parse(data)
    assert parsed.get_content_type() == "text/plain"
    assert parsed.get_content_charset() == "iso-8859-1"
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
    assert parsed.get_content() == "caf\u00e9 = bom\r\nlinha 2   \r\n"  # CRLF now
    assert str(parsed["Subject"]) == "Caf\u00e9"
    assert str(parsed["From"]) == "Jos\u00e9 <jose@example.com>"
    assert parsed["Date"].datetime == datetime(2024, 5, 1, 8, tzinfo=timezone.utc)
    # An HTML-only message gets a generated plain alternative.
    data = env.mailbox.deliver(html_only).mime
    parsed = _parse(data)
    assert parsed.get_content_type() == "multipart/alternative"
    assert parsed.get_boundary().startswith("_000_")
    assert parsed.get_body(("plain",)).get_content().strip() == "Hello there"
    assert "<i>there</i>" in parsed.get_body(("html",)).get_content()


def test_loose_text_part_becomes_att00001(env):
    raw = (
        b"From: list@example.com\r\nTo: support@contoso.com\r\nSubject: Footer\r\n"
        b"Message-ID: <footer@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n--b\r\n'
        b"Content-Type: text/plain\r\n\r\nThe body.\r\n--b\r\n"
        b"Content-Type: text/plain\r\nContent-Disposition: inline\r\n\r\n"
        b"-- list footer --\r\n--b--\r\n"
    )
    for style in ("exchange", "original"):
        env.emu.mime_style = style
        msg = env.mailbox.deliver(raw)
        data = env.graph.get(f"{U}/messages/{msg.rest_id}").json()
        assert data["hasAttachments"] is True
        listed = env.graph.get(f"{U}/messages/{msg.rest_id}/attachments").json()
        assert [a["name"] for a in listed["value"]] == ["ATT00001.txt"]
        assert base64.b64decode(listed["value"][0]["contentBytes"]).startswith(
            b"-- list footer --"
        )
    env.emu.mime_style = "exchange"
    parsed = _parse(env.mailbox.deliver(raw).mime)
    parts = {p.get_filename(): p for p in parsed.walk() if p.get_filename()}
    assert set(parts) == {"ATT00001.txt"}
    assert parts["ATT00001.txt"].get_content_disposition() == "attachment"
    assert parsed.get_body(("plain",)).get_content().strip() == "The body."


BROKEN = {
    "unclosed multipart": (
        b"From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\n'
        b"Content-Type: text/plain\r\n\r\nhello\r\n"
    ),
    "bad base64": (
        b"From: a@example.com\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="x"\r\n\r\n--x\r\n'
        b"Content-Type: text/plain\r\n\r\nhello\r\n--x\r\n"
        b'Content-Type: application/pdf; name="a.pdf"\r\n'
        b"Content-Transfer-Encoding: base64\r\n\r\n!!!not*base64***\r\n--x--\r\n"
    ),
    "unknown charset": (
        b"From: a@example.com\r\nSubject: x\r\n"
        b"Content-Type: text/plain; charset=x-unknown-8bit\r\n\r\ncaf\xe9\r\n"
    ),
    "no headers": b"just some text\r\nwithout any header\r\n",
    "empty": b"",
    "binary": os.urandom(2000),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_value_of_unparseable_mail_is_returned_as_stored(env, case):
    raw = BROKEN[case]
    msg = env.mailbox.deliver(raw)
    resp = env.graph.get(f"{U}/messages/{msg.rest_id}/$value")
    assert resp.status_code == 200 and resp.content == raw


def test_value_of_odd_but_parseable_mail_is_regenerated(env):
    raw = (
        b"From: =?bogus-charset?Q?broken?= <<<>>>\r\nTo: undisclosed-recipients:;\r\n"
        b"Subject: no date, no message id\r\n\r\nbody only\r\n"
    )
    msg = env.mailbox.deliver(raw)
    data = env.graph.get(f"{U}/messages/{msg.rest_id}/$value").content
    parsed = _parse(data)
    assert data != raw and parsed.get_content().strip() == "body only"
    assert "undisclosed-recipients" in str(parsed["To"])  # passed through
    assert _ids(parsed["Message-ID"]) == [msg.internet_message_id]  # Exchange's own
    assert parsed["Date"].datetime == msg.received


def test_signed_content_is_kept_byte_for_byte(env):
    signed_body = (
        b"--s\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\nSigned text.\r\n"
        b"--s\r\nContent-Type: application/pgp-signature; name=signature.asc\r\n\r\n"
        b"-----BEGIN PGP SIGNATURE-----\r\nabc\r\n-----END PGP SIGNATURE-----\r\n"
        b"--s--\r\n"
    )
    raw = (
        b"From: a@example.com\r\nTo: support@contoso.com\r\nSubject: Signed\r\n"
        b"Message-ID: <signed@example.com>\r\nMIME-Version: 1.0\r\n"
        b'Content-Type: multipart/signed; boundary="s";\r\n'
        b' protocol="application/pgp-signature"; micalg=pgp-sha256\r\n\r\n'
    ) + signed_body
    data = env.mailbox.deliver(raw).mime
    assert data != raw and data.endswith(b"\r\n\r\n" + signed_body)
    assert _parse(data).get_content_type() == "multipart/signed"
    assert "X-MS-Has-Attach" in _parse(data)


def test_encrypted_and_forwarded_mail(env):
    p7m = base64.encodebytes(os.urandom(600)).replace(b"\n", b"\r\n")
    encrypted = (
        b"From: a@example.com\r\nTo: support@contoso.com\r\nSubject: Secret\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: application/pkcs7-mime; smime-type=enveloped-data;\r\n"
        b' name="smime.p7m"\r\nContent-Transfer-Encoding: base64\r\n'
        b'Content-Disposition: attachment; filename="smime.p7m"\r\n\r\n'
    ) + p7m
    data = env.mailbox.deliver(encrypted).mime
    assert data != encrypted and data.endswith(b"\r\n\r\n" + p7m)
    parsed = _parse(data)
    assert parsed.get_filename() == "smime.p7m"
    assert parsed.get_content() == base64.b64decode(p7m)
    inner = make_eml("The original", "x@example.com", MBOX, "original text")
    forward = make_eml("FW: The original", "a@example.com", MBOX, "FYI")
    forward = _parse(forward)
    forward.add_attachment(_parse(inner), filename="orig.eml")
    msg = env.mailbox.deliver(forward.as_bytes(policy=email.policy.SMTP))
    attached = next(p for p in _parse(msg.mime).walk() if p.get_filename())
    assert attached.get_content_type() == "message/rfc822"
    assert attached.get_filename() == "orig.eml"
    assert str(attached.get_content()["Subject"]) == "The original"
    listed = env.graph.get(f"{U}/messages/{msg.rest_id}/attachments").json()["value"]
    assert listed[0]["@odata.type"] == "#microsoft.graph.itemAttachment"


# -- delta as the real service serves it ---------------------------------------------


def _occurrences(pages):
    seen = {}
    for number, page in enumerate(pages):
        for item in page:
            seen.setdefault(item["id"], []).append(number)
    return seen


def test_delta_realistic_links_empty_page_and_repeats(env):
    env.emu.redeliver_rate = 1.0  # every change twice: countable
    msgs = deliver(env.mailbox, 12)
    url = U + "/mailFolders/inbox/messages/delta"
    first = env.graph.get(url, headers={"Prefer": "odata.maxpagesize=5"}).json()
    assert first["value"] == []  # a sync's first round starts with an empty page
    assert (
        "/mailFolders('inbox')/messages/microsoft.graph.delta()?$skiptoken="
        in (first["@odata.nextLink"])
    )
    pages, link, _ = _delta_round(env.graph, first["@odata.nextLink"], 5)
    assert "/messages/microsoft.graph.delta()?$deltatoken=" in link
    seen = _occurrences(pages)  # maxpagesize given: ImmutableId too
    assert set(seen) == {m.immutable_id for m in msgs}
    assert all(len(at) == 2 for at in seen.values())
    last = len(pages) - 1
    assert all(at[1] > at[0] for at in seen.values() if at[0] != last)
    # The next round hands the same changes out again (nothing new happened).
    env.emu.delta_empty_page_rate = 0.0
    again, _, _ = _delta_round(env.graph, link, 50)
    assert {i["id"] for p in again for i in p} == {m.immutable_id for m in msgs}
    env.emu.redeliver_rate = 0.0
    _, link, _ = _delta_round(env.graph, link, 50)
    assert _delta_round(env.graph, link, 50)[0] == [[]]


def test_delta_empty_pages_on_some_later_rounds(env):
    env.emu.delta_token_max_rounds = None
    deliver(env.mailbox, 2)
    url = U + "/mailFolders/inbox/messages/delta"
    starts = []
    for _ in range(16):
        pages, url, _ = _delta_round(env.graph, url, 10)
        starts.append(pages[0] == [] and len(pages) > 1)
    assert starts[0] is True  # the first round always
    assert 0 < sum(starts[1:]) < 15  # later rounds: some (delta_empty_page_rate)


@pytest.mark.parametrize(
    "path",
    [
        "/mailFolders('inbox')/messages/microsoft.graph.delta()",
        "/mailFolders/inbox/messages/microsoft.graph.delta",
        "/mailFolders/Inbox/messages/delta()",
        "/mailFolders/inbox/messages/delta",
    ],
)
@pytest.mark.parametrize("realism", ["tidy", "realistic"])
def test_delta_long_and_short_forms(env, path, realism):
    env.emu.set_realism(realism)
    env.emu.redeliver_rate = 0.0
    msgs = deliver(env.mailbox, 3)
    pages, link, _ = _delta_round(env.graph, U + path)
    assert {i["id"] for p in pages for i in p} == {m.rest_id for m in msgs}
    short = "/mailfolders/inbox/messages/delta?$deltatoken="
    assert (short in link.lower()) == (realism == "tidy")


def test_delta_links_expire_after_rounds(env):
    env.emu.configure(delta_token_max_rounds=3, redeliver_rate=0.0)
    deliver(env.mailbox, 2)
    url = U + "/mailFolders/inbox/messages/delta"
    _, link, _ = _delta_round(env.graph, url)  # round 1
    _, link, _ = _delta_round(env.graph, link)  # round 2
    _, link, _ = _delta_round(env.graph, link)  # round 3
    resp = env.graph.get(link)  # a 4th round is refused: start over
    assert resp.status_code == 410 and error_code(resp) == "SyncStateNotFound"
    assert "Location" not in resp.headers
    pages, link, _ = _delta_round(env.graph, url)
    assert len({i["id"] for p in pages for i in p}) == 2  # everything again
    assert _delta_round(env.graph, link)[1]  # and a fresh count of rounds


def test_delta_links_expire_with_age(env):
    env.emu.configure(delta_token_max_age=0.3, delta_empty_pages=0, redeliver_rate=0)
    deliver(env.mailbox, 3)
    url = U + "/mailFolders/inbox/messages/delta"
    first = env.graph.get(url, headers={"Prefer": "odata.maxpagesize=2"}).json()
    _, link, _ = _delta_round(env.graph, url)
    time.sleep(0.4)
    for stale in (first["@odata.nextLink"], link):
        resp = env.graph.get(stale)
        assert resp.status_code == 410 and error_code(resp) == "SyncStateNotFound"
    assert env.graph.get(url).status_code == 200


# -- several client secrets per app ---------------------------------------------------


def _token_status(env, app, secret):
    resp = token_request(
        env.emu, env.tenant, client_id=app.client_id, client_secret=secret
    )
    body = resp.json()
    return resp.status_code, body.get("error_codes", [None])[0]


def test_several_secrets_with_their_own_expiry(env):
    app = env.tenant.add_app(secret="old~value")
    assert (app.secret, len(app.secrets)) == ("old~value", 1)
    new = app.add_secret(expires=timedelta(days=180))
    assert new.value[3:5] == "8Q" and len(new.value) == 40 and new.secret_id
    assert new.expires > datetime.now(timezone.utc) + timedelta(days=179)
    assert _token_status(env, app, "old~value") == (200, None)
    assert _token_status(env, app, new.value) == (200, None)
    app.secret_expired = True  # the old one runs out during the rotation
    assert app.secrets[0].expired and not new.expired
    assert _token_status(env, app, "old~value") == (401, 7000222)
    assert _token_status(env, app, new.value) == (200, None)
    assert _token_status(env, app, "wrong") == (401, 7000215)
    assert _token_status(env, app, new.secret_id) == (401, 7000215)
    app.remove_secret("old~value")
    assert app.secret == new.value and app.secret_id == new.secret_id
    assert _token_status(env, app, "old~value") == (401, 7000215)
    gone = app.add_secret("gone~value", expires=datetime(2020, 1, 1))
    assert gone.expired and _token_status(env, app, "gone~value") == (401, 7000222)
    app.remove_secret(gone.secret_id)
    assert [s.value for s in app.secrets] == [new.value]
    without = env.tenant.add_app(secret=None)
    assert without.secret is None and without.secret_id is None
    assert _token_status(env, without, "anything") == (401, 7000215)
