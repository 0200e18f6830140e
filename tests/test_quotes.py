"""Folding of the quoted history of replies (mail_scanner_oauth2/tools/quotes/).

The package is loaded straight from its folder, so the addon's __init__ (which
imports Odoo) never runs. Two sets of samples:

- the reply corpus: real replies and forwards from public fixture sets (crisp-oss
  email-reply-parser and email-forward-parser, mailgun talon; see its SOURCES.md).
  It is third-party data, never in the repository: taken from MSO_REPLY_CORPUS, else
  ../shared/reply-corpus, else the cache, where scripts/test assembles it from
  pinned registry archives (benchmarks/reply_corpus.py). The archives hold no
  email-forward-parser samples, so the tests of those run only with one of the
  first two. A test whose sample is not in the corpus found skips.
- the formats of Outlook (desktop, web, mobile), Gmail and Apple Mail in English,
  Portuguese (Brazil), Spanish, French and German, built here from their templates.

Bodies are given as Odoo's mail gateway stores them: text/plain in a <pre> (Odoo 18's
``append_content_to_html(preserve=True)``), or as ``plaintext2html`` makes them, and
HTML as sent, also with its classes stripped (the gateway's first sanitizing does so).
"""

import html
import os
import re
import sys
import time
from pathlib import Path

import pytest
from addon_loader import load_addon_module
from lxml import html as lxml_html

REPO = Path(__file__).resolve().parent.parent
QUOTES_DIR = REPO / "mail_scanner_oauth2" / "tools" / "quotes"
sys.path.insert(0, str(REPO / "benchmarks"))

import reply_corpus  # noqa: E402

quotes = load_addon_module("mail_scanner_quotes", QUOTES_DIR)


def _corpus_dir():
    for candidate in (
        os.environ.get("MSO_REPLY_CORPUS"),
        REPO.parent / "shared" / "reply-corpus",
        reply_corpus.DEFAULT_DEST,
    ):
        if candidate and (Path(candidate) / "SOURCES.md").is_file():
            return Path(candidate)
    return None


CORPUS = _corpus_dir()
needs_corpus = pytest.mark.skipif(
    CORPUS is None,
    reason="reply corpus not found: set MSO_REPLY_CORPUS, provide "
    "../shared/reply-corpus or run benchmarks/reply_corpus.py "
    "(real samples from public fixture sets)",
)


# ----------------------------------------------------------------- helpers
def gateway_text_body(text):
    """text/plain as Odoo 18's mail gateway stores it (a <pre>)."""
    return "\n<pre>%s</pre>\n" % html.escape(text)


def plaintext2html(text):
    """odoo.tools.plaintext2html, without its link detection."""
    text = re.sub(r"\r\n|\r|\n", "<br/>", html.escape(text))
    return "<p>" + "</p><p>".join(re.split(r"(?:<br/>\s*){2,}", text)) + "</p>"


def strip_classes(source):
    """What the gateway's html_sanitize(strip_classes=True) does to class names."""
    return re.sub(r"""\sclass=("[^"]*"|'[^']*'|[^\s>]+)""", "", source)


def words(source):
    """Every word of the text of an HTML body, in order."""
    source = re.sub(r"^\s*<\?xml[^>]*\?>", "", source)
    return lxml_html.document_fromstring(source).text_content().split()


def flat(text):
    return " ".join(text.split())


def assert_folded(source, shown, folded):
    """Mark source; shown snippets stay in view, folded ones go behind one
    "Read More"; no word is lost; marking again changes nothing."""
    marked = quotes.mark_quoted_history(source)
    view = quotes.ChatterView(marked)
    for snippet in shown:
        assert snippet in flat(view.shown), (snippet, view.shown[:500])
        assert snippet not in flat(view.folded), snippet
    for snippet in folded:
        assert snippet in flat(view.folded), (snippet, view.folded[:500])
        assert snippet not in flat(view.shown), (snippet, view.shown[:500])
    assert view.folds == 1
    assert words(marked) == words(source)
    again = quotes.ChatterView(quotes.mark_quoted_history(marked))
    assert (again.shown, again.folded, again.folds) == (
        view.shown,
        view.folded,
        view.folds,
    )
    return marked


