# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""Change notifications end to end: the emulator subscribes, validates and notifies
over real HTTP against this Odoo's test server on 127.0.0.1.

The emulator's delivery threads call Odoo while the test waits for them
(``wait_idle``): the test thread never uses the database while a notification is in
flight, as both share the test transaction.
"""

import json
import threading
import uuid
from datetime import datetime, timedelta

import requests

from odoo import fields
from odoo.tests import HttpCase, tagged

from ..graph.subscriptions import MailSubscriptions
from ..models.mail_scanner_subscription import (
    HEALTHY_POLL,
    PARAM_ALLOW_LOCAL,
    address_problem,
)
from .common import MailScannerCase


class NotificationCase(MailScannerCase, HttpCase):
    def setUp(self):
        super().setUp()
        params = self.env["ir.config_parameter"].sudo()
        params.set_param("web.base.url", self.base_url())
        params.set_param(PARAM_ALLOW_LOCAL, "1")
        service = self.emu.subscriptions
        # Forget every subscription and queued POST afterwards, default knobs again.
        self.addCleanup(service.reset)
        service.require_https = False  # Odoo's test server speaks http on 127.0.0.1
        service.batch_window = 0.05
        service.retry_base = 0.2
        self.enterContext(self.emu.temporarily("tidy"))

    # ---------------------------------------------------------------- helpers
    def started_mailbox(self, **vals):
        """A started mailbox whose first run of the job subscribed and scanned."""
        mailbox = self.create_mailbox(**vals)
        self.run_jobs()
        return mailbox

    def started_mailbox_of_another_tenant(self):
        other, _graph_mailbox = self.mailbox_of_another_company(
            "help@other.example", "Other"
        )
        self.run_jobs()
        return other

    def subscription(self, mailbox):
        self.env.invalidate_all()
        return self.env["mail.scanner.subscription"].search(
            [("mailbox_id", "=", mailbox.id)]
        )

    def graph_subscriptions(self):
        return [
            sub
            for sub in self.emu.subscriptions.all()
            if sub.application_id == self.graph_app.client_id
        ]

    def settle(self):
        """Waits until the emulator delivered every queued notification."""
        self.assertTrue(self.emu.subscriptions.wait_idle(timeout=20))
        self.env.invalidate_all()

    def delta_rounds(self):
        """Delta rounds this tenant's mailbox asked Graph for (first pages)."""
        return sum(
            1
            for row in self.emu.log.select(path_contains="delta")
            if row.mailbox == self.mailbox_address
            and "$skiptoken" not in row.query
            and row.client_id == self.graph_app.client_id
        )

    def renewals(self):
        return sum(
            1
            for row in self.emu.log.select(
                path_contains="/subscriptions/", method="PATCH"
            )
            if row.client_id == self.graph_app.client_id
        )

    def notify_url(self, mailbox, kind="notify"):
        return f"{self.base_url()}/mail_scanner_oauth2/{kind}/{mailbox.id}"

    def notification(self, sub, **overrides):
        item = {
            "subscriptionId": sub.graph_id,
            "clientState": sub.client_state,
            "changeType": "created",
            "resource": f"Users/x/Messages/{uuid.uuid4().hex}",
            "resourceData": {"id": uuid.uuid4().hex},
            "tenantId": self.tenant.id,
        }
        item.update(overrides)
        return {key: value for key, value in item.items() if value is not None}

    def post(self, mailbox, body, kind="notify"):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return self.url_open(
            self.notify_url(mailbox, kind),
            data=data,
            headers={"Content-Type": "application/json"},
        )


