"""/subjectz (zats only, for the dashboard): the busiest subjects, from what the subscriptions
already count. Every subscription counts its deliveries (for UNSUB <max>), so summing them by
account and subscribed subject costs nothing on the publish path: the work is done here, at most
once a second however many pollers there are, paced like the other long answers. A subject is
the one subscribed to (a wildcard stays a wildcard) and a message delivered to three
subscribers counts three times; subjects nobody subscribes to are not seen.

The rate is the growth of each count since the count before, at least RATE_WINDOW older (a
subscription gone since makes no negative rate)."""

from __future__ import annotations

import time

from .params import get_int
from .render import Pacer, pretty, utc

RATE_WINDOW = 1.0  # seconds: how old the snapshot rates are measured against must be
DEFAULT_LIMIT = 10


class BusiestSubjects:
    def __init__(self, broker):
        self.broker = broker
        self._counted: tuple[float, dict] | None = None  # the latest count and when
        self._ranked: list[dict] = []

    async def _count(self) -> dict:
        """{(account, subject): [deliveries, subscriptions]} over the clients' subscriptions."""
        counts: dict[tuple[str, bytes], list[int]] = {}
        pacer = Pacer()
        for conn in list(self.broker.connections.values()):
            if conn.closed:
                continue
            account = conn.account.name
            for sub in conn.subs.values():
                entry = counts.get((account, sub.subject))
                if entry is None:
                    counts[(account, sub.subject)] = [sub.delivered, 1]
                else:
                    entry[0] += sub.delivered
                    entry[1] += 1
            await pacer.spend(1 + len(conn.subs))
        return counts

    async def _refresh(self) -> None:
        """Counts again unless the last count is under RATE_WINDOW old; rates are measured
        against the count before (none at the first: rates 0)."""
        now = time.monotonic()
        if self._counted is not None and now - self._counted[0] < RATE_WINDOW:
            return
        counts = await self._count()
        now = time.monotonic()
        base = self._counted or (now, counts)
        self._counted = (now, counts)
        span = now - base[0]
        before = base[1]
        ranked = []
        for (account, subject), (msgs, subs) in counts.items():
            grown = msgs - before.get((account, subject), (0,))[0]
            rate = max(grown, 0) / span if span > 0 else 0.0
            ranked.append({"account": account, "subject": subject.decode(errors="replace"),
                           "msgs_per_sec": round(rate, 1), "msgs": msgs, "subscriptions": subs})
        ranked.sort(key=lambda s: (-s["msgs_per_sec"], -s["msgs"], s["subject"]))
        self._ranked = ranked

    async def subjectz(self, query) -> bytes:
        limit = get_int(query, "limit")
        if limit <= 0:
            limit = DEFAULT_LIMIT
        await self._refresh()
        return pretty({"server_id": self.broker.server_id, "now": utc(time.time()),
                       "total": len(self._ranked), "subjects": self._ranked[:limit]})