def assert_left_alone(source):
    assert quotes.mark_quoted_history(source) == source


def read_corpus(relative):
    """The sample's text; skips the test when the corpus found lacks it (the
    registry archives do not hold every sample of the fixture sets)."""
    path = CORPUS / relative
    if not path.is_file():
        pytest.skip(f"{relative} is not in the reply corpus at {CORPUS}")
    return path.read_text(encoding="utf-8")


# ------------------------------------------------------------- the corpus
# (file, what stays shown, what is folded)
CORPUS_TEXT_REPLIES = [
    # Portuguese: Gmail/Apple attribution over two lines
    ("email_portuguese", ["Fusce bibendum"], ["escreveu:", "Hi there!"]),
    # German: attribution, Outlook header, Outlook's "Ursprüngliche Nachricht"
    ("email_german", ["Fusce bibendum"], ["schrieb", "Hi there!"]),
    ("email_german_2", ["Fusce bibendum"], ["Gesendet: Donnerstag", "Hi there!"]),
    (
        "email_german_outlook",
        ["Fusce bibendum"],
        ["-----Ursprüngliche Nachricht-----", "This is the original message"],
    ),
    # French: Gmail attribution wrapped, Apple's quoted attribution, Outlook headers
    ("email_fr_multiline", ["Fusce bibendum"], ["a écrit :", "Etiam non sagittis"]),
    ("email_french_2", ["Fusce bibendum"], ["Chris - Crisp", "a écrit :"]),
    (
        "email_french_dash_separator",
        ["Fusce bibendum"],
        ["Message d'origine", "Objet : Abc"],
    ),
    ("email_9", ["Fusce bibendum"], ['De : "Company Questions', "Proin cursus"]),
    ("email_10", ["Fusce bibendum"], ["Envoyé le", "Etiam non sagittis"]),
    (
        "email_customer_quote_header_3",
        ["je n'ai pas eu de retour"],
        ["Someone Somewhere", "ici dans la description"],
    ),
    (
        "email_ios_outlook_fr",
        ["Envoyé à partir de Outlook pour iOS"],
        ["From: The Hiring Engine", "Etiam non sagittis"],
    ),
    # English: Outlook for iOS, Outlook.com, Outlook for Mac, Outlook desktop
    (
        "email_ios_outlook",
        ["Fusce bibendum", "Get Outlook for iOS"],
        ["From: The Hiring Engine", "Chauffeur - Berlin, CT"],
    ),
    ("email_msn", ["Fusce bibendum"], ["Sent: Wednesday", "Thanks for your interest"]),
    ("email_18", ["Fusce bibendum"], ["Date: Thursday, July 7", "Etiam non sagittis"]),
    (
        "email_outlook_split_line_from",
        ["Fusce bibendum"],
        ["From: Human Resources", "Your company is really cool!"],
    ),
    (
        "email_2_1",
        ["Outlook with a reply"],
        ["*From:* Google Apps Sync Team", "Dear Google Apps Sync user"],
    ),
    (
        "email_tricky_15_original_message_variations",
        ["Fusce bibendum"],
        ["-----Original Message-----", "This is the original message content."],
    ),
    (
        "email_original_message",
        ["Fusce bibendum"],
        ["-----original message-----", "revisit the proposal"],
    ),
    (
        "email_original_message_2",
        ["Fusce bibendum"],
        ["----- Original Message -----", "revisit the proposal"],
    ),
    # English: Gmail and Apple attributions, wrapped over two and three lines
    (
        "email_gmail_split_line_from",
        ["Fusce bibendum"],
        ["The Hiring Engine <", "> Test"],
    ),
    (
        "email_reply_header",
        ["This is the latest reply.", "On the other hand, it could happen TWICE!"],
        ["Mister Example", "Hey, Stranger"],
    ),
    (
        "email_thread",
        ["This is new email reply in thread from bellow."],
        ["John Doe <john@doe123.com> wrote:", "Ok. Thanks."],
    ),
    (
        "email_one_is_not_on",
        ["One outstanding question I had", "Locally (on development)"],
        ["Dave Tapley wrote:", "much better query"],
    ),
    (
        "email_tricky_5_mixed_languages",
        ["Fusce bibendum"],
        ["Pierre Dubois", "schrieb Hans Mueller", "Thanks for the info!"],
    ),
    (
        "email_tricky_17_forward_header",
        ["See the forwarded message below."],
        ["Forwarded message", "This is the forwarded content"],
    ),
]
# Texts that only look like reply headers, and a reply written below the quote.
CORPUS_TEXT_NOT_HISTORY = [
    "email_tricky_1_on_false_positive",
    "email_tricky_2_url_with_wrote",
    "email_tricky_4_from_in_body",
    "email_tricky_8_sent_from_in_content",
    "email_tricky_13_timestamp_variations",
    "email_tricky_18_inline_reply",
    "email_5",
    "email_iphone",
]
# Forwarded/quoted parts alone (no new text above): Outlook desktop and new
# Outlook, Outlook.com, Gmail, Apple Mail, Thunderbird, in five languages.
FORWARD_PARSER_SAMPLES = [
    f"{client}_{language}_body"
    for client in ("new_outlook_2019", "gmail", "apple_mail", "thunderbird")
    for language in ("en", "pt_br", "es", "fr", "de")
] + [
    "outlook_2019_en_body",
    "outlook_2019_es_body",
    "outlook_2019_fr_body",
    "outlook_2019_de_body",
    "outlook_2013_en_body",
    "outlook_live_en_body_variant_1",
]
NEW_TEXT_ABOVE = {
    "en": "Please see the history below.",
    "pt_br": "Segue abaixo o histórico.",
    "es": "Adjunto el historial a continuación.",
    "fr": "Voir l'historique ci-dessous.",
    "de": "Siehe den Verlauf unten.",
}
TALON_HTML = [
    "ms_outlook_2003",
    "ms_outlook_2007",
    "ms_outlook_2010",
    "gmail",
    "thunderbird",
    "hotmail",
]
BODY_FORMS = {"pre": gateway_text_body, "plaintext2html": plaintext2html}


