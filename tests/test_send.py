"""Sending mail through Graph (Mail.Send): the emulator's send side and the client's
exactly-once MailSender (mail_scanner_oauth2/graph/send.py)."""

import base64
import email
import logging
import math
import random
import re
import uuid
from email import policy

import pytest
from conftest import make_client
from graph_emulator.pytest_fixtures import Graph, get_token
from graph_emulator.samples import make_eml
from mail_scanner_graph import errors
from mail_scanner_graph.detach import detach_attachments
from mail_scanner_graph.send import MailSender, has_send_role, message_id_of
from mail_scanner_graph.upload import UPLOAD_CHUNK

MB = 1024 * 1024


@pytest.fixture
def app(tenant, app_secret):
    return tenant.add_app(secret=app_secret, roles=("Mail.ReadWrite", "Mail.Send"))


@pytest.fixture
def agent(tenant):
    """A colleague's mailbox in the same organisation."""
    return tenant.add_mailbox(f"agent@{tenant.domain}")


@pytest.fixture
def sender(client):
    with MailSender(client) as mail_sender:
        yield mail_sender


def blob(size, seed=1):
    """Incompressible, reproducible bytes."""
    return random.Random(seed).randbytes(size)


def reply_mime(mailbox, to="customer@example.com", attachments=(), **kwargs):
    options = {
        "in_reply_to": "<question-1@example.com>",
        "references": ["<question-0@example.com>", "<question-1@example.com>"],
        "message_id": f"<reply-{uuid.uuid4().hex}@{mailbox.domain}>",
    }
    options.update(kwargs)
    return make_eml(
        "Re: Printer on fire",
        f'"Support" <{mailbox.address}>',
        to,
        "Hello,\nwe are on it.\n",
        attachments=attachments,
        **options,
    )


def attachments_of(msg):
    return {a.name: a.content for a in msg.parsed.attachments}


def rows(emulator, method, path_contains):
    return emulator.log.select(method=method, path_contains=path_contains)


# --- the happy paths ------------------------------------------------------------------


def test_small_reply_leaves_once_with_headers_and_attachments(
    emulator, mailbox, agent, sender
):
    pdf = b"%PDF-1.4\n" + blob(70_000)
    mime = reply_mime(
        mailbox,
        to=["customer@example.com", agent.address],
        attachments=[("quote.pdf", pdf, "application/pdf"), ("notes.txt", b"a\r\nb")],
    )

    sent = sender.send_mime(mailbox.address, mime)

    [copy] = mailbox.messages("sentitems")
    assert mailbox.messages("drafts") == []
    assert (sent.id, sent.internet_message_id) == (
        copy.immutable_id,
        message_id_of(mime),
    )
    assert sent.already_sent is False
    assert copy.internet_message_id == message_id_of(mime)
    assert copy.parsed.from_ == ("Support", mailbox.address)
    assert [a for _, a in copy.parsed.to] == ["customer@example.com", agent.address]
    assert copy.parsed.in_reply_to == ["<question-1@example.com>"]
    assert copy.parsed.references == [
        "<question-0@example.com>",
        "<question-1@example.com>",
    ]
    assert attachments_of(copy) == {"quote.pdf": pdf, "notes.txt": b"a\r\nb"}
    # Delivered: the colleague's inbox, and one mail out of the organisation.
    [delivered] = agent.messages("inbox")
    assert delivered.internet_message_id == sent.internet_message_id
    assert attachments_of(delivered)["quote.pdf"] == pdf
    [out] = emulator.outbound
    assert out.recipients == ["customer@example.com"]
    assert out.internet_message_id == sent.internet_message_id
    # Two POSTs: the draft (base64 MIME) and its send.
    posts = [
        (r.path.rsplit("/", 1)[-1], r.status)
        for r in emulator.log.select(method="POST", path_contains="/v1.0/")
    ]
    assert posts == [("messages", 201), ("send", 202)]


