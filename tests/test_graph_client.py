"""The Graph mail client against the local Graph + identity emulator, over real TLS.

Nothing of the client or of requests is mocked: every call goes through msal, requests
and urllib3 to the emulator.
"""

import datetime as dt
import logging
import uuid

import mail_scanner_graph
import pytest
import trustme
from conftest import make_client
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from graph_emulator.samples import make_eml
from mail_scanner_graph import errors

UTC = dt.timezone.utc


def deliver(mailbox, count, folder="inbox", received=None, tag="m"):
    """Deliver `count` distinct messages; return {immutable id: the exact bytes its
    $value serves} (Exchange's regenerated MIME unless the emulator is tidy)."""
    sent = {}
    for n in range(count):
        eml = make_eml(
            f"{tag} {n} {uuid.uuid4().hex[:6]}",
            f"customer{n}@example.com",
            "support@example.com",
            f"Body {n}\nline two\n" + "x" * (n * 37),
        )
        msg = mailbox.deliver(eml, folder=folder, received=received)
        sent[msg.immutable_id] = msg.mime
    return sent


def sized(sent):
    """(id, size) pairs: with sizes known, small mails share a $batch."""
    return [(mid, len(raw)) for mid, raw in sent.items()]


def sync_all(round_):
    seen = []
    for page in round_.pages():
        seen += [ref for ref in page if not ref.removed]
    return seen


def assert_no_secret(secret, exc, caplog):
    assert secret not in str(exc)
    assert secret not in repr(exc)
    assert secret not in caplog.text


# --- tokens --------------------------------------------------------------------------


def test_token_with_secret_is_cached(client):
    token = client.acquire_token()
    assert token.count(".") == 2  # a JWT
    sent = client.request_count
    assert client.acquire_token() == token
    assert client.request_count == sent  # msal's in-memory cache: no HTTP call


def _certificate(key_type=trustme.KeyType.RSA):
    ca = trustme.CA(key_type=key_type)
    cert = ca.issue_cert("mail-scanner.example.com", key_type=key_type)
    return (
        cert.private_key_pem.bytes().decode(),
        cert.cert_chain_pems[0].bytes().decode(),
    )


@pytest.mark.parametrize("with_thumbprint", [False, True])
def test_token_with_certificate(emulator, tenant, mailbox, with_thumbprint):
    key_pem, cert_pem = _certificate()
    app = tenant.add_app(secret=None, certificate_pem=cert_pem)
    if with_thumbprint:
        thumbprint = (
            x509.load_pem_x509_certificate(cert_pem.encode())
            .fingerprint(hashes.SHA1())
            .hex()
        )
        certificate = {"private_key": key_pem, "thumbprint": thumbprint}
    else:
        certificate = {"private_key": key_pem, "public_certificate": cert_pem}
    client = make_client(
        emulator, tenant, app, client_secret=None, certificate=certificate
    )
    assert client.check_access(mailbox.address).name.lower() == "inbox"
    assert key_pem not in repr(client)


def test_unusable_certificate_key_is_reported(emulator, tenant, caplog):
    key_pem, cert_pem = _certificate(trustme.KeyType.ECDSA)
    app = tenant.add_app(secret=None, certificate_pem=cert_pem)
    certificate = {"private_key": key_pem, "public_certificate": cert_pem}
    client = make_client(
        emulator, tenant, app, client_secret=None, certificate=certificate
    )
    with pytest.raises(errors.AuthenticationError) as info:
        client.acquire_token()
    assert info.value.key == "unusable_credential"
    assert info.value.params["kind"] == {"key": "credential_certificate"}
    assert "PRIVATE KEY" not in str(info.value) and "PRIVATE KEY" not in caplog.text


def _wrong_secret(emulator, tenant, app):
    return make_client(emulator, tenant, app, client_secret="not-" + app.secret)


def _expired_secret(emulator, tenant, app):
    expired = tenant.add_app(secret=app.secret, secret_expired=True)
    return make_client(emulator, tenant, expired)


def _unknown_app(emulator, tenant, app):
    return mail_scanner_graph.GraphMailClient(
        tenant.id,
        str(uuid.uuid4()),
        client_secret=app.secret,
        authority_host=emulator.url,
        graph_url=emulator.graph_url,
        verify=emulator.ca_path,
    )