@needs_corpus
@pytest.mark.parametrize("form", BODY_FORMS)
@pytest.mark.parametrize(("name", "shown", "folded"), CORPUS_TEXT_REPLIES)
def test_corpus_text_reply_folds_its_history(name, shown, folded, form):
    text = read_corpus(f"crisp-oss-email-reply-parser/{name}.txt")
    assert_folded(BODY_FORMS[form](text), shown, folded)


@needs_corpus
@pytest.mark.parametrize("form", BODY_FORMS)
@pytest.mark.parametrize("name", CORPUS_TEXT_NOT_HISTORY)
def test_corpus_text_without_history_is_left_alone(name, form):
    text = read_corpus(f"crisp-oss-email-reply-parser/{name}.txt")
    assert_left_alone(BODY_FORMS[form](text))


@needs_corpus
@pytest.mark.parametrize("form", BODY_FORMS)
@pytest.mark.parametrize("name", FORWARD_PARSER_SAMPLES)
def test_corpus_history_alone_is_never_folded_whole(name, form):
    text = read_corpus(f"crisp-oss-email-forward-parser/{name}.txt")
    assert_left_alone(BODY_FORMS[form](text))


@needs_corpus
@pytest.mark.parametrize("form", BODY_FORMS)
@pytest.mark.parametrize("name", FORWARD_PARSER_SAMPLES)
def test_corpus_history_below_new_text_is_folded(name, form):
    language = re.search(r"_(en|pt_br|es|fr|de)_body", name).group(1)
    history = read_corpus(f"crisp-oss-email-forward-parser/{name}.txt")
    new_text = NEW_TEXT_ABOVE[language]
    assert_folded(
        BODY_FORMS[form](f"{new_text}\n\n{history}"),
        [new_text],
        ["John Doe", "Aenean quis diam urna."],
    )


@needs_corpus
@pytest.mark.parametrize("classes", ["kept", "stripped"])
@pytest.mark.parametrize("name", TALON_HTML)
def test_corpus_html_reply_folds_its_history(name, classes):
    source = read_corpus(f"mailgun-talon/{name}.html")
    if classes == "stripped":
        source = strip_classes(source)
    assert_folded(source, ["Hi. I am fine."], ["Hello! How are you?"])


