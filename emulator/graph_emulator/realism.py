"""How tidy or how real the emulator is: one switch, plus one attribute per behaviour.

Microsoft documents what Graph does; the real service is untidier than its
documentation in ways that break clients written against the documentation only.
``Emulator(realism="realistic")`` (the default) turns every such behaviour on;
``Emulator(realism="tidy")`` turns them off, for tests that count pages or requests or
compare downloaded bytes with what was delivered. Each behaviour is an attribute of the
Emulator and can be changed at any time (``emu.redeliver_rate = 0``), or for a block::

    with emu.temporarily("tidy", redeliver_rate=1.0):
        ...

The knobs (realistic value / tidy value):

``mime_style`` ("exchange" / "original")
    What ``GET .../messages/{id}/$value`` returns. Exchange Online does not keep the
    MIME it received: it stores the message as properties and writes new MIME on every
    download (graph_emulator.exchange_mime): headers re-ordered and re-folded, Date in
    UTC, X-MS-Exchange-* / X-MS-Has-Attach / X-MS-TNEF-Correlator / Thread-Topic /
    Thread-Index / Content-Language added, bodies re-encoded (base64 or
    quoted-printable, CRLF line ends), new boundaries, attachments re-described.
    Values survive (addresses, subject, Message-ID, In-Reply-To, References, the date's
    instant, attachment bytes); bytes do not. "original" returns the delivered bytes.
``redeliver_rate`` (0.2 / 0.0), ``redeliver_seed`` (0)
    Probability that a change is handed out again: later in the same round (on a later
    page) and in the next round. Graph documents that "the same change may be delivered
    more than once".
``delta_empty_pages`` (1 / 0), ``delta_empty_page_rate`` (0.5 / 1.0)
    Empty pages (with an @odata.nextLink) at the start of a round: the first round of a
    sync always gets ``delta_empty_pages`` of them, a later round with probability
    ``delta_empty_page_rate``.
``delta_token_max_rounds`` (4 / None), ``delta_token_max_age`` (None / None)
    Sync state expiry: a delta link is refused with 410 SyncStateNotFound once the sync
    has run this many rounds, or once the link (or a skip link) is older than this many
    seconds. The client must start over without a token.
``delta_link_style`` ("long" / "short")
    "long": next and delta links name the function the way Graph often writes them,
    ``.../mailFolders('inbox')/messages/microsoft.graph.delta()?$skiptoken=...``;
    "short": ``.../mailFolders/inbox/messages/delta?$skiptoken=...``. Both forms (and
    ``delta()``, ``microsoft.graph.delta``) are accepted on requests in either mode.
``conversation_mode`` ("subject" / "references")
    How a delivered mail gets its conversationId: "references" joins a conversation only
    through In-Reply-To/References, "subject" also through the normalised subject (Re:,
    Fw:, Fwd:, AW:, WG:, RES:, ENC:, TR:... stripped, case ignored), as some reports say
    Exchange does: unrelated mail with the same subject then shares a conversation.
"""

import contextlib

REALISTIC = "realistic"
TIDY = "tidy"

PRESETS = {
    REALISTIC: {
        "mime_style": "exchange",
        "redeliver_rate": 0.2,
        "redeliver_seed": 0,
        "delta_empty_pages": 1,
        "delta_empty_page_rate": 0.5,
        "delta_token_max_rounds": 4,
        "delta_token_max_age": None,
        "delta_link_style": "long",
        "conversation_mode": "subject",
    },
    TIDY: {
        "mime_style": "original",
        "redeliver_rate": 0.0,
        "redeliver_seed": 0,
        "delta_empty_pages": 0,
        "delta_empty_page_rate": 1.0,
        "delta_token_max_rounds": None,
        "delta_token_max_age": None,
        "delta_link_style": "short",
        "conversation_mode": "references",
    },
}
KNOBS = tuple(PRESETS[REALISTIC])
CHOICES = {
    "mime_style": ("exchange", "original"),
    "delta_link_style": ("long", "short"),
    "conversation_mode": ("subject", "references"),
}


class RealismMixin:
    """The realism switch of the Emulator (kept apart from the server code)."""

    def set_realism(self, realism):
        """Apply a preset ("realistic" or "tidy") to every realism knob."""
        if realism not in PRESETS:
            raise ValueError(f"realism must be one of {sorted(PRESETS)}: {realism!r}")
        self.configure(**PRESETS[realism])
        self.realism = realism

    def configure(self, **knobs):
        """Set realism knobs by name (unknown names and values raise ValueError)."""
        for name, value in knobs.items():
            if name not in KNOBS:
                raise ValueError(f"unknown realism knob {name!r}; known: {KNOBS}")
            if name in CHOICES and value not in CHOICES[name]:
                raise ValueError(f"{name} must be one of {CHOICES[name]}: {value!r}")
        with self.lock:
            for name, value in knobs.items():
                setattr(self, name, value)

    def knobs(self):
        """The current value of every realism knob (a dict for configure())."""
        return {name: getattr(self, name) for name in KNOBS}

    @contextlib.contextmanager
    def temporarily(self, realism=None, **knobs):
        """A preset and/or knobs for the duration of a with block, then restored."""
        saved, saved_realism = self.knobs(), self.realism
        try:
            if realism is not None:
                self.set_realism(realism)
            self.configure(**knobs)
            yield self
        finally:
            self.configure(**saved)
            self.realism = saved_realism