@tagged("post_install", "-at_install")
class TestSubscriptionLife(NotificationCase):
    def test_validation_handshake(self):
        mailbox = self.create_mailbox()
        token = "Validation: Testing client application reachability é+&?"
        for method in ("POST", "GET"):
            resp = self.opener.request(
                method,
                self.notify_url(mailbox),
                params={"validationToken": token},
                timeout=10,
            )
            self.assertEqual(resp.status_code, 200)
            self.assertEqual(resp.headers["Content-Type"].split(";")[0], "text/plain")
            self.assertEqual(resp.text, token)
        lifecycle = self.opener.post(
            self.notify_url(mailbox, "lifecycle"),
            params={"validationToken": "abc"},
            timeout=10,
        )
        self.assertEqual(lifecycle.text, "abc")
        too_long = self.opener.post(
            self.notify_url(mailbox), params={"validationToken": "x" * 5000}, timeout=10
        )
        self.assertEqual(too_long.status_code, 400)

    def test_subscription_created_when_scanning_starts(self):
        mailbox = self.create_mailbox()
        self.assertEqual(self.subscription(mailbox).state, "pending")
        self.assertEqual(mailbox.notification_state, "pending")
        self.run_jobs()
        sub = self.subscription(mailbox)
        self.assertEqual(sub.state, "live")
        (graph_sub,) = self.graph_subscriptions()
        self.assertEqual(graph_sub.id, sub.graph_id)
        self.assertEqual(graph_sub.change_types, ("created",))
        self.assertEqual(graph_sub.folder.id, mailbox.folder_id.graph_id)
        self.assertEqual(graph_sub.notification_url, self.notify_url(mailbox))
        self.assertEqual(graph_sub.lifecycle_url, self.notify_url(mailbox, "lifecycle"))
        self.assertEqual(graph_sub.client_state, sub.client_state)
        self.assertGreaterEqual(len(sub.client_state), 64)
        # Both URLs passed Graph's handshake against this Odoo.
        validations = self.emu.subscriptions.outbox.select("validation", ok=True)
        self.assertEqual(
            {row.url for row in validations},
            {self.notify_url(mailbox), self.notify_url(mailbox, "lifecycle")},
        )
        # Under 7 days, as Graph allows for mail.
        self.assertGreater(sub.expiration, datetime.now() + timedelta(days=6))
        self.assertLess(sub.expiration, datetime.now() + timedelta(days=7))
        self.assertEqual(mailbox.notification_state, "live")
        self.assertEqual(mailbox.notification_expiration, sub.expiration)
        self.assertIn("15 minutes", mailbox.notification_message)

    def test_client_state_is_for_administrators_only(self):
        field = self.env["mail.scanner.subscription"]._fields["client_state"]
        self.assertEqual(field.groups, "base.group_system")
        mailbox = self.started_mailbox()
        other = self.started_mailbox_of_another_tenant()
        self.assertNotEqual(
            self.subscription(mailbox).client_state,
            self.subscription(other).client_state,
        )

    def test_renewed_well_before_expiry(self):
        mailbox = self.started_mailbox()
        sub = self.subscription(mailbox)
        first_expiry = sub.expiration
        self.run_jobs()
        self.assertEqual(self.renewals(), 0, "a fresh subscription is not renewed")
        # Four and a half days later, as far as Odoo can tell.
        sub.expiration = fields.Datetime.now() + timedelta(days=2, hours=12)
        self.run_jobs()
        self.assertEqual(self.renewals(), 1)
        sub = self.subscription(mailbox)
        self.assertEqual(sub.state, "live")
        self.assertGreaterEqual(sub.expiration, first_expiry)
        (graph_sub,) = self.graph_subscriptions()
        self.assertEqual(graph_sub.id, sub.graph_id)
        self.assertEqual(
            graph_sub.expiration.replace(tzinfo=None, microsecond=0), sub.expiration
        )

    def test_reauthorization_required_renews(self):
        mailbox = self.started_mailbox()
        sub = self.subscription(mailbox)
        triggers = self.job_triggers(mailbox)
        self.emu.lifecycle(sub.graph_id, "reauthorizationRequired")
        self.settle()
        self.assertEqual(
            self.emu.subscriptions.outbox.count("lifecycle", ok=True), 1, "202"
        )
        self.assertTrue(self.subscription(mailbox).renew_requested)
        self.assertEqual(self.job_triggers(mailbox), triggers + 1)
        self.run_jobs()
        self.assertEqual(self.renewals(), 1)
        self.assertFalse(self.subscription(mailbox).renew_requested)

    def test_deleted_when_the_mailbox_stops(self):
        mailbox = self.started_mailbox()
        self.assertEqual(len(self.graph_subscriptions()), 1)
        mailbox.action_stop()
        self.assertEqual(self.graph_subscriptions(), [])
        sub = self.subscription(mailbox)
        self.assertEqual(
            (sub.state, sub.graph_id, sub.client_state), ("off", False, False)
        )
        self.assertEqual(mailbox.notification_state, "off")
        self.run_jobs()
        self.assertEqual(self.graph_subscriptions(), [], "a stopped mailbox stays off")

    def test_replaced_when_the_folder_changes(self):
        mailbox = self.started_mailbox()
        old_id = self.subscription(mailbox).graph_id
        self.graph_mailbox.add_folder("Tickets")
        mailbox.action_refresh_folders()
        tickets = mailbox.env["mail.scanner.folder"].search(
            [("mailbox_id", "=", mailbox.id), ("name", "=", "Tickets")]
        )
        mailbox.folder_id = tickets
        self.assertEqual(self.graph_subscriptions(), [], "the old one is deleted")
        self.run_jobs()
        (graph_sub,) = self.graph_subscriptions()
        self.assertNotEqual(graph_sub.id, old_id)
        self.assertEqual(graph_sub.folder.id, tickets.graph_id)

    def test_replaced_by_the_new_app_when_the_app_changes(self):
        mailbox = self.started_mailbox()
        new_graph_app = self.tenant.add_app(secret=f"value~{uuid.uuid4().hex}")
        mailbox.app_id = self.create_app(
            name="Contoso 2",
            client_id=new_graph_app.client_id,
            client_secret=new_graph_app.secret,
        )
        # Deleted with the app that made it (only that app may).
        self.assertEqual(self.graph_subscriptions(), [])
        self.run_jobs()
        (graph_sub,) = [
            sub
            for sub in self.emu.subscriptions.all()
            if sub.tenant_id == self.tenant.id
        ]
        self.assertEqual(graph_sub.application_id, new_graph_app.client_id)
        self.assertEqual(self.subscription(mailbox).app_id, mailbox.app_id)

    def test_replaced_when_the_public_address_changes(self):
        mailbox = self.started_mailbox()
        mailbox.notification_address = self.base_url().replace("127.0.0.1", "localhost")
        self.assertEqual(self.graph_subscriptions(), [])
        self.run_jobs()
        (graph_sub,) = self.graph_subscriptions()
        self.assertTrue(graph_sub.notification_url.startswith("http://localhost:"))

    def test_recreated_after_subscription_removed_and_caught_up(self):
        mailbox = self.started_mailbox()
        old_id = self.subscription(mailbox).graph_id
        self.emu.lifecycle(old_id, "subscriptionRemoved")
        self.settle()
        sub = self.subscription(mailbox)
        self.assertEqual((sub.state, sub.graph_id), ("pending", False))
        self.assertTrue(sub.woken_at)
        # Mail that came while there was no subscription: nobody notified it.
        missed = self.deliver(subject="While unsubscribed")
        self.settle()
        self.run_jobs()
        sub = self.subscription(mailbox)
        self.assertEqual(sub.state, "live")
        self.assertNotEqual(sub.graph_id, old_id)
        self.assertEqual([s.id for s in self.graph_subscriptions()], [sub.graph_id])
        self.assertTrue(self.tickets_of(missed), "caught up by delta")

    def test_a_subscription_graph_lost_silently_is_made_again(self):
        mailbox = self.started_mailbox()
        old_id = self.subscription(mailbox).graph_id
        MailSubscriptions(mailbox.app_id._graph_client()).delete(old_id)
        self.run_jobs()
        self.assertEqual(
            self.subscription(mailbox).graph_id, old_id, "not asked on every run"
        )
        self.subscription(mailbox).checked_at = (
            fields.Datetime.now() - HEALTHY_POLL - timedelta(seconds=5)
        )
        self.run_jobs()
        sub = self.subscription(mailbox)
        self.assertEqual(sub.state, "live")
        self.assertNotEqual(sub.graph_id, old_id)
        self.assertEqual([s.id for s in self.graph_subscriptions()], [sub.graph_id])

    def test_missed_catches_up_with_delta(self):
        mailbox = self.started_mailbox()
        sub = self.subscription(mailbox)
        self.assertFalse(sub.woken_at)
        triggers = self.job_triggers(mailbox)
        self.emu.lifecycle(sub.graph_id, "missed")
        self.settle()
        self.assertTrue(self.subscription(mailbox).woken_at)
        self.assertEqual(self.job_triggers(mailbox), triggers + 1)
        rounds = self.delta_rounds()
        self.run_jobs()
        self.assertEqual(self.delta_rounds(), rounds + 1)

    def test_graph_cannot_validate_clear_message_and_polling_goes_on(self):
        # Port 9 (discard) is closed: Graph cannot reach this address.
        mailbox = self.create_mailbox(notification_address="http://127.0.0.1:9")
        self.run_jobs()
        sub = self.subscription(mailbox)
        self.assertEqual(sub.state, "failed")
        self.assertEqual(self.graph_subscriptions(), [])
        self.assertEqual(mailbox.notification_state, "failed")
        message = mailbox.notification_message
        self.assertIn(
            "Subscription validation request failed", message, "Graph's words"
        )
        self.assertIn("http://127.0.0.1:9/mail_scanner_oauth2/notify/", message)
        self.assertIn("Polling every minute", message)
        # Polling: every run scans the mailbox, and Graph is not asked again yet.
        attempts = self.emu.subscriptions.outbox.count("validation")
        mail = self.deliver(subject="Polled")
        self.run_jobs()
        self.assertTrue(self.tickets_of(mail))
        self.assertEqual(self.emu.subscriptions.outbox.count("validation"), attempts)
        # Retry with a reachable address: live.
        mailbox.notification_address = False
        self.run_jobs()
        self.assertEqual(self.subscription(mailbox).state, "live")

    def test_no_public_https_address_means_polling(self):
        self.env["ir.config_parameter"].sudo().set_param(PARAM_ALLOW_LOCAL, "0")
        self.env["ir.config_parameter"].sudo().set_param(
            "web.base.url", "http://odoo.example.com"
        )
        mailbox = self.create_mailbox()
        self.run_jobs()
        self.assertEqual(mailbox.notification_state, "unavailable")
        self.assertIn("http://odoo.example.com", mailbox.notification_message)
        self.assertIn("web.base.url", mailbox.notification_message)
        self.assertEqual(self.emu.subscriptions.outbox.count("validation"), 0)
        mail = self.deliver(subject="Polled")
        self.run_jobs()
        self.assertTrue(self.tickets_of(mail))

    def test_which_addresses_graph_can_call(self):
        self.assertIsNone(address_problem("https://odoo.example.com"))
        self.assertIsNone(address_problem("https://52.1.2.3:8443/odoo"))
        for url in (
            "",
            "odoo.example.com",
            "http://odoo.example.com",
            "https://localhost:8069",
            "https://127.0.0.1",
            "https://10.1.2.3",
            "https://192.168.0.10",
            "https://odoo.local",
            "https://intranet",
        ):
            self.assertTrue(address_problem(url), url)
        self.assertIsNone(address_problem("http://127.0.0.1:8069", allow_local=True))