# ------------------------------------------------- the clients' own formats
LANGUAGES = ("en", "pt_BR", "es", "fr", "de")
NEW = {
    "en": "The printer works again, thank you.",
    "pt_BR": "A impressora voltou a funcionar, obrigado.",
    "es": "La impresora vuelve a funcionar, gracias.",
    "fr": "L'imprimante fonctionne de nouveau, merci.",
    "de": "Der Drucker funktioniert wieder, danke.",
}
OLD = {
    "en": "The printer on the second floor is on fire.",
    "pt_BR": "A impressora do segundo andar está pegando fogo.",
    "es": "La impresora del segundo piso está en llamas.",
    "fr": "L'imprimante du deuxième étage est en feu.",
    "de": "Der Drucker im zweiten Stock brennt.",
}
# Outlook's reply header: labels, and the date as Outlook writes it.
OUTLOOK_LABELS = {
    "en": ("From", "Sent", "To", "Subject", "Friday, March 7, 2025 10:12 AM"),
    "pt_BR": (
        "De",
        "Enviado",
        "Para",
        "Assunto",
        "sexta-feira, 7 de março de 2025 10:12",
    ),
    "es": ("De", "Enviado el", "Para", "Asunto", "viernes, 7 de marzo de 2025 10:12"),
    "fr": ("De", "Envoyé", "À", "Objet", "vendredi 7 mars 2025 10:12"),
    "de": ("Von", "Gesendet", "An", "Betreff", "Freitag, 7. März 2025 10:12"),
}
GMAIL_ATTRIBUTION = {
    "en": "On Fri, Mar 7, 2025 at 10:12 AM Ana Souza <ana@customer.example> wrote:",
    "pt_BR": "Em sex., 7 de mar. de 2025 às 10:12, Ana Souza "
    "<ana@customer.example> escreveu:",
    "es": "El vie, 7 mar 2025 a las 10:12, Ana Souza (<ana@customer.example>) "
    "escribió:",
    "fr": "Le ven. 7 mars 2025 à 10:12, Ana Souza <ana@customer.example> a écrit :",
    "de": "Am Fr., 7. März 2025 um 10:12 Uhr schrieb Ana Souza <ana@customer.example>:",
}
APPLE_ATTRIBUTION = {
    "en": "On 7 Mar 2025, at 10:12, Ana Souza <ana@customer.example> wrote:",
    "pt_BR": "Em 7 de mar. de 2025, à(s) 10:12, Ana Souza <ana@customer.example> "
    "escreveu:",
    "es": "El 7 mar 2025, a las 10:12, Ana Souza <ana@customer.example> escribió:",
    "fr": "Le 7 mars 2025 à 10:12, Ana Souza <ana@customer.example> a écrit :",
    "de": "Am 07.03.2025 um 10:12 schrieb Ana Souza <ana@customer.example>:",
}
ORIGINAL_MESSAGE = {
    "en": "-----Original Message-----",
    "pt_BR": "-----Mensagem original-----",
    "es": "-----Mensaje original-----",
    "fr": "-----Message d'origine-----",
    "de": "-----Ursprüngliche Nachricht-----",
}


def header_lines(language):
    from_, sent, to, subject, date = OUTLOOK_LABELS[language]
    return [
        f"{from_}: Ana Souza <ana@customer.example>",
        f"{sent}: {date}",
        f"{to}: Suporte <support@contoso.example>",
        f"{subject}: Impressora",
    ]


def outlook_text(language):
    """Outlook (desktop, web, mobile) plain text: a rule, then the header."""
    return "\n".join(
        [
            NEW[language],
            "",
            "Get Outlook for Android",
            "________________________________",
            *header_lines(language),
            "",
            OLD[language],
        ]
    )


def outlook_original_message_text(language):
    """Older Outlook: "-----Original Message-----" right under the signature."""
    return "\n".join(
        [
            NEW[language],
            "Carlos",
            ORIGINAL_MESSAGE[language],
            *header_lines(language),
            "",
            OLD[language],
        ]
    )


def gmail_text(language):
    quoted = "> " + OLD[language]
    return f"{NEW[language]}\n\n{GMAIL_ATTRIBUTION[language]}\n\n{quoted}\n"


