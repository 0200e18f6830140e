# Copyright 2026 mail_scanner_oauth2 developers
# License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl).
"""The people of a mail as Odoo contacts: matched or created (ahead, for a batch of
mails at once, where that is sure to be wanted), and To people following a new ticket.

ImporterContacts is a part of MailImporter (sync/gateway.py), which provides
``env``, ``lookups``, ``own_addresses``, ``_prepared`` and ``_reaches_gateway``.
"""

import logging
from collections import Counter

from odoo import tools

from odoo.addons.base.models.res_partner import Partner as BasePartner

_logger = logging.getLogger(__name__)


class ImporterContacts:
    """MailImporter's handling of the mail's people (see the module docstring)."""

    def _holders(self, facts):
        """Normalised addresses that have this mail already: its sender, its To and
        Cc people, and the scanned mailbox."""
        addresses = [facts.sender, *facts.recipients, *self.own_addresses]
        return frozenset(
            filter(None, (tools.email_normalize(a or "") for a in addresses))
        )

    def _recipients(self, facts):
        """To and Cc people as (name, address), the scanned mailbox left out."""
        people = []
        for name in ("To", "Cc"):
            for person, address in tools.mail.email_split_tuples(facts.header(name)):
                if address and address.lower() not in self.own_addresses:
                    people.append((person, address))
        return people

    def _people(self, facts):
        """{normalised address: "Name <address>"} of the customer and the To/Cc
        people, the first spelling of each address."""
        return facts.memo("people", self._read_people)

    def _read_people(self, facts):
        people = []
        sender = tools.mail.email_split_tuples(facts.header("From"))
        if sender and sender[0][1].lower() not in self.own_addresses:
            people.append(sender[0])
        people += self._recipients(facts)
        contacts = {}
        for person in people:
            contact = tools.formataddr(person)
            contacts.setdefault(tools.email_normalize(contact, strict=False), contact)
        contacts.pop(False, None)
        return contacts

    def _ensure_partners(self, facts):
        """The customer and the To/Cc people are matched or created, each with the
        display name of the mail; an existing contact is never renamed. Addresses
        already known to be contacts in this run are not looked up again."""
        contacts = self._people(facts)
        known = self.lookups.known_contacts(set(contacts))
        unknown = [c for address, c in contacts.items() if address not in known]
        if unknown:
            partners = self.env["mail.thread"]._mail_find_partner_from_emails(
                unknown, force_create=True
            )
            self.lookups.contacts_created(partners)

    def _contacts_ahead(self, current):
        """The contacts of this mail and of the mails downloaded after it, found
        and created together: a few queries for a batch of mails instead of a few
        for each. Only for mails whose import will reach the gateway whatever
        comes before them (not a known Message-ID, no protection, no sender near
        the loop limit, no rule that ignores it as a new mail or as a reply), as
        their contacts would be created anyway; the others are left to
        _ensure_partners when their turn comes."""
        if current.contacts_seen:
            return  # done with the batch it came in
        people = {}
        waiting = [current, *self._prepared.values()]
        senders = Counter(p.facts.sender for p in waiting)
        for prepared in waiting:
            if prepared.contacts_seen:
                continue
            prepared.contacts_seen = True
            if self._reaches_gateway(prepared.facts, senders):
                for address, contact in self._people(prepared.facts).items():
                    people.setdefault(address, contact)
        unknown = set(people) - self.lookups.known_contacts(set(people))
        if not unknown:
            return
        mark = self.lookups.mark()
        try:
            with self.env.cr.savepoint():
                self._find_or_create_contacts(people, unknown)
        except Exception:  # pylint: disable=broad-except
            # A saving, not a step: each mail still finds or creates its contacts
            # in its own import, where a failure is recorded on its row.
            self.lookups.forget_since(mark)
            _logger.info("Mail Scanner: contacts ahead not created", exc_info=True)

    def _find_or_create_contacts(self, people, unknown):
        Thread = self.env["mail.thread"]
        found = Thread._mail_find_partner_from_emails([people[a] for a in unknown])
        self.lookups.contacts_are(found)
        missing = unknown - self.lookups.known_contacts(unknown)
        aliases = (
            self.env["mail.alias"]
            .sudo()
            .search([("alias_full_name", "in", list(missing))])
        )
        missing -= set(aliases.mapped("alias_full_name"))
        contacts = [c for a, c in people.items() if a in missing]
        created = create_contacts(self.env["res.partner"], contacts)
        self.lookups.contacts_created(created)

    def _subscribe_recipients(self, ticket, facts):
        """To people follow the new ticket, so answers reach them (helpdesk_mgmt's
        message_new subscribes the Cc people)."""
        emails = [tools.formataddr(person) for person in self._recipients(facts)]
        if not emails:
            return
        partners = self.env["mail.thread"]._mail_find_partner_from_emails(
            emails, records=ticket, force_create=False
        )
        # Those already following (the Cc people) need no second subscription.
        new = [p.id for p in partners if p and p not in ticket.message_partner_ids]
        if new:
            ticket.message_subscribe(new)


def create_contacts(Partner, contacts):
    """Partners for "Name <address>" strings, as _mail_find_partner_from_emails
    (force_create=True) makes them with name_create, in one create when
    name_create is Odoo's own (no module changed how it makes a contact)."""
    if type(Partner).name_create is not BasePartner.name_create:
        return Partner.browse([Partner.name_create(c)[0] for c in contacts])
    vals_list = []
    for contact in contacts:
        name, email = tools.parse_contact_from_email(contact)
        values = {Partner._rec_name: name or email}
        if email:
            values["email"] = email
        vals_list.append(values)
    return Partner.create(vals_list)