def _unknown_tenant(emulator, tenant, app):
    return mail_scanner_graph.GraphMailClient(
        str(uuid.uuid4()),
        app.client_id,
        client_secret=app.secret,
        authority_host=emulator.url,
        graph_url=emulator.graph_url,
        verify=emulator.ca_path,
    )


def _no_credential(emulator, tenant, app):
    return make_client(emulator, tenant, app, client_secret=None)


def _bad_scope(emulator, tenant, app):
    return make_client(emulator, tenant, app, scope="https://example.invalid/.default")


@pytest.mark.parametrize(
    "build, exc_class, key",
    [
        (_wrong_secret, errors.InvalidClientSecret, "invalid_client_secret"),
        (_expired_secret, errors.ExpiredClientSecret, "expired_client_secret"),
        (_unknown_app, errors.ApplicationNotFound, "application_not_found"),
        (_unknown_tenant, errors.TenantNotFound, "tenant_not_found"),
        (_no_credential, errors.MissingCredential, "missing_credential"),
        (_bad_scope, errors.InvalidScope, "invalid_scope"),
    ],
    ids=["7000215", "7000222", "700016", "90002", "7000218", "70011"],
)
def test_token_errors_are_actionable_and_secret_free(
    emulator, tenant, app, caplog, build, exc_class, key
):
    """Each AADSTS error has its own key (the Odoo side words each one); nothing
    the client keeps or logs carries the secret."""
    caplog.set_level(logging.DEBUG)
    client = build(emulator, tenant, app)
    with pytest.raises(exc_class) as info:
        client.acquire_token()
    assert isinstance(info.value, errors.AuthenticationError)
    assert info.value.key == key
    assert key in str(info.value)
    assert_no_secret(app.secret, info.value, caplog)
    assert app.secret not in repr(client)


def test_token_error_mapping_of_other_codes():
    consent = errors.from_token_error(
        {
            "error": "invalid_grant",
            "error_codes": [65001],
            "error_description": "AADSTS65001: no consent\nTrace ID: x",
        }
    )
    assert isinstance(consent, errors.ConsentRequired)
    other = errors.from_token_error(
        {
            "error": "invalid_request",
            "error_codes": [50126],
            "error_description": "AADSTS50126: bad thing.\nTrace ID: 1\n",
        }
    )
    assert type(other) is errors.AuthenticationError
    assert other.params["code"] == "AADSTS50126"
    assert other.params["detail"] == "AADSTS50126: bad thing."
    assert "Trace ID" not in str(other)


def test_expired_token_is_refreshed_once(emulator, client, mailbox):
    client.check_access(mailbox.address)
    emulator.expire_tokens()
    emulator.log.clear()
    assert client.get_folder(mailbox.address, "inbox").name.lower() == "inbox"
    statuses = [(row.path, row.status) for row in emulator.log.snapshot()]
    assert any(status == 401 for _path, status in statuses), statuses
    assert sum("/oauth2/v2.0/token" in path for path, _status in statuses) == 1, (
        statuses
    )


# --- access checks -----------------------------------------------------------------


def test_check_access_ok(client, mailbox):
    folder = client.check_access(mailbox.address, "inbox")
    assert folder.id and folder.name.lower() == "inbox"


def test_access_denied_by_application_access_policy(emulator, tenant, mailbox, caplog):
    other = tenant.add_mailbox(f"other@{tenant.domain}")
    app = tenant.add_app(secret="s3cr3t-policy", allowed_mailboxes=[other.address])
    client = make_client(emulator, tenant, app)
    with pytest.raises(errors.AccessDenied) as info:
        client.check_access(mailbox.address)
    assert info.value.key == "access_denied"
    assert info.value.params["mailbox"] == mailbox.address
    assert "ErrorAccessDenied" in info.value.params["detail"]
    assert client.check_access(other.address).id
    assert_no_secret(app.secret, info.value, caplog)


def test_missing_write_permission(emulator, tenant, mailbox):
    app = tenant.add_app(secret="s3cr3t-ro", roles=("Mail.Read",))
    client = make_client(emulator, tenant, app)
    with pytest.raises(errors.MissingRole) as info:
        client.check_access(mailbox.address)
    assert info.value.params["role"] == "Mail.ReadWrite"
    assert info.value.params["granted"] == "Mail.Read"


def test_mailbox_not_found(client, tenant):
    with pytest.raises(errors.MailboxNotFound) as info:
        client.check_access(f"nobody@{tenant.domain}")
    assert info.value.params["mailbox"] == f"nobody@{tenant.domain}"