def test_ten_megabyte_attachment_goes_through_an_upload_session(
    emulator, mailbox, sender
):
    big, small = blob(10 * MB, seed=2), blob(200_000, seed=3)
    mime = reply_mime(
        mailbox,
        attachments=[("scan.tif", big, "image/tiff"), ("small.bin", small)],
    )

    sent = sender.send_mime(mailbox.address, mime)

    [copy] = mailbox.messages("sentitems")
    assert copy.immutable_id == sent.id
    assert attachments_of(copy) == {"scan.tif": big, "small.bin": small}
    assert copy.parsed.in_reply_to == ["<question-1@example.com>"]
    assert copy.internet_message_id == message_id_of(mime)
    assert len(rows(emulator, "POST", "createUploadSession")) == 1
    puts = rows(emulator, "PUT", "/AttachmentSessions(")
    assert [r.status for r in puts] == [200] * (
        math.ceil(10 * MB / UPLOAD_CHUNK) - 1
    ) + [201]
    assert all(r.query == {"authtoken": "***"} for r in puts)  # never logged
    # The draft itself fit in one request: the small attachment stayed in it.
    [draft_post] = rows(emulator, "POST", f"/users/{mailbox.address}/messages")[:1]
    assert draft_post.status == 201


def test_upload_credential_never_reaches_a_log(emulator, mailbox, sender, caplog):
    """The uploadUrl carries its credential in the query: urllib3's request and
    retry log lines show it hidden."""
    caplog.set_level(logging.DEBUG)
    emulator.faults.script(["503"], path_contains="/AttachmentSessions(")
    mime = reply_mime(mailbox, attachments=[("f.bin", blob(4 * MB, seed=9))])

    sender.send_mime(mailbox.address, mime)

    assert len(mailbox.messages("sentitems")) == 1
    logged = "\n".join(record.getMessage() for record in caplog.records)
    assert "authtoken=***" in logged
    assert re.search(r"authtoken=(?!\*\*\*)", logged) is None
    puts = rows(emulator, "PUT", "/AttachmentSessions(")
    assert [r.status for r in puts] == [503, 200, 201]


def test_detach_keeps_small_attachments_and_the_text():
    big, small = blob(5 * MB, seed=4), blob(1000, seed=5)
    mime = make_eml(
        "big",
        "a@example.com",
        "b@example.com",
        "text stays",
        attachments=[("big.bin", big), ("small.bin", small)],
    )
    reduced, detached = detach_attachments(mime, 4_000_000)
    assert [(d.name, d.content) for d in detached] == [("big.bin", big)]
    rest = email.message_from_bytes(reduced, policy=policy.default)
    assert rest.get_body(("plain",)).get_content().strip() == "text stays"
    assert [p.get_filename() for p in rest.iter_attachments()] == ["small.bin"]
    assert rest["Message-ID"] == email.message_from_bytes(mime)["Message-ID"]


# --- throttling and lost answers ---------------------------------------------------


@pytest.mark.parametrize("fault", ["429", "503"])
def test_refused_send_is_retried_and_leaves_once(emulator, mailbox, sender, fault):
    emulator.faults.script([fault], path_contains="/send")

    sent = sender.send_mime(mailbox.address, reply_mime(mailbox))

    [copy] = mailbox.messages("sentitems")
    assert copy.immutable_id == sent.id
    assert len(emulator.outbound) == 1
    assert [r.status for r in rows(emulator, "POST", "/send")] == [int(fault), 202]


def test_ambiguous_5xx_is_not_retried_blindly(emulator, mailbox, sender):
    """A 504 may come after the work was done: the transport does not repeat the
    POST; the sender looks at the draft first, and sends again only as a draft."""
    emulator.faults.script(["504"], path_contains="/send")

    sender.send_mime(mailbox.address, reply_mime(mailbox))

    assert len(mailbox.messages("sentitems")) == 1
    assert len(emulator.outbound) == 1
    calls = [
        (r.method, r.status)
        for r in emulator.log.select(path_contains="/messages/")
        if r.method == "POST" or "$select" in r.query
    ]
    assert calls == [("POST", 504), ("GET", 200), ("POST", 202)]


def test_answer_lost_after_the_send_was_accepted(emulator, mailbox, sender):
    emulator.faults.script(["lost"], path_contains="/send")

    sent = sender.send_mime(mailbox.address, reply_mime(mailbox))

    [copy] = mailbox.messages("sentitems")
    assert copy.immutable_id == sent.id
    assert len(emulator.outbound) == 1
    sends = rows(emulator, "POST", "/send")
    assert [(r.status, r.fault) for r in sends] == [(None, "lost")]  # sent only once


