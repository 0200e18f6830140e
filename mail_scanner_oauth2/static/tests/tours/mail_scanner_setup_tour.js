/* Copyright 2026 mail_scanner_oauth2 developers
 * License AGPL-3.0 or later (https://www.gnu.org/licenses/agpl). */
/**
 * The specification's path, as an administrator walks it in the browser, in English
 * and in Brazilian Portuguese (tests/test_tour.py runs them against the Graph
 * emulator): Settings > Other Settings > Mail Scanner > Create mailbox now >
 * Microsoft corporate account > Edit App > IDs and secret > Test connection >
 * mailbox address > Save; then the ticket a mail became, in the Helpdesk kanban.
 *
 * A step made by `screenshot(name)` asks the Python side of the test for a picture
 * of the page (tests/test_tour.py) and waits until it is taken.
 */
import {registry} from "@web/core/registry";
import {stepUtils} from "@web_tour/tour_service/tour_utils";

// Must match TOUR_RUNS in tests/test_tour.py (the emulator's tenant and app).
const RUNS = {
    en: {
        tenant: "5b7e4c1a-0d2f-4e8b-9a61-3c5d7e9f0e01",
        client: "8c2d6f3b-1e4a-4b7c-8d90-2a4b6c8d0e01",
        secret: "tour~en~Value~5Kq8",
        address: "support@contoso.example",
        success: "Microsoft external API configured successfully",
        subject: "The label printer prints blank labels",
    },
    pt_BR: {
        tenant: "5b7e4c1a-0d2f-4e8b-9a61-3c5d7e9f0e02",
        client: "8c2d6f3b-1e4a-4b7c-8d90-2a4b6c8d0e02",
        secret: "tour~pt~Valor~7Rw2",
        address: "suporte@contoso.example",
        success: "API Externa Microsoft Configurada com Sucesso",
        subject: "Impressora de etiquetas imprime em branco",
    },
};

