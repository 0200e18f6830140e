"""Header facts and protections on CPython's own test mails.

CPython's ``test_email`` data (``Lib/test/test_email/data/msg_*.txt``: 48 mails of
the email package's own tests, some of them deliberately broken) ships with every
full Python installation, so it is always at hand. For each mail:

- ``tools/mail_facts.parse_headers``, which reads only the header block, gives the
  same headers, in the same order and with the same raw values, as the whole-mail
  parse Odoo's gateway does (``email.message_from_bytes(raw, policy=SMTP)`` in
  ``mail.thread.message_process``): the scanner's Message-ID, sender and
  protections then judge the headers the gateway will see;
- ``MailFacts`` and the three protections of ``tools/protections.py`` return
  without raising.

``mail_facts`` imports ``odoo.tools``, so these tests run where Odoo is importable
(the venv-odoo run of this tier) and skip elsewhere.
"""

import email
import email.policy
import sysconfig
from pathlib import Path

import pytest
from addon_loader import load_addon_module

REPO = Path(__file__).resolve().parent.parent
TOOLS = REPO / "mail_scanner_oauth2" / "tools"
DATA = Path(sysconfig.get_paths()["stdlib"]) / "test" / "test_email" / "data"
MAILS = sorted(DATA.glob("msg_*.txt"))


def _load(name):
    return load_addon_module(f"mail_scanner_tools_{name}", TOOLS / f"{name}.py")


@pytest.fixture(scope="module")
def tools():
    pytest.importorskip("odoo.tools", reason="mail_facts needs Odoo's tools")
    return _load("mail_facts"), _load("protections")


def test_the_stdlib_test_mails_are_there():
    # A Python without its test package would silently make the checks below
    # vacuous: the machines of this project always have it.
    assert len(MAILS) >= 40, f"CPython's test_email data not found under {DATA}"


@pytest.mark.parametrize("path", MAILS, ids=lambda p: p.name)
def test_parse_headers_agrees_with_the_gateway_parse(tools, path):
    mail_facts, _protections = tools
    raw = path.read_bytes()
    gateway = email.message_from_bytes(raw, policy=email.policy.SMTP)
    scanner = mail_facts.parse_headers(raw)
    assert list(scanner.raw_items()) == list(gateway.raw_items())
    facts = mail_facts.MailFacts(raw)
    assert facts.message_id == str(gateway.get("Message-Id") or "").strip()


@pytest.mark.parametrize("path", MAILS, ids=lambda p: p.name)
def test_facts_and_protections_never_raise(tools, path):
    mail_facts, protections = tools
    facts = mail_facts.MailFacts(path.read_bytes())
    for value in (
        facts.message_id,
        facts.sender,
        facts.sender_domain,
        facts.subject,
        facts.content_type,
    ):
        assert isinstance(value, str)
    assert isinstance(facts.recipients, list)
    for check in (
        protections.auto_reply_reason,
        protections.delivery_failure_reason,
        protections.no_auto_answer_reason,
    ):
        reason = check(facts)
        assert reason is None or (isinstance(reason, str) and reason)


def test_a_header_the_email_package_cannot_parse_is_read_raw(tools):
    # eml_parser's sample_gh_issue_79: the standard library's Message-ID parser
    # raises IndexError on a domain literal as the whole id.
    mail_facts, protections = tools
    raw = (
        b"From: a@example.org\r\nTo: b@example.org\r\nSubject: odd id\r\n"
        b"Message-ID: <[id@domain.com]>\r\n\r\nbody\r\n"
    )
    facts = mail_facts.MailFacts(raw)
    assert facts.message_id == "<[id@domain.com]>"
    assert protections.auto_reply_reason(facts) is None
