"""Delta query on a folder's messages, computed from the folder's change log.

A round is a snapshot of the log up to sequence number S.  Skip tokens carry
(W, S, offset) so every page of a round is computed from the same log slice; the delta
token of the last page carries S as the next round's watermark W.  Tokens are opaque
(base64 JSON + HMAC) and carry the options of the first request ($select, changeType,
the receivedDateTime filter), as in Graph where options only go on the first request.

Realism knobs read here (see graph_emulator.realism): redeliver_rate/redeliver_seed
(a change handed out again later in the round and in the next round),
delta_empty_pages/delta_empty_page_rate (empty pages with a nextLink at the start of a
round), delta_token_max_rounds/delta_token_max_age (410 SyncStateNotFound once the sync
state is too old), delta_link_style (the form of next and delta links).  Everything
random is drawn from random.Random seeded by the round, so every page of a round sees
the same draws; the seeds are change sequence numbers and round numbers, never the
random ids, so a test that does the same things sees the same draws on every run.
"""

import base64
import hashlib
import hmac
import json
import random
import re
import secrets
import time
from datetime import datetime, timezone
from urllib.parse import quote

from . import render
from .render import QueryError
from .wire import graph_error, graph_json

_FILTER = re.compile(r"^\s*receivedDateTime\s+(ge|gt)\s+(\S+)\s*$", re.I)
_ORDERBY = re.compile(r"^\s*receivedDateTime\s+desc\s*$", re.I)
_ALLOWED_OPTIONS = {"$select", "$top", "$filter", "$orderby", "$expand", "changetype"}
SYNC_STATE_MESSAGE = (
    "The sync state generation is not found; the sync state might have expired or been "
    "reset. Please restart the sync without a delta token."
)


def parse_datetime(text):
    value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


