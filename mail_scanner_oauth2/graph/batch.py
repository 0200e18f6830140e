"""Graph's $batch: up to 20 requests in one; failing entries are sent again."""

import logging
import time

from . import errors
from .transport import IMMUTABLE_ID_PREFERENCE, GraphTransport, retry_after_seconds

_logger = logging.getLogger(__name__)


def chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start : start + size]


class GraphBatches(GraphTransport):
    """GraphTransport with $batch: the Graph calls GraphMailClient makes by the
    twenty (downloads, mark read, move, sizes)."""

    def _batch(self, entries, mailbox):
        """Run {key: {"method", "url", "body"?}} through /$batch (at most 20 at a time).
        Entries answering 429 / 5xx are sent again in a later batch after the largest
        Retry-After (bounded attempts and time); an entry answering 401 gets one retry
        with a fresh token. Returns {key: (status, headers, body)}."""
        results = {}
        pending = dict(entries)
        attempt = 0
        refreshed = False
        started = time.monotonic()
        while pending:
            attempt += 1
            answers = self._post_batch(pending, mailbox)
            retry, wait = {}, 0.0
            for key, answer in answers.items():
                status, headers, _body = answer
                if status == 401 and not refreshed:
                    retry[key] = pending[key]
                elif status in errors.TRANSIENT_STATUSES:
                    retry[key] = pending[key]
                    wait = max(wait, self._entry_wait(headers, attempt))
                else:
                    results[key] = answer
            if any(answers[key][0] == 401 for key in retry):
                self._tokens.invalidate()
                refreshed = True
            out_of_budget = (
                attempt >= self.policy.max_attempts
                or time.monotonic() - started + wait > self.policy.max_retry_seconds
            )
            if not retry or out_of_budget:
                results.update({key: answers[key] for key in retry})
                break
            _logger.debug(
                "$batch: %d of %d entries again in %.1fs",
                len(retry),
                len(pending),
                wait,
            )
            time.sleep(wait)
            pending = retry
        return results

    def _entry_wait(self, headers, attempt):
        retry_after = retry_after_seconds(headers)
        if retry_after is not None:
            return min(retry_after, self.policy.max_retry_after)
        return min(
            self.policy.max_backoff, self.policy.backoff_factor * 2 ** (attempt - 1)
        )

    def _post_batch(self, pending, mailbox):
        # Batch entry ids must be unique short strings; map them back to our keys.
        keys = list(pending)
        requests_ = []
        for index, key in enumerate(keys):
            entry = pending[key]
            request = {
                "id": str(index),
                "method": entry["method"],
                "url": entry["url"],
                "headers": {"Prefer": IMMUTABLE_ID_PREFERENCE},
            }
            if "body" in entry:
                request["body"] = entry["body"]
                request["headers"]["Content-Type"] = "application/json"
            requests_.append(request)
        body = self.request_json(
            "POST", self.url("/$batch"), json={"requests": requests_}, mailbox=mailbox
        )
        answers = {}
        for response in body.get("responses") or []:
            try:
                key = keys[int(response.get("id"))]
            except (TypeError, ValueError, IndexError):
                continue
            answers[key] = (
                int(response.get("status") or 0),
                response.get("headers") or {},
                response.get("body"),
            )
        for key in keys:  # an entry the server forgot is a transient failure
            answers.setdefault(key, (503, {}, None))
        return answers

    def _batch_command(self, mailbox, ids, build_entry):
        results = {}
        for chunk in chunks(list(ids), self.batch_size):
            entries = {mid: build_entry(mid) for mid in chunk}
            for mid, (status, headers, body) in self._batch(entries, mailbox).items():
                results[mid] = (
                    None
                    if 200 <= status < 300
                    else self._entry_error(status, headers, body, mailbox)
                )
        return results

    @staticmethod
    def _entry_error(status, headers, body, mailbox):
        return errors.from_graph_response(
            status,
            body if isinstance(body, dict) else None,
            mailbox,
            retry_after=retry_after_seconds(headers),
        )