def test_answer_lost_after_the_draft_was_created(emulator, mailbox, sender):
    """The POST that created the draft is not repeated by the transport: the draft
    is found by its Message-ID and sent; no second draft exists."""
    emulator.faults.script(["lost"], path_contains=f"{mailbox.address}/messages?")

    sender.send_mime(mailbox.address, reply_mime(mailbox))

    assert len(mailbox.messages("sentitems")) == 1
    assert mailbox.messages("drafts") == []
    draft_posts = rows(emulator, "POST", f"{mailbox.address}/messages")
    assert [(r.status, r.fault) for r in draft_posts[:1]] == [(None, "lost")]
    assert [r.path.rsplit("/", 1)[-1] for r in draft_posts[1:]] == ["send"]


@pytest.mark.parametrize("resume", ["draft_id", "message_id"])
def test_caller_retry_after_a_lost_answer_sends_nothing_more(
    emulator, mailbox, sender, resume
):
    """The send went, its answer was lost and the check failed too: the caller gets
    a transient error, tries again later, and nothing is sent twice."""
    recorded = []
    # The send's answer is lost, then every try of the state check is dropped.
    emulator.faults.script(["lost"] + ["drop"] * 6, path_contains="/messages/")
    mime = reply_mime(mailbox)
    with pytest.raises(errors.GraphConnectionError) as failed:
        sender.send_mime(mailbox.address, mime, on_draft=recorded.append)
    assert failed.value.transient
    assert len(mailbox.messages("sentitems")) == 1
    emulator.log.clear()

    again = (
        sender.send_mime(mailbox.address, mime, draft_id=recorded[0].id)
        if resume == "draft_id"
        else sender.send_mime(mailbox.address, mime, retry=True)
    )

    assert again.already_sent is True
    assert again.id == recorded[0].id == mailbox.messages("sentitems")[0].immutable_id
    assert again.internet_message_id == message_id_of(mime)
    assert len(mailbox.messages("sentitems")) == 1
    assert len(emulator.outbound) == 1
    assert rows(emulator, "POST", "/v1.0/") == []


def test_retry_deletes_an_unfinished_draft_and_sends_once(emulator, mailbox, sender):
    mime = reply_mime(mailbox)
    leftover = mailbox.deliver(mime, folder="drafts")
    leftover.is_draft = True

    sent = sender.send_mime(mailbox.address, mime, retry=True)

    assert sent.already_sent is False
    [copy] = mailbox.messages("sentitems")
    assert copy.immutable_id == sent.id != leftover.immutable_id
    assert mailbox.messages("drafts") == []
    assert len(emulator.outbound) == 1


# --- refusals -------------------------------------------------------------------------


def test_without_mail_send_nothing_is_created(emulator, tenant, mailbox):
    reader = tenant.add_app(roles=("Mail.ReadWrite",))
    client = make_client(emulator, tenant, reader)
    try:
        assert has_send_role(client.acquire_token()) is False
        with (
            MailSender(client) as sender,
            pytest.raises(errors.MissingSendPermission) as denied,
        ):
            sender.send_mime(mailbox.address, reply_mime(mailbox))
        assert denied.value.key == "missing_send_permission"
        assert denied.value.params["granted"] == "Mail.ReadWrite"
        assert isinstance(denied.value, errors.AccessDenied)
        assert emulator.log.select(path_contains="/v1.0/") == []
        # Graph's own 403 on a send maps to the same exception.
        with MailSender(client) as sender:
            draft = sender.create_draft(mailbox.address, reply_mime(mailbox))
            with pytest.raises(errors.MissingSendPermission) as refused:
                sender.send_draft(mailbox.address, draft)
        assert (refused.value.status, refused.value.code) == (403, "ErrorAccessDenied")
        assert mailbox.messages("sentitems") == []
    finally:
        client.close()


def test_mail_send_granted_after_the_token_was_issued_counts_at_once(
    emulator, tenant, mailbox
):
    late = tenant.add_app(roles=("Mail.ReadWrite",))
    client = make_client(emulator, tenant, late)
    try:
        assert has_send_role(client.acquire_token()) is False  # cached from now on
        late.roles = ["Mail.ReadWrite", "Mail.Send"]  # granted in Azure meanwhile
        with MailSender(client) as sender:
            sent = sender.send_mime(mailbox.address, reply_mime(mailbox))
        assert [m.immutable_id for m in mailbox.messages("sentitems")] == [sent.id]
        late.roles = ["Mail.ReadWrite"]
        assert has_send_role(client.refresh_token()) is False  # cached again
        late.roles = ["Mail.ReadWrite", "Mail.Send"]
        assert "Mail.Send" in client.check_roles(("Mail.ReadWrite", "Mail.Send"))
    finally:
        client.close()