class DeltaEngine:
    def __init__(self, emu):
        self.emu = emu
        self._secret = secrets.token_bytes(16)
        self.generation = 1
        self.reset_mode = False

    def invalidate(self, reset=False):
        """Every existing token now answers 410; with reset=True the 410 carries a
        Location header to restart from (an empty $deltatoken)."""
        with self.emu.lock:
            self.generation += 1
            self.reset_mode = reset

    # -- tokens ------------------------------------------------------------
    def _encode(self, state):
        raw = json.dumps(state, separators=(",", ":")).encode()
        mac = hmac.new(self._secret, raw, hashlib.sha256).digest()[:12]
        return base64.urlsafe_b64encode(mac + raw).decode().rstrip("=")

    def _decode(self, token):
        try:
            blob = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            mac, raw = blob[:12], blob[12:]
            if not hmac.compare_digest(
                mac, hmac.new(self._secret, raw, hashlib.sha256).digest()[:12]
            ):
                return None
            return json.loads(raw)
        except (ValueError, TypeError):
            return None

    # -- options of the first request --------------------------------------
    @staticmethod
    def _options(query):
        unsupported = [
            k
            for k in query
            if k.lower() not in _ALLOWED_OPTIONS
            and k.startswith("$")
            and k not in ("$deltatoken", "$skiptoken")
        ]
        if unsupported:
            raise QueryError(
                "ErrorInvalidUrlQuery",
                "The following parameters are not supported with change tracking "
                "over the "
                f"'Messages' resource: '{', '.join(unsupported)}'.",
            )
        opt = {
            "sel": render.parse_select(query.get("$select")),
            "exp": render.parse_expand(query.get("$expand")),
        }
        if query.get("$filter"):
            match = _FILTER.match(query["$filter"])
            try:
                since = parse_datetime(match.group(2)) if match else None
            except ValueError:
                since = None
            if since is None:
                raise QueryError(
                    "ErrorInvalidUrlQueryFilter",
                    "The query filter contains one or more invalid nodes. Delta only "
                    "supports "
                    "'receivedDateTime ge|gt <DateTimeOffset>'.",
                )
            opt["since"] = [match.group(1).lower(), since.isoformat()]
        if query.get("$orderby") and not _ORDERBY.match(query["$orderby"]):
            raise QueryError(
                "ErrorInvalidUrlQuery",
                "The following parameters are not supported with change tracking "
                "over the "
                "'Messages' resource: '$orderby' (only 'receivedDateTime desc').",
            )
        change_type = next(
            (v for k, v in query.items() if k.lower() == "changetype"), None
        )
        if change_type is not None and change_type not in (
            "created",
            "updated",
            "deleted",
        ):
            raise QueryError(
                "ErrorInvalidUrlQuery", f"Invalid changeType '{change_type}'."
            )
        opt["ct"] = change_type
        if query.get("$top"):
            try:
                opt["top"] = max(1, int(query["$top"]))
            except ValueError:
                raise QueryError(
                    "BadRequest", f"Invalid $top value '{query['$top']}'."
                ) from None
        return opt

    # -- the round's items ---------------------------------------------------
    def _initial_items(self, mailbox, folder, s, opt):
        last = {}
        for ev in folder.events:
            if ev.seq > s:
                break
            last[ev.key] = ev
        if opt.get("ct") in ("updated", "deleted"):
            return []
        present = [
            (mailbox.any_message(k), ev)
            for k, ev in last.items()
            if ev.kind != "deleted"
        ]
        present = [
            (m, ev) for m, ev in present if m is not None and self._in_range(m, opt)
        ]
        present.sort(key=lambda pair: (pair[0].received, pair[1].seq), reverse=True)
        if opt.get("since"):
            present = present[: self.emu.delta_filter_max]
        return [(m.immutable_id, True, ev.rest_id, ev.seq) for m, ev in present]

    @staticmethod
    def _in_range(msg, opt):
        if not opt.get("since"):
            return True
        op, iso = opt["since"]
        since = datetime.fromisoformat(iso)
        return msg.received >= since if op == "ge" else msg.received > since

    def _replay_items(self, mailbox, folder, w, s, pw, opt):
        first_kind, last, window_order = {}, {}, []
        for ev in folder.events:
            if ev.seq > s:
                break
            last[ev.key] = ev
            if ev.seq > w and ev.key not in first_kind:
                first_kind[ev.key] = ev.kind
                window_order.append(ev.key)
        keys = sorted(window_order, key=lambda k: last[k].seq)
        keys += self._redelivered(folder, pw, w, s, set(keys))
        items = []
        for key in keys:
            ev = last[key]
            present = ev.kind != "deleted"
            kind = (
                "deleted"
                if not present
                else ("created" if first_kind.get(key) == "created" else "updated")
            )
            if opt.get("ct") and opt["ct"] != kind:
                continue
            msg = mailbox.any_message(key)
            if present and (msg is None or not self._in_range(msg, opt)):
                continue
            items.append((key, present, ev.rest_id, ev.seq))
        return items

    def _redelivered(self, folder, pw, w, s, already):
        """The real service may hand out a change again in a later round."""
        rate = self.emu.redeliver_rate
        if not rate or pw is None:
            return []
        seen = []
        for ev in folder.events:
            if pw < ev.seq <= w and ev.key not in already and ev.key not in seen:
                if (
                    random.Random(f"{self.emu.redeliver_seed}:{ev.seq}:{w}").random()
                    < rate
                ):
                    seen.append(ev.key)
        return seen

    def _repeated(self, items, size, state):
        """The round's items with some handed out a second time, at the start of the
        next page (Graph: "the same change may be delivered more than once")."""
        rate = self.emu.redeliver_rate
        if not rate or not items:
            return items
        out, carried = [], []
        for start in range(0, len(items), size):
            out += carried
            carried = []
            for item in items[start : start + size]:
                out.append(item)
                draw = random.Random(
                    f"{self.emu.redeliver_seed}:again:{item[3]}:{state['s']}"
                ).random()
                if draw < rate:
                    carried.append(item)
        return out + carried

    # -- the request -------------------------------------------------------
    def _expired(self, state, new_round):
        """Sync state too old: too many rounds (checked when a round starts) or a link
        older than delta_token_max_age seconds."""
        max_rounds = self.emu.delta_token_max_rounds
        if new_round and max_rounds and state.get("r", 1) >= max_rounds:
            return True
        max_age = self.emu.delta_token_max_age
        return max_age is not None and time.time() - state.get("t", 0) > max_age

    def _empty_pages(self, state):
        """A later round starts with empty pages only with delta_empty_page_rate."""
        draw = random.Random(
            f"{self.emu.redeliver_seed}:empty:{state['r']}:{state['s']}"
        ).random()
        chosen = draw < self.emu.delta_empty_page_rate
        return self.emu.delta_empty_pages if chosen else 0

    def gone(self, req, base_url, reset=None):
        headers = {}
        if self.reset_mode if reset is None else reset:
            headers["Location"] = f"{base_url}?$deltatoken="
        return graph_error(410, "SyncStateNotFound", SYNC_STATE_MESSAGE, req, headers)

    def handle(self, req, mailbox, folder, base_url, immutable, prefer):
        query = req.query
        delta_token, skip_token = query.get("$deltatoken"), query.get("$skiptoken")
        with self.emu.lock:
            if delta_token or skip_token:
                state = self._decode(skip_token or delta_token)
                if (
                    state is None
                    or state.get("g") != self.generation
                    or state.get("m") != mailbox.id
                    or state.get("f") != folder.id
                ):
                    return self.gone(req, base_url)
                if self._expired(state, new_round=not skip_token):
                    return self.gone(req, base_url, reset=False)
                if not skip_token:  # a new round from a saved delta link
                    state = dict(
                        state,
                        s=mailbox.seq,
                        o=0,
                        r=state.get("r", 1) + 1,
                        t=time.time(),
                    )
                    state["e"] = self._empty_pages(state)
            else:  # first round (also the restart after a reset: empty $deltatoken)
                try:
                    opt = self._options(query)
                except QueryError as err:
                    return graph_error(400, err.code, err.message, req)
                state = {
                    "g": self.generation,
                    "m": mailbox.id,
                    "f": folder.id,
                    "w": None,
                    "pw": None,
                    "s": mailbox.seq,
                    "o": 0,
                    "e": self.emu.delta_empty_pages,  # always on a sync's first round
                    "r": 1,  # rounds of this sync so far
                    "t": time.time(),  # when this round started
                    "opt": opt,
                }
            return self._page(req, mailbox, folder, state, base_url, immutable, prefer)

    def _page_size(self, prefer, opt):
        size = opt.get("top") or 10
        applied = {}
        if "odata.maxpagesize" in prefer:
            try:
                size = int(prefer["odata.maxpagesize"])
                applied["Preference-Applied"] = (
                    f"odata.maxpagesize={min(size, self.emu.max_delta_page_size)}"
                )
            except ValueError:
                pass
        return max(1, min(size, self.emu.max_delta_page_size)), applied

    def _page(self, req, mailbox, folder, state, base_url, immutable, prefer):
        opt = state["opt"]
        size, headers = self._page_size(prefer, opt)
        body = {
            "@odata.context": f"{self.emu.graph_url}/$metadata#Collection(message)",
            "value": [],
        }
        if state.get(
            "e"
        ):  # the service may hand out empty pages: clients must keep going
            body["@odata.nextLink"] = (
                f"{base_url}?$skiptoken={self._encode(dict(state, e=state['e'] - 1))}"
            )
            return graph_json(200, body, headers)
        if state["w"] is None:
            items = self._initial_items(mailbox, folder, state["s"], opt)
        else:
            items = self._replay_items(
                mailbox, folder, state["w"], state["s"], state["pw"], opt
            )
        items = self._repeated(items, size, state)
        offset = state["o"]
        for key, present, rest_id, _seq in items[offset : offset + size]:
            body["value"].append(
                self._render(
                    mailbox, folder, key, present, rest_id, immutable, opt, prefer
                )
            )
        if offset + size < len(items):
            token = self._encode(dict(state, o=offset + size, e=0))
            body["@odata.nextLink"] = f"{base_url}?$skiptoken={token}"
        else:
            nxt = {
                "g": state["g"],
                "m": state["m"],
                "f": state["f"],
                "w": state["s"],
                "pw": state["w"] if state["w"] is not None else 0,
                "r": state.get("r", 1),
                "t": time.time(),
                "opt": opt,
            }
            body["@odata.deltaLink"] = f"{base_url}?$deltatoken={self._encode(nxt)}"
        return graph_json(200, body, headers)

    @staticmethod
    def _render(mailbox, folder, key, present, rest_id, immutable, opt, prefer):
        msg = mailbox.any_message(key)
        if present and msg is not None and not msg.deleted and msg.folder is folder:
            return render.message(
                msg,
                immutable,
                opt.get("sel"),
                opt.get("exp"),
                prefer.get("outlook.body-content-type"),
            )
        return render.removed(key if immutable else rest_id)


def delta_url(graph_url, user_segment, folder_segment, style="short"):
    """The base of next and delta links: short ".../mailFolders/inbox/messages/delta"
    or long ".../mailFolders('inbox')/messages/microsoft.graph.delta()"."""
    user = quote(user_segment, safe="@")
    if style == "long":
        folder = quote(folder_segment.replace("'", "''"), safe="'")
        return (
            f"{graph_url}/users/{user}/mailFolders('{folder}')/messages/"
            "microsoft.graph.delta()"
        )
    return (
        f"{graph_url}/users/{user}/mailFolders/"
        f"{quote(folder_segment, safe='')}/messages/delta"
    )