def apple_text(language):
    return f"{NEW[language]}\n\n> {APPLE_ATTRIBUTION[language]}\n> \n> {OLD[language]}"


def _bold_header(language):
    return "<br>\n".join(
        re.sub(r"^([^:]+):", r"<b>\1:</b>", html.escape(line))
        for line in header_lines(language)
    )


def outlook_desktop_html(language):
    return f"""<html><head><style>p.MsoNormal {{margin:0cm}}</style></head>
<body lang=PT-BR><div class=WordSection1>
<p class=MsoNormal><span style='font-size:11.0pt'>{NEW[language]}<o:p></o:p></span></p>
<p class=MsoNormal><o:p>&nbsp;</o:p></p>
<div><div style='border:none;border-top:solid #E1E1E1 1.0pt;padding:3.0pt 0cm 0cm 0cm'>
<p class=MsoNormal>{_bold_header(language)}<o:p></o:p></p></div></div>
<p class=MsoNormal><o:p>&nbsp;</o:p></p>
<p class=MsoNormal>{OLD[language]}<o:p></o:p></p>
</div></body></html>"""


def outlook_web_html(language):
    return f"""<div dir="ltr">{NEW[language]}</div>
<div id="appendonsend"></div>
<hr style="display:inline-block;width:98%" tabindex="-1">
<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" color="#000000"
style="font-size:11pt">{_bold_header(language)}</font><div>&nbsp;</div></div>
<div><div dir="ltr">{OLD[language]}</div></div>"""


def outlook_mobile_html(language):
    return f"""<html><body><div dir="auto">{NEW[language]}</div><div dir="auto"><br>
</div><div class="ms-outlook-mobile-signature">Get Outlook for Android</div>
<hr style="display:inline-block;width:98%" tabindex="-1">
<div id="divRplyFwdMsg" dir="ltr"><font face="Calibri, sans-serif" color="#000000"
style="font-size:11pt">{_bold_header(language)}</font><div>&nbsp;</div></div>
<div dir="ltr">{OLD[language]}</div></body></html>"""


def gmail_html(language):
    attribution = html.escape(GMAIL_ATTRIBUTION[language])
    return f"""<div dir="ltr">{NEW[language]}</div><br><div class="gmail_quote
gmail_quote_container"><div dir="ltr" class="gmail_attr">{attribution}<br></div>
<blockquote class="gmail_quote" style="margin:0px 0px 0px 0.8ex;border-left:1px solid
rgb(204,204,204);padding-left:1ex"><div dir="ltr">{OLD[language]}</div></blockquote>
</div>"""


def apple_html(language):
    attribution = html.escape(APPLE_ATTRIBUTION[language])
    return f"""<html><head><meta http-equiv="content-type" content="text/html;
charset=utf-8"></head><body dir="auto"><div dir="ltr">{NEW[language]}</div><div
dir="ltr"><br><blockquote type="cite">{attribution}<br><br></blockquote></div>
<blockquote type="cite"><div dir="ltr">{OLD[language]}</div></blockquote>
</body></html>"""


TEXT_FORMATS = {
    "outlook": outlook_text,
    "outlook-original-message": outlook_original_message_text,
    "gmail": gmail_text,
    "apple-mail": apple_text,
}
HTML_FORMATS = {
    "outlook-desktop": outlook_desktop_html,
    "outlook-web": outlook_web_html,
    "outlook-mobile": outlook_mobile_html,
    "gmail": gmail_html,
    "apple-mail": apple_html,
}