def test_has_send_role(client):
    assert has_send_role(client.acquire_token()) is True
    assert has_send_role("not-a-jwt") is None


def test_from_another_address_is_send_as_denied(emulator, mailbox, sender):
    mime = make_eml("Hi", "ceo@example.com", "customer@example.com", "x")
    with pytest.raises(errors.SendAsDenied) as denied:
        sender.send_mime(mailbox.address, mime)
    assert (denied.value.status, denied.value.code) == (403, "ErrorSendAsDenied")
    assert mailbox.messages("sentitems") == []
    assert emulator.outbound == []
    # With Send As on the address it goes.
    mailbox.send_as = ["ceo@example.com"]
    sender.send_mime(mailbox.address, mime, retry=True)
    assert len(mailbox.messages("sentitems")) == 1


def test_unknown_mailbox(tenant, sender):
    with pytest.raises(errors.MailboxNotFound):
        sender.send_mime(f"ghost@{tenant.domain}", b"From: x@y\r\nTo: a@b\r\n\r\nhi")


def test_over_the_size_limit_is_refused_before_any_request(emulator, mailbox, sender):
    mime = reply_mime(mailbox, attachments=[("huge.bin", blob(27 * MB, seed=6))])
    assert len(mime) > 35 * MB  # base64 makes 27 MB of file over 35 MB of mail
    with pytest.raises(errors.MessageTooLarge) as refused:
        sender.send_mime(mailbox.address, mime)
    assert refused.value.params["limit_mb"] == 35.0
    assert emulator.log.select(path_contains="/v1.0/") == []


def test_over_the_tenant_limit_exchange_refuses(emulator, mailbox, sender):
    """The admin's limit is lower than the client thinks: Exchange refuses while the
    attachment uploads, the half-built draft is removed, nothing is sent."""
    emulator.max_message_size = 5 * MB
    mime = reply_mime(mailbox, attachments=[("scan.tif", blob(6 * MB, seed=7))])
    with pytest.raises(errors.MessageTooLarge) as refused:
        sender.send_mime(mailbox.address, mime)
    assert (refused.value.status, refused.value.code) == (
        400,
        "ErrorMessageSizeExceeded",
    )
    assert mailbox.messages("drafts") == []
    assert mailbox.messages("sentitems") == []
    assert rows(emulator, "POST", "/send") == []


# --- Message-ID -----------------------------------------------------------------------


def test_exchange_message_id_is_returned_when_exchange_replaces_it(
    emulator, mailbox, sender
):
    emulator.replace_message_id = True
    mime = reply_mime(mailbox)

    sent = sender.send_mime(mailbox.address, mime)

    [copy] = mailbox.messages("sentitems")
    assert sent.internet_message_id == copy.internet_message_id
    assert sent.internet_message_id != message_id_of(mime)
    assert sent.internet_message_id.endswith(".prod.outlook.com>")
    assert emulator.outbound[0].internet_message_id == sent.internet_message_id


def test_sent_copy_found_by_internet_message_id(emulator, app, mailbox, sender):
    mime = reply_mime(mailbox)
    sent = sender.send_mime(mailbox.address, mime)
    graph = Graph(emulator, get_token(emulator, mailbox.tenant, app), immutable=True)
    for path in ("/mailFolders/sentitems/messages", "/messages"):
        found = graph.get(
            f"/users/{mailbox.address}{path}",
            params={"$filter": f"internetMessageId eq '{sent.internet_message_id}'"},
        )
        assert found.status_code == 200, found.text
        assert [m["id"] for m in found.json()["value"]] == [sent.id]
        assert found.json()["value"][0]["isDraft"] is False
    assert [
        c["id"] for c in sender.find_copies(mailbox.address, sent.internet_message_id)
    ] == [sent.id]


# --- the emulator on its own --------------------------------------------------------