def test_folder_not_found(client, mailbox):
    with pytest.raises(errors.FolderNotFound):
        client.get_folder(mailbox.address, "AAMkAGnotAfolder00000000000000000000=")


def test_foreign_links_never_get_the_token(client, mailbox):
    with pytest.raises(errors.GraphError):
        list(
            client.delta(
                mailbox.address,
                "inbox",
                delta_link="https://evil.example.com/v1.0/x?$deltatoken=1",
            ).pages()
        )


# --- folders
# ---------------------------------------------------------------------------


def test_list_folders_tree_and_create_folder(client, mailbox):
    inbox = client.get_folder(mailbox.address, "inbox")
    tickets = client.create_folder(mailbox.address, "Tickets", parent_id=inbox.id)
    done = client.create_folder(mailbox.address, "Done", parent_id=tickets.id)
    assert (
        client.create_folder(mailbox.address, "tickets", parent_id=inbox.id).id
        == tickets.id
    )

    roots = client.list_folders(mailbox.address)
    by_path = {folder.path: folder for root in roots for folder in root.walk()}
    inbox_path = next(path for path, f in by_path.items() if f.id == inbox.id)
    assert by_path[f"{inbox_path}/Tickets"].id == tickets.id
    assert by_path[f"{inbox_path}/Tickets/Done"].id == done.id
    assert by_path[f"{inbox_path}/Tickets"].children[0].id == done.id
    top = client.create_folder(mailbox.address, "Archive 2")
    assert top.id in {root.id for root in client.list_folders(mailbox.address)}


# --- delta
# -------------------------------------------------------------------------------


def test_delta_pages_then_link_then_only_new_mail(client, mailbox):
    sent = deliver(mailbox, 35)
    rnd = client.delta(mailbox.address, "inbox", page_size=10)
    pages = rnd.pages()
    first = next(pages)
    assert len(first) <= 10
    with pytest.raises(RuntimeError):
        rnd.delta_link  # noqa: B018 (the property raises)
    refs = first + [ref for page in pages for ref in page]
    assert rnd.page_count >= 4
    assert {ref.id for ref in refs} == set(sent)
    ref = refs[0]
    assert ref.received.tzinfo is not None and ref.received.utcoffset() == dt.timedelta(
        0
    )
    assert (
        ref.sender.endswith("@example.com") and ref.subject and ref.internet_message_id
    )
    link = rnd.delta_link
    assert not rnd.resynced

    assert sync_all(client.delta(mailbox.address, "inbox", delta_link=link)) == []
    new = deliver(mailbox, 3, tag="new")
    replay = client.delta(mailbox.address, "inbox", delta_link=link, page_size=10)
    assert {ref.id for ref in sync_all(replay)} == set(new)
    assert replay.delta_link


def test_delta_since_excludes_older_mail(client, mailbox):
    now = dt.datetime.now(UTC)
    deliver(mailbox, 4, received=now - dt.timedelta(days=30), tag="old")
    recent = deliver(mailbox, 3, received=now - dt.timedelta(hours=1), tag="recent")
    rnd = client.delta(mailbox.address, "inbox", since=now - dt.timedelta(days=1))
    assert {ref.id for ref in sync_all(rnd)} == set(recent)


@pytest.mark.parametrize("reset", [False, True], ids=["expired", "reset-location"])
def test_delta_410_resyncs_from_scratch(emulator, client, mailbox, reset):
    first = deliver(mailbox, 5)
    rnd = client.delta(mailbox.address, "inbox", page_size=2)
    sync_all(rnd)
    emulator.invalidate_delta_tokens(reset=reset)
    later = deliver(mailbox, 2, tag="later")
    again = client.delta(
        mailbox.address, "inbox", delta_link=rnd.delta_link, page_size=2
    )
    assert {ref.id for ref in sync_all(again)} == set(first) | set(later)
    assert again.resynced and again.delta_link


# --- $batch operations
# -------------------------------------------------------------------


def test_fetch_mime_exact_bytes_in_batches(emulator, client, mailbox):
    sent = deliver(mailbox, 45)
    emulator.log.clear()
    got = dict(client.fetch_mime(mailbox.address, sized(sent)))
    assert got == sent
    assert emulator.log.count(path_contains="$batch") == 3