@tagged("post_install", "-at_install")
class TestNotificationEndpoint(NotificationCase):
    def test_a_notification_starts_one_sync_that_imports_the_mail(self):
        mailbox = self.started_mailbox()
        triggers, rounds = self.job_triggers(mailbox), self.delta_rounds()
        mail = self.deliver(subject="Printer on fire, fast")
        self.settle()
        (row,) = self.emu.subscriptions.outbox.select("notification")
        self.assertEqual(row.status, 202)
        self.assertEqual(self.job_triggers(mailbox), triggers + 1)
        self.assertTrue(self.subscription(mailbox).woken_at)
        self.run_jobs()
        self.assertEqual(self.delta_rounds(), rounds + 1)
        self.assertEqual(self.tickets_of(mail).name, "Printer on fire, fast")
        self.assertFalse(self.subscription(mailbox).woken_at)
        # Nothing new: the next runs leave the notified mailbox alone...
        self.run_jobs()
        self.assertEqual(self.delta_rounds(), rounds + 1)
        # ...until its safety-net poll is due.
        mailbox.last_sync = fields.Datetime.now() - HEALTHY_POLL - timedelta(seconds=5)
        self.run_jobs()
        self.assertEqual(self.delta_rounds(), rounds + 2)

    def test_a_notification_wakes_only_its_own_mailbox(self):
        mailbox = self.started_mailbox()
        other = self.started_mailbox_of_another_tenant()
        triggers = self.job_triggers(mailbox), self.job_triggers(other)
        self.deliver(subject="Only for the first company")
        self.settle()
        self.assertEqual(
            (self.job_triggers(mailbox), self.job_triggers(other)),
            (triggers[0] + 1, triggers[1]),
        )
        self.assertFalse(self.subscription(other).woken_at)

    def test_sync_now_scans_a_notified_mailbox_at_once(self):
        mailbox = self.started_mailbox()
        rounds = self.delta_rounds()
        self.run_jobs()
        self.assertEqual(self.delta_rounds(), rounds, "quiet: notifications are live")
        mailbox.action_sync_now()
        self.run_jobs()
        self.assertEqual(self.delta_rounds(), rounds + 1)

    def test_burst_of_100_notifications_starts_one_sync(self):
        mailbox = self.started_mailbox()
        triggers, rounds = self.job_triggers(mailbox), self.delta_rounds()
        mails = [
            self.deliver(subject=f"Burst {n}", sender=f"c{n}@customer.example")
            for n in range(100)
        ]
        self.settle()
        delivered = self.emu.subscriptions.outbox.notifications()
        self.assertEqual(len(delivered), 100)
        # And 100 more POSTs at once, one notification each, from 10 threads.
        sub = self.subscription(mailbox)
        bodies = [{"value": [self.notification(sub)]} for _n in range(100)]
        statuses = self.post_concurrently(mailbox, bodies)
        self.assertEqual(statuses, [202] * 100)
        self.assertEqual(self.job_triggers(mailbox), triggers + 1, "one wake, not 200")
        self.run_jobs()
        self.assertEqual(self.delta_rounds(), rounds + 1, "one sync run")
        self.assertEqual(len(self.tickets_of(*mails)), 100)

    def post_concurrently(self, mailbox, bodies, threads=10):
        statuses, lock = [], threading.Lock()
        url = self.notify_url(mailbox)

        def send(chunk):
            with requests.Session() as session:
                for body in chunk:
                    resp = session.post(url, json=body, timeout=30)
                    with lock:
                        statuses.append(resp.status_code)

        workers = [
            threading.Thread(target=send, args=(bodies[n::threads],))
            for n in range(threads)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(timeout=120)
        self.env.invalidate_all()
        return statuses

    def test_forged_client_state_starts_no_sync(self):
        mailbox = self.started_mailbox()
        sub = self.subscription(mailbox)
        triggers = self.job_triggers(mailbox)
        for forged in ("not-the-secret", None, sub.client_state[:-1]):
            resp = self.post(
                mailbox, {"value": [self.notification(sub, clientState=forged)]}
            )
            self.assertEqual(resp.status_code, 202, "the answer reveals nothing")
        self.assertEqual(self.job_triggers(mailbox), triggers)
        self.assertFalse(self.subscription(mailbox).woken_at)
        # A forged lifecycle event changes nothing either.
        forged_removal = self.notification(
            sub, clientState="x", changeType=None, lifecycleEvent="subscriptionRemoved"
        )
        self.post(mailbox, {"value": [forged_removal]}, kind="lifecycle")
        self.assertEqual(self.subscription(mailbox).state, "live")

    def test_unknown_subscription_starts_no_sync(self):
        mailbox = self.started_mailbox()
        sub = self.subscription(mailbox)
        triggers = self.job_triggers(mailbox)
        other_id = str(uuid.uuid4())
        resp = self.post(
            mailbox, {"value": [self.notification(sub, subscriptionId=other_id)]}
        )
        self.assertEqual(resp.status_code, 202)
        # The right secret, sent for a mailbox that does not exist.
        body = {"value": [self.notification(sub)]}
        last = self.env["mail.scanner.mailbox"].search([], order="id desc", limit=1)
        missing = last.id + 1000
        resp = self.url_open(
            f"{self.base_url()}/mail_scanner_oauth2/notify/{missing}",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        self.assertEqual(resp.status_code, 202)
        self.assertEqual(self.job_triggers(mailbox), triggers)
        self.assertFalse(self.subscription(mailbox).woken_at)
        # A stopped mailbox ignores its (still valid) notifications.
        mailbox.state = "draft"
        self.post(mailbox, body)
        self.assertEqual(self.job_triggers(mailbox), triggers)

    def test_oversized_or_malformed_bodies_are_refused(self):
        mailbox = self.started_mailbox()
        sub = self.subscription(mailbox)
        triggers = self.job_triggers(mailbox)
        big = {"value": [self.notification(sub, padding="x" * 1_100_000)]}
        self.assertEqual(self.post(mailbox, big).status_code, 413)
        for junk in (b"not json", b"{}", b'{"value": []}', b'{"value": [{"a": 1}]}'):
            self.assertEqual(self.post(mailbox, junk).status_code, 400, junk)
        self.assertEqual(self.job_triggers(mailbox), triggers)
        self.assertEqual(self.opener.get(self.notify_url(mailbox)).status_code, 405)