@pytest.fixture
def graph(emulator, tenant, app):
    return Graph(emulator, get_token(emulator, tenant, app), immutable=True)


def test_send_mail_json_and_mime(emulator, mailbox, agent, graph):
    url = f"/users/{mailbox.address}/sendMail"
    as_json = graph.post(
        url,
        json={
            "message": {
                "subject": "JSON",
                "body": {"contentType": "Text", "content": "hello"},
                "toRecipients": [{"emailAddress": {"address": agent.address}}],
                "attachments": [
                    {
                        "@odata.type": "#microsoft.graph.fileAttachment",
                        "name": "a.txt",
                        "contentType": "text/plain",
                        "contentBytes": base64.b64encode(b"attached").decode(),
                    }
                ],
            },
            "saveToSentItems": "false",
        },
    )
    mime = make_eml("MIME", mailbox.address, agent.address, "hi")
    as_mime = graph.post(
        url,
        data=base64.encodebytes(mime),  # line-wrapped base64, as in the docs
        headers={"Content-Type": "text/plain"},
    )
    broken = graph.post(url, data=b"%%%", headers={"Content-Type": "text/plain"})

    assert (as_json.status_code, as_json.content) == (202, b"")
    assert (as_mime.status_code, as_mime.content) == (202, b"")
    assert broken.status_code == 400
    assert broken.json()["error"]["code"] == "ErrorMimeContentInvalidBase64String"
    assert [m.subject for m in mailbox.messages("sentitems")] == ["MIME"]
    received = {m.subject: m for m in agent.messages("inbox")}
    assert set(received) == {"JSON", "MIME"}
    assert attachments_of(received["JSON"]) == {"a.txt": b"attached"}
    assert received["JSON"].parsed.from_[1] == mailbox.address


def test_bcc_is_delivered_but_not_shown(mailbox, agent, tenant, graph):
    hidden = tenant.add_mailbox(f"hidden@{tenant.domain}")
    mime = make_eml(
        "Bcc", mailbox.address, agent.address, "x", headers={"Bcc": hidden.address}
    )
    sent = graph.post(
        f"/users/{mailbox.address}/sendMail",
        data=base64.b64encode(mime),
        headers={"Content-Type": "text/plain"},
    )
    assert sent.status_code == 202
    [copy] = hidden.messages("inbox")
    assert b"Bcc:" not in copy.raw and b"Bcc:" not in agent.messages("inbox")[0].raw
    assert b"Bcc:" in mailbox.messages("sentitems")[0].raw


def test_undeliverable_recipients_bounce_into_the_senders_inbox(
    emulator, mailbox, tenant, sender
):
    emulator.undeliverable.add("gone@example.com")
    mime = reply_mime(
        mailbox, to=["gone@example.com", f"nobody@{tenant.domain}", "ok@example.com"]
    )
    sent = sender.send_mime(mailbox.address, mime)

    [ndr] = mailbox.messages("inbox")
    report = email.message_from_bytes(ndr.raw, policy=policy.default)
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    assert report["In-Reply-To"] == report["References"] == sent.internet_message_id
    assert report["Subject"] == "Undeliverable: Re: Printer on fire"
    assert report["Auto-Submitted"] == "auto-replied"
    parts = list(report.iter_parts())
    assert [p.get_content_type() for p in parts] == [
        "text/plain",
        "message/delivery-status",
        "text/rfc822-headers",
    ]
    status = parts[1].as_string()
    assert "Final-Recipient: rfc822;gone@example.com" in status
    assert f"Final-Recipient: rfc822;nobody@{tenant.domain}" in status
    assert "Status: 5.1.10" in status and "Action: failed" in status
    assert "ok@example.com" not in status
    assert sent.internet_message_id in parts[2].as_string()
    assert emulator.outbound[0].recipients == ["ok@example.com"]