def test_fetch_mime_streams_large_and_unknown_sizes_alone(emulator, client, mailbox):
    """Bytes, not only counts, bound a download: a mail over the threshold or of
    unknown size is read from $value alone, never as base64 inside $batch JSON."""
    sent = deliver(mailbox, 4)
    ids = list(sent)
    items = [(ids[0], 1000), (ids[1], None), (ids[2], 3 * 1024 * 1024), ids[3]]
    emulator.log.clear()
    assert dict(client.fetch_mime(mailbox.address, items)) == sent
    alone = emulator.log.select(in_batch=False, path_contains="/$value")
    assert sorted(r.path.split("/")[-2] for r in alone) == sorted(ids[1:])
    assert emulator.log.count(path_contains="$batch") == 1


def test_download_plan_bounds_bytes_and_counts():
    mib = 1024 * 1024
    plan = list(
        mail_scanner_graph.download_plan(
            [("a", mib), ("b", mib), ("c", None), ("d", 2 * mib)]
            + [(f"s{n}", 100) for n in range(25)]
            + [(f"m{n}", int(1.5 * mib)) for n in range(8)],
            batch_size=20,
        )
    )
    assert plan[0] == [("a", mib), ("b", mib)]
    assert plan[1] == [("c", None)]
    assert plan[2][0] == ("d", 2 * mib)
    for group in plan:
        assert len(group) <= 20
        if len(group) > 1:
            assert sum(size for _mid, size in group) <= 8 * mib
    flat = [mid for group in plan for mid, _size in group]
    assert len(flat) == 4 + 25 + 8 and len(set(flat)) == len(flat)


def test_fetch_mime_reports_missing_message_without_stopping(client, mailbox):
    sent = deliver(mailbox, 2)
    ids = [*sent, "AAkALgAAAAAAmissing000000000000000000000000000="]
    got = dict(client.fetch_mime(mailbox.address, ids))
    assert isinstance(
        got[ids[-1]], (errors.ItemNotFound, errors.MailboxNotFound, errors.GraphError)
    )
    assert got[ids[0]] == sent[ids[0]] and got[ids[1]] == sent[ids[1]]


def test_mark_read_and_move_keep_immutable_ids(client, mailbox):
    sent = deliver(mailbox, 25)
    ids = list(sent)
    assert client.mark_read(mailbox.address, ids) == dict.fromkeys(ids)
    target = client.create_folder(mailbox.address, "Processed")
    assert client.move(mailbox.address, ids[:22], target.id) == dict.fromkeys(ids[:22])

    moved = sync_all(client.delta(mailbox.address, target.id))
    assert {ref.id for ref in moved} == set(ids[:22])  # same ids after the move
    assert all(ref.is_read for ref in moved)
    assert dict(client.fetch_mime(mailbox.address, ids[:22])) == {
        i: sent[i] for i in ids[:22]
    }
    left = sync_all(client.delta(mailbox.address, "inbox"))
    assert {ref.id for ref in left} == set(ids[22:])


def test_message_sizes(client, mailbox):
    sent = deliver(mailbox, 3)
    sizes = client.message_sizes(mailbox.address, list(sent))
    for mid, eml in sent.items():
        assert isinstance(sizes[mid], int) and sizes[mid] >= len(eml) * 0.5


# --- throttling and faults
# ---------------------------------------------------------------


def test_request_budget_429_is_honoured(emulator, tenant, app, mailbox):
    # Throttled requests count against the budget too: Retry-After must really be
    # honoured.
    client = make_client(emulator, tenant, app, max_retry_after=5, max_attempts=8)
    client.check_access(mailbox.address)
    emulator.request_budget = (3, 1)  # 3 requests per second, then 429 + Retry-After
    for _ in range(8):
        assert client.get_folder(mailbox.address, "inbox").id
    assert any(row.status == 429 for row in emulator.log.snapshot())


def test_concurrency_limit_inside_batches(emulator, client, mailbox):
    sent = deliver(mailbox, 20)
    emulator.max_in_flight = 1
    assert dict(client.fetch_mime(mailbox.address, sized(sent))) == sent


def test_scripted_faults_are_retried_and_counted(emulator, client, mailbox):
    client.check_access(mailbox.address)
    emulator.faults.script(["429", "503", "drop"], path_contains="mailFolders")
    before = client.request_count
    assert client.get_folder(mailbox.address, "inbox").id
    assert client.request_count - before == 4