function delay(ms) {
    return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A step that waits for `trigger`, brings it into view and has the page
 * photographed as `<lang>-<name>.png`.
 */
function screenshot(lang, name, trigger, block = "center") {
    return {
        content: `Screenshot ${name}`,
        trigger,
        async run() {
            this.anchor.scrollIntoView({block});
            // Let the last rendering (and the field's focus ring) settle.
            await delay(400);
            const shot = `${lang}-${name}`;
            console.log(`mso-screenshot:${shot}`);
            const until = Date.now() + 15000;
            while (!(window.msoScreenshots || []).includes(shot)) {
                if (Date.now() > until) {
                    throw new Error(`screenshot ${shot} was not taken`);
                }
                await delay(50);
            }
        },
    };
}

function setupSteps(lang) {
    const run = RUNS[lang];
    const createButton = "button[name='action_mail_scanner_create_mailbox']";
    const modal = ".modal:not(.o_inactive_modal)";
    return [
        ...stepUtils.goToAppSteps("base.menu_administration", "Open the Settings"),
        screenshot(lang, "01-settings", createButton),
        {
            content: "Other Settings > Mail Scanner > Create mailbox now",
            trigger: createButton,
            run: "click",
        },
        screenshot(
            lang,
            "02-new-mailbox",
            ".o_form_view .o_field_widget[name='account_kind'] input[data-value='microsoft']"
        ),
        {
            content: "Microsoft - corporate account",
            trigger:
                ".o_form_view .o_field_widget[name='account_kind'] input[data-value='microsoft']",
            run: "click",
        },
        {
            content: "Edit App",
            trigger: ".o_form_view button[name='action_open_app']",
            run: "click",
        },
        {
            content: "Application (client) ID",
            trigger: `${modal} .o_field_widget[name='client_id'] input`,
            run: `edit ${run.client}`,
        },
        {
            content: "Directory (tenant) ID",
            trigger: `${modal} .o_field_widget[name='tenant_id'] input`,
            run: `edit ${run.tenant}`,
        },
        {
            content: "Client secret value",
            trigger: `${modal} .o_field_widget[name='client_secret'] input`,
            run: `edit ${run.secret}`,
        },
        {
            content: "The dialog is titled for what it edits",
            trigger: `${modal} .modal-title:not(:contains(Odoo))`,
        },
        screenshot(lang, "03-app-ids-and-secret", `${modal} button[name='action_test_connection']`),
        {
            content: "Test connection",
            trigger: `${modal} button[name='action_test_connection']`,
            run: "click",
        },
        screenshot(lang, "04-test-connection", `.o_notification:contains(${run.success})`),
        {
            content: "The mailbox now has its app",
            trigger: ".o_form_view .o_field_widget[name='app_id'] input:value(/.+/)",
        },
        {
            content: "Mailbox address",
            trigger: ".o_form_view .o_field_widget[name='address'] input",
            run: `edit ${run.address}`,
        },
        screenshot(lang, "05-mailbox-address", ".o_form_view .o_field_widget[name='address'] input"),
        {
            content: "Save: the access is checked and scanning starts",
            trigger: ".o_form_view .o_form_button_save",
            run: "click",
        },
        {
            content: "The mailbox is running",
            trigger:
                ".o_form_view .o_form_saved .o_statusbar_status .o_arrow_button_current[data-value='running']",
        },
        {
            content: "Close the notification of the test, if still shown",
            trigger: ".o_form_view .o_form_saved .o_statusbar_status",
            run() {
                for (const button of document.querySelectorAll(".o_notification_close")) {
                    button.click();
                }
            },
        },
        {
            content: "No notification left",
            trigger: "body:not(:has(.o_notification))",
        },
        screenshot(
            lang,
            "06-mailbox-running",
            ".o_form_view .o_form_saved .o_statusbar_status",
            "start"
        ),
        {
            content: "Edit App again",
            trigger: ".o_form_view button[name='action_open_app']",
            run: "click",
        },
        {
            content: "The form says a secret is stored, and never shows it",
            trigger: `${modal} div[name='secret_stored']:visible`,
            run() {
                const input = document.querySelector(
                    `${modal} .o_field_widget[name='client_secret'] input`
                );
                if (!input || input.value !== "") {
                    throw new Error("the stored secret reached the form");
                }
                if (document.body.innerHTML.includes(run.secret)) {
                    throw new Error("the stored secret is in the page");
                }
            },
        },
        screenshot(lang, "07-app-secret-stored", `${modal} div[name='secret_stored']`),
        {
            content: "Close the dialog",
            trigger: `${modal} .modal-header .btn-close`,
            run: "click",
        },
        {
            content: "Back on the mailbox",
            trigger: "body:not(:has(.modal)) .o_form_view .o_form_saved",
        },
    ];
}

// Helpdesk > Tickets > All Tickets (a list of helpdesk_mgmt's tickets).
function allTicketsSteps() {
    return [
        ...stepUtils.goToAppSteps("helpdesk_mgmt.helpdesk_ticket_main_menu", "Open Helpdesk"),
        {
            content: "Tickets",
            trigger: "[data-menu-xmlid='helpdesk_mgmt.helpdesk_ticket_menu']",
            run: "click",
        },
        {
            content: "All Tickets",
            trigger: ".dropdown-item[data-menu-xmlid='helpdesk_mgmt.helpdesk_all_ticket_menu']",
            run: "click",
        },
    ];
}

function ticketSteps(lang) {
    const run = RUNS[lang];
    const card = `.o_kanban_record:contains(${run.subject})`;
    return [
        ...allTicketsSteps(),
        {
            // The helpdesk dashboard (a kanban of teams) has a switch-view button
            // too: wait until the tickets' list has replaced it, or a slow machine
            // clicks the dashboard's button instead.
            content: "The tickets' list, with the ticket the mail became",
            trigger: `.o_list_view .o_data_row:contains(${run.subject})`,
        },
        {
            content: "As a kanban",
            trigger: ".o_action_manager:has(.o_list_view) .o_switch_view.o_kanban",
            run: "click",
        },
        screenshot(lang, "08-helpdesk-kanban", card),
        {
            content: "Open the ticket the mail became",
            trigger: card,
            run: "click",
        },
        {
            content: "The mail is in the chatter",
            trigger: `.o_form_view .o-mail-Message:contains(${run.subject})`,
        },
        screenshot(lang, "09-ticket", ".o_form_view .o_form_sheet", "start"),
        ...stepUtils.goToAppSteps("base.menu_administration", "Open the Settings"),
        {
            content: "Mail Scanner",
            trigger: "[data-menu-xmlid='mail_scanner_oauth2.mail_scanner_menu_root']",
            run: "click",
        },
        {
            content: "Scanned Mail Log",
            trigger: ".dropdown-item[data-menu-xmlid='mail_scanner_oauth2.mail_scanner_message_menu']",
            run: "click",
        },
        {
            content: "Every row of the log is one line high, whatever its reason",
            trigger: `.o_list_view .o_data_row:contains(${run.subject}) .o_data_cell[name='reason']:contains(Message-ID)`,
            run() {
                const rows = [...document.querySelectorAll(".o_list_view .o_data_row")];
                const heights = rows.map((row) => row.getBoundingClientRect().height);
                if (rows.length < 3 || Math.max(...heights) > 1.5 * Math.min(...heights)) {
                    throw new Error(`log rows of unequal heights: ${heights}`);
                }
            },
        },
        screenshot(lang, "10-scanned-mail-log", ".o_list_view .o_data_row"),
    ];
}

/**
 * A supervisor on the running mailbox (made by the test): creates the ticket field
 * a value goes to, tries the rules on a pasted mail, and finds the field on the
 * ticket form.
 */
function supervisorSteps() {
    const modal = ".modal:not(.o_inactive_modal)";
    const mail =
        "From: Ana Souza <ana.souza@customer.example>\n" +
        "Subject: Boleto vencido\n\n" +
        "Good morning,\nOrder number: PO-4471\nthe invoice is overdue.\n";
    return [
        {
            content: "The mailbox",
            trigger: ".o_list_view .o_data_row:contains(support@contoso.example) .o_data_cell",
            run: "click",
        },
        {
            content: "Complementary fields",
            trigger: ".o_form_view .o_notebook .nav-link[name='extractions']",
            run: "click",
        },
        {
            content: "Create a ticket field",
            trigger: ".o_form_view button:contains(Create a ticket field)",
            run: "click",
        },
        {
            content: "Its label",
            trigger: `${modal} .o_field_widget[name='label'] input`,
            run: "edit Order number",
        },
        screenshot("supervisor-en", "01-create-ticket-field", `${modal} button[name='action_create']`),
        {
            content: "Create field",
            trigger: `${modal} button[name='action_create']`,
            run: "click",
        },
        {
            content: "It is read from 'Order number:' lines of new mail",
            trigger:
                "body:not(:has(.modal)) .o_field_widget[name='extraction_ids'] .o_data_row:contains(Order number)",
        },
        screenshot(
            "supervisor-en",
            "02-complementary-fields",
            ".o_field_widget[name='extraction_ids'] .o_data_row"
        ),
        {
            content: "Rules",
            trigger: ".o_form_view .o_notebook .nav-link[name='rules']",
            run: "click",
        },
        {
            content: "Try the rules on a mail",
            trigger: ".o_form_view button:contains(Try the rules on a mail)",
            run: "click",
        },
        {
            content: "Paste a mail",
            trigger: `${modal} .o_field_widget[name='raw_mail'] textarea`,
            async run(helpers) {
                await helpers.edit(mail);
            },
        },
        {
            content: "Try it",
            trigger: `${modal} button[name='action_try']`,
            run: "click",
        },
        {
            content: "The rule, its team and the value, by their labels",
            trigger: `${modal} .o_field_widget[name='result']:contains(Billing rule: matches):contains(Billing):contains(PO-4471):contains(Order number)`,
        },
        screenshot("supervisor-en", "03-try-the-rules", `${modal} .o_field_widget[name='result']`),
        {
            content: "Close",
            trigger: `${modal} .modal-header .btn-close`,
            run: "click",
        },
        {
            content: "Back on the mailbox",
            trigger: "body:not(:has(.modal)) .o_form_view .o_form_saved",
        },
    ];
}

/** Then a customer's mail with an order number is a ticket (made by the test). */
function supervisorTicketSteps() {
    return [
        ...allTicketsSteps(),
        {
            content: "The ticket of the mail",
            trigger: ".o_list_view .o_data_row:contains(Boleto vencido) .o_data_cell",
            run: "click",
        },
        {
            content: "Its Complementary fields page",
            trigger: ".o_form_view .o_notebook .nav-link[name='mail_scanner_complementary_fields']",
            run: "click",
        },
        {
            content: "The order number read from the mail",
            trigger: ".o_form_view .o_field_widget[name='x_order_number'] input:value(PO-4471)",
        },
        screenshot(
            "supervisor-en",
            "04-ticket-complementary-fields",
            ".o_form_view .o_field_widget[name='x_order_number']"
        ),
    ];
}

registry.category("web_tour.tours").add("mail_scanner_supervisor_en", {
    url: "/odoo/action-mail_scanner_oauth2.mail_scanner_mailbox_action",
    steps: supervisorSteps,
});
registry.category("web_tour.tours").add("mail_scanner_supervisor_ticket_en", {
    url: "/odoo",
    steps: supervisorTicketSteps,
});

for (const lang of Object.keys(RUNS)) {
    registry.category("web_tour.tours").add(`mail_scanner_setup_${lang}`, {
        url: "/odoo",
        steps: () => setupSteps(lang),
    });
    registry.category("web_tour.tours").add(`mail_scanner_ticket_${lang}`, {
        url: "/odoo",
        steps: () => ticketSteps(lang),
    });
}