def test_draft_send_moves_it_to_sent_items(mailbox, graph):
    created = graph.post(
        f"/users/{mailbox.address}/messages",
        data=base64.b64encode(make_eml("D", mailbox.address, "x@example.com", "d")),
        headers={"Content-Type": "text/plain"},
    )
    assert created.status_code == 201
    draft = created.json()
    assert draft["isDraft"] is True
    assert draft["parentFolderId"] == mailbox.folder("drafts").id
    rest_id = mailbox.get(draft["id"]).rest_id
    plain = Graph(graph.emu, graph.token)  # REST ids: they change with the folder

    assert (
        graph.post(f"/users/{mailbox.address}/messages/{draft['id']}/send").status_code
        == 202
    )

    moved = graph.get(f"/users/{mailbox.address}/messages/{draft['id']}").json()
    assert (moved["isDraft"], moved["parentFolderId"]) == (
        False,
        mailbox.folder("sentitems").id,
    )
    old = plain.get(f"/users/{mailbox.address}/mailFolders/drafts/messages/{rest_id}")
    assert old.status_code == 404
    again = graph.post(f"/users/{mailbox.address}/messages/{draft['id']}/send")
    assert again.status_code == 400


def test_upload_session_rules(emulator, mailbox, graph):
    draft = graph.post(
        f"/users/{mailbox.address}/messages",
        json={"subject": "u", "toRecipients": [{"emailAddress": {"address": "a@b.c"}}]},
    ).json()
    base = f"/users/{mailbox.address}/messages/{draft['id']}/attachments"

    def session(size):
        return graph.post(
            f"{base}/createUploadSession",
            json={
                "AttachmentItem": {"attachmentType": "file", "name": "f", "size": size}
            },
        )

    small = session(MB)
    assert small.status_code == 400
    assert small.json()["error"]["code"] == (
        "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"
    )
    created = session(4 * MB)
    assert created.status_code == 201
    body = created.json()
    assert body["nextExpectedRanges"] == ["0-"]
    url, data = body["uploadUrl"], blob(4 * MB, seed=8)

    def put(start, end, headers=None):
        return graph.session.put(
            url,
            data=data[start : end + 1],
            headers={
                "Content-Range": f"bytes {start}-{end}/{len(data)}",
                **(headers or {}),
            },
        )

    with_token = put(0, MB - 1, {"Authorization": f"Bearer {graph.token}"})
    assert (with_token.status_code, with_token.json()["error"]["code"]) == (
        401,
        "InvalidAudienceForResource",
    )
    first = put(0, 2 * MB - 1)
    assert (first.status_code, first.json()["nextExpectedRanges"]) == (
        200,
        [str(2 * MB)],
    )
    out_of_order = put(3 * MB, 4 * MB - 1)
    assert out_of_order.status_code == emulator.upload_range_error_status == 416
    last = put(2 * MB, 4 * MB - 1)
    assert last.status_code == 201
    assert "/Attachments('" in last.headers["Location"]
    assert attachments_of(mailbox.get(draft["id"])) == {"f": data}
    assert put(0, MB - 1).status_code == 404  # the session is over

    emulator.upload_session_lifetime = -1
    expired = graph.session.put(
        session(4 * MB).json()["uploadUrl"],
        data=data[:MB],
        headers={"Content-Range": f"bytes 0-{MB - 1}/{len(data)}"},
    )
    assert (expired.status_code, expired.json()["error"]["code"]) == (
        401,
        "InvalidAuthenticationToken",
    )


def test_request_body_limit(emulator, mailbox, graph):
    mime = make_eml("x", mailbox.address, "a@example.com", "y" * (3 * MB + 200_000))
    too_big = graph.post(
        f"/users/{mailbox.address}/messages",
        data=base64.b64encode(mime),
        headers={"Content-Type": "text/plain"},
    )
    assert too_big.status_code == emulator.request_too_large_status == 413
    assert too_big.json()["error"]["code"] == "RequestEntityTooLarge"
    assert mailbox.messages("drafts") == []


def test_send_calls_count_against_throttling(emulator, mailbox, graph):
    emulator.request_budget = (2, 600)
    mime = base64.b64encode(make_eml("t", mailbox.address, "a@example.com", "t"))
    statuses = [
        graph.post(
            f"/users/{mailbox.address}/sendMail",
            data=mime,
            headers={"Content-Type": "text/plain"},
        ).status_code
        for _ in range(3)
    ]
    assert statuses == [202, 202, 429]
    assert len(emulator.outbound) == 2


def test_mail_body_too_long_for_one_request(mailbox, sender):
    mime = make_eml("long", mailbox.address, "a@example.com", "z" * (4 * MB))
    with pytest.raises(errors.MessageTooLarge):
        sender.send_mime(mailbox.address, mime)