def test_gives_up_after_bounded_attempts(emulator, tenant, app, mailbox):
    client = make_client(emulator, tenant, app, max_attempts=3)
    client.check_access(mailbox.address)
    emulator.faults.script(["503"] * 10, path_contains="mailFolders")
    with pytest.raises(errors.ServiceUnavailable):
        client.get_folder(mailbox.address, "inbox")


FAULT_KINDS = ("429", "503", "slow", "drop", "429-entry")


def test_initial_sync_of_300_messages_under_random_faults(
    emulator, tenant, app, mailbox
):
    sent = deliver(mailbox, 300)
    # Read timeout below the emulator's "slow" delay, so "slow" becomes a read timeout.
    emulator.faults.slow_seconds = 1.0
    client = make_client(emulator, tenant, app, timeout=(2, 0.5), max_attempts=10)
    # 10% of requests fail; seed 25 draws every kind over this exact request sequence
    # (15 delta pages + 15 $batch), checked below so a change cannot go unnoticed.
    emulator.faults.random(rate=0.1, kinds=FAULT_KINDS, seed=25)

    rnd = client.delta(mailbox.address, "inbox", page_size=20)
    refs = sync_all(rnd)
    # The same change may come twice: dedup by id. The size comes with the change.
    unique = {ref.id: ref.size for ref in refs}
    assert set(unique) == set(sent)
    assert all(unique[mid] == len(raw) for mid, raw in sent.items())

    got = {}
    for mid, result in client.fetch_mime(mailbox.address, list(unique.items())):
        assert isinstance(result, bytes), result
        assert mid not in got  # every message exactly once
        got[mid] = result
    assert got == sent
    assert set(emulator.faults.counts) >= set(FAULT_KINDS), emulator.faults.counts

    emulator.invalidate_delta_tokens()
    again = client.delta(
        mailbox.address, "inbox", delta_link=rnd.delta_link, page_size=100
    )
    assert {ref.id for ref in sync_all(again)} == set(sent)
    assert again.resynced


def test_throttled_batch_entries_are_retried_later(emulator, client, mailbox):
    sent = deliver(mailbox, 5)
    emulator.faults.script(["429-entry", "429-entry"])
    assert dict(client.fetch_mime(mailbox.address, sized(sent))) == sent
    assert emulator.faults.pending == []


def test_environment_cannot_redirect_or_break_tls(
    emulator, tenant, app, mailbox, monkeypatch
):
    monkeypatch.setenv("MSAL_FORCE_REGION", "westeurope")
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/nonexistent/ca.pem")
    monkeypatch.setenv("CURL_CA_BUNDLE", "/nonexistent/ca.pem")
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("https_proxy", "http://127.0.0.1:9")
    client = make_client(emulator, tenant, app)
    assert client.check_access(mailbox.address).id
    assert not any("westeurope" in row.path for row in emulator.log.snapshot())


@pytest.mark.parametrize("status", [400, 409])
def test_create_folder_returns_existing_on_either_status(
    emulator, client, mailbox, status
):
    emulator.folder_exists_status = status
    try:
        first = client.create_folder(mailbox.address, "Tickets")
        assert client.create_folder(mailbox.address, "TICKETS").id == first.id
    finally:
        emulator.folder_exists_status = 409


def test_delta_keeps_going_through_empty_pages_and_duplicates(
    emulator, client, mailbox
):
    sent = deliver(mailbox, 12)
    with emulator.temporarily(delta_empty_pages=2, redeliver_rate=0.3):
        rnd = client.delta(mailbox.address, "inbox", page_size=5)
        ids = [ref.id for ref in sync_all(rnd)]
    assert set(ids) == set(sent)
    assert rnd.page_count >= 5 and rnd.delta_link


def test_untrusted_certificate_fails_fast_with_tls_hint(emulator, tenant, app):
    # System CAs do not trust the emulator's test CA.
    client = make_client(emulator, tenant, app, verify=True, backoff_factor=1)
    with pytest.raises(errors.GraphConnectionError) as info:
        client.acquire_token()
    assert info.value.params["hint"] == {"key": "tls"}
    assert client.request_count == 1  # no retry: it cannot help


def test_missing_ca_bundle_is_reported(emulator, tenant, app):
    client = make_client(emulator, tenant, app, verify="/nonexistent/ca.pem")
    with pytest.raises(errors.GraphConnectionError) as info:
        client.acquire_token()
    assert info.value.params["hint"] == {"key": "ca_bundle_missing"}