@pytest.mark.parametrize("form", BODY_FORMS)
@pytest.mark.parametrize("client", TEXT_FORMATS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_text_reply_folds_its_history(language, client, form):
    body = BODY_FORMS[form](TEXT_FORMATS[client](language))
    assert_folded(body, [NEW[language]], [OLD[language], "Ana Souza"])


@pytest.mark.parametrize("classes", ["kept", "stripped"])
@pytest.mark.parametrize("client", HTML_FORMATS)
@pytest.mark.parametrize("language", LANGUAGES)
def test_html_reply_folds_its_history(language, client, classes):
    source = HTML_FORMATS[client](language)
    if classes == "stripped":
        source = strip_classes(source)
    assert_folded(source, [NEW[language]], [OLD[language], "Ana Souza"])


def test_signature_and_rule_above_the_header():
    marked = quotes.mark_quoted_history(gateway_text_body(outlook_text("pt_BR")))
    view = quotes.ChatterView(marked)
    assert "Get Outlook for Android" in view.shown
    assert view.folded.lstrip().startswith("________________________________")


def test_the_rule_of_outlook_web_goes_with_the_history():
    marked = quotes.mark_quoted_history(outlook_web_html("en"))
    tree = lxml_html.fragment_fromstring(marked, create_parent="div")
    assert tree.find("hr").get(quotes.QUOTE_ATTR) == "1"
    assert len(tree.xpath("//*[@id='divRplyFwdMsg']")) == 1


def test_a_header_in_the_middle_of_a_paragraph_is_split_out():
    # plaintext2html keeps single line breaks in one <p>: the history is split out
    # of it so that the chatter folds it as one block.
    body = plaintext2html(outlook_original_message_text("de"))
    marked = assert_folded(body, [NEW["de"], "Carlos"], [ORIGINAL_MESSAGE["de"]])
    tree = lxml_html.fragment_fromstring(marked, create_parent="div")
    assert [child.get(quotes.QUOTE_ATTR) for child in tree] == [None, "1", "1"]


@pytest.mark.parametrize("language", LANGUAGES)
def test_history_at_the_very_top_is_left_alone(language):
    text = "\n".join(["________________________________", *header_lines(language)])
    assert_left_alone(gateway_text_body(f"{text}\n\n{OLD[language]}"))
    attribution = GMAIL_ATTRIBUTION[language]
    assert_left_alone(gateway_text_body(f"{attribution}\n> {OLD[language]}\n\nOk."))


@pytest.mark.parametrize(
    "text",
    [
        # two header-like lines are not a reply header
        "Bom dia,\n\nDe: João\nPara: Maria\n\nA impressora parou.",
        # an "On ... wrote:" line without a date is a sentence
        "Hello,\n\nOn Monday my colleague wrote:\nthe printer is broken.",
        # a rule alone is a signature separator
        "Danke\n\n________________________________\nMax Mustermann\nVertrieb",
        "Nothing quoted here at all.",
    ],
)
def test_text_without_history_is_left_alone(text):
    assert_left_alone(gateway_text_body(text))
    assert_left_alone(plaintext2html(text))


# ------------------------------------------------------------ robustness
@pytest.mark.parametrize(
    "source",
    ["", "   ", "<!-- only a comment -->", "\x00\x01 binary", None],
)
def test_empty_or_unparsable_is_left_alone(source):
    assert quotes.mark_quoted_history(source) == source


def test_malformed_html_still_loses_nothing():
    source = (
        "<div><p>Obrigado!<div><b>De:</b> Ana<br><b>Enviado:</b> sexta-feira<br>"
        "<b>Para:</b> Suporte<br><b>Assunto:</b> Boleto</td></span><p>Histórico "
        "<i>antigo<table><tr><td>célula</div></div></p>depois"
    )
    assert_folded(source, ["Obrigado!"], ["Histórico", "célula", "depois"])


def test_what_the_parser_puts_after_the_body_is_folded_too():
    source = outlook_desktop_html("pt_BR").replace(
        "</body></html>", "</body><p>Mais um parágrafo</p></html>"
    )
    assert_folded(source, [NEW["pt_BR"]], [OLD["pt_BR"], "Mais um parágrafo"])


def test_style_before_the_body_is_kept():
    # Odoo's first sanitizing of Outlook's HTML keeps its <style> but not <head>.
    source = (
        outlook_desktop_html("fr")
        .replace("<html><head>", "")
        .replace("</head>\n<body lang=PT-BR>", "")
    )
    assert source.startswith("<style>")
    marked = assert_folded(source, [NEW["fr"]], [OLD["fr"]])
    assert "p.MsoNormal {margin:0cm}" in marked


def test_a_block_odoo_already_folds_stays_one_fold():
    # Gmail's quote as Odoo's first sanitizing leaves it: classes gone, the block
    # around the attribution already marked.
    source = (
        '<div><div dir="ltr">Hi. I am fine.</div><div data-o-mail-quote="1">'
        '<br data-o-mail-quote="1"><div data-o-mail-quote="1">On Thu, Jun 26, 2014 '
        "at 2:14 PM, Alexander L &lt;a@example.com&gt; wrote:<br>"
        '<blockquote data-o-mail-quote="1" data-o-mail-quote-node="1">Hello! How '
        "are you?</blockquote></div></div></div>"
    )
    assert_folded(source, ["Hi. I am fine."], ["wrote:", "Hello! How are you?"])


def test_a_header_inside_a_quote_odoo_already_folds_stays_one_fold():
    source = (
        "<div><p>Answer below the line.</p>"
        '<blockquote data-o-mail-quote="1" data-o-mail-quote-node="1">'
        "<p>Earlier answer.</p><p><b>From:</b> Ana<br><b>Sent:</b> Friday<br>"
        "<b>To:</b> Support<br><b>Subject:</b> Printer</p><p>Older text.</p>"
        "</blockquote><p>After the quote.</p></div>"
    )
    marked = assert_folded(
        source,
        ["Answer below the line."],
        ["Earlier answer.", "Older text.", "After the quote."],
    )
    assert marked.count("<blockquote") == 1  # folded whole, not split


def test_what_odoo_folds_right_above_the_history_joins_its_fold():
    # Odoo folds Outlook's signature block (id="Signature"): with the history right
    # under it, both are one "Read More".
    source = (
        '<div id="mail_body"><p>New text.</p><div id="Signature" data-o-mail-quote="1">'
        "John, Contoso</div><div style='border:none;border-top:solid #E1E1E1 1.0pt'>"
        "<p><b>From:</b> Ana<br><b>Sent:</b> Friday<br><b>To:</b> Support<br>"
        "<b>Subject:</b> Printer</p></div><p>Older text.</p></div>"
    )
    marked = assert_folded(source, ["New text."], ["John, Contoso", "Older text."])
    assert marked.count('id="mail_body"') == 1  # split in two, its id kept once


def test_xml_declaration_is_accepted():
    source = '<?xml version="1.0" encoding="UTF-8"?>\n' + outlook_web_html("fr")
    assert_folded(source, [NEW["fr"]], [OLD["fr"]])


def test_nesting_deeper_than_the_parser_keeps_is_left_alone():
    # libxml2 silently drops what is nested deeper than 255 levels: writing that
    # tree back would lose text, so the body stays as it came.
    deep = "<div>" * 300 + "deep text" + "</div>" * 300
    source = plaintext2html(outlook_text("es")) + deep + "<p>after</p>"
    assert_left_alone(source)


def test_two_megabytes_are_marked_quickly():
    paragraph = "<p>Lorem ipsum <b>dolor</b> sit amet, consectetur adipiscing.</p>\n"
    history = paragraph * (2_000_000 // len(paragraph))
    source = outlook_web_html("pt_BR").replace(OLD["pt_BR"], OLD["pt_BR"] + history)
    started = time.perf_counter()
    marked = quotes.mark_quoted_history(source)
    elapsed = time.perf_counter() - started
    assert quotes.ChatterView(marked).folds == 1
    assert elapsed < 5, elapsed
    text = "Hello\n" + "On a line that never ends with the verb, 2025\n" * 45000
    started = time.perf_counter()
    assert_left_alone(gateway_text_body(text))
    assert time.perf_counter() - started < 5


# ------------------------------------------------- what the chatter shows
def test_chatter_view_folds_marked_runs_like_the_web_client():
    view = quotes.ChatterView(
        '<p>kept<span data-o-mail-quote="1">a</span><br>'
        '<span data-o-mail-quote="1">b</span></p>'
        '<div data-o-mail-quote="1">c</div> <div data-o-mail-quote="1">d</div>'
        "<p>shown again</p>"
        '<blockquote data-o-mail-quote="1">e</blockquote>'
    )
    # "a", "<br>b" (a <br> after a marked sibling folds too), "c d" across blank
    # text, then "e" after a shown paragraph: three "Read More".
    assert view.folds == 3
    assert flat(view.shown) == "kept shown again"
    assert flat(view.folded) == "a b c d e"
