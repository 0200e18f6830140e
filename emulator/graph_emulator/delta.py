"""Delta query on a folder's messages, computed from the folder's change log.

A round is a snapshot of the log up to sequence number S.  Skip tokens carry
(W, S, offset) so every page of a round is computed from the same log slice; the delta
token of the last page carries S as the next round's watermark W.  Tokens are opaque
(base64 JSON + HMAC) and carry the options of the first request ($select, changeType,
the receivedDateTime filter), as in Graph where options only go on the first request.
"""

import base64
import hashlib
import hmac
import json
import random
import re
import secrets
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
        return [(m.immutable_id, True, ev.rest_id) for m, ev in present]

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
            items.append((key, present, ev.rest_id))
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
                    random.Random(f"{self.emu.redeliver_seed}:{ev.key}:{w}").random()
                    < rate
                ):
                    seen.append(ev.key)
        return seen

    # -- the request -------------------------------------------------------
    def gone(self, req, base_url):
        headers = {}
        if self.reset_mode:
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
                if not skip_token:  # a new round from a saved delta link
                    state = dict(
                        state, s=mailbox.seq, o=0, e=self.emu.delta_empty_pages
                    )
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
                    "e": self.emu.delta_empty_pages,
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
        offset = state["o"]
        for key, present, rest_id in items[offset : offset + size]:
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


def delta_url(graph_url, user_segment, folder_segment):
    return (
        f"{graph_url}/users/{quote(user_segment, safe='@')}/mailFolders/"
        f"{quote(folder_segment, safe='')}/messages/delta"
    )
