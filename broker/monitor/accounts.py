"""/accountz, /accstatz and /gatewayz, in nats-server's shapes for what zats has: accounts
without imports, exports, mappings or JWTs, and no gateways.

/accstatz counts as nats-server does per account: `received` is what the account's clients and
leafnodes published, `sent` what was delivered to its clients and leafnodes; open connections count for
themselves and closed ones through Account.stats. zats does not split a route's traffic by
account, so the `routes` figures stay 0 (as do `gateways`)."""

from __future__ import annotations

import time

from .endpoints import sublist_stats
from .params import BadParam, get_bool, get_subs
from .render import pretty, utc


def _clients(broker, account) -> list:
    return [c for c in broker.connections.values() if not c.closed and c.account is account]


def _leafs(broker, account) -> list:
    if broker.leafnodes is None:
        return []
    return [leaf for leaf in broker.leafnodes.registered() if leaf.acc is account]


def accountz(broker, query) -> bytes:
    name = query.get("acc", "")
    body = {"server_id": broker.server_id, "now": utc(time.time())}
    if broker.system_account is not None:
        body["system_account"] = broker.system_account
    if not name:
        body["accounts"] = list(broker.accounts)
        return pretty(body)
    account = broker.accounts.get(name)
    if account is None:
        raise BadParam(f"Account {name} does not exist")
    detail = {"account_name": name, "update_time": utc(account.created)}
    if name == broker.system_account:
        detail["is_system"] = True
    detail.update({
        "expired": False,
        "complete": True,
        "jetstream_enabled": False,
        "leafnode_connections": len(_leafs(broker, account)),
        "client_connections": len(_clients(broker, account)),
        "subscriptions": len(account.sublist),
        "name_tag": name,
        "sublist_stats": sublist_stats([account.sublist]),
    })
    body["account_detail"] = detail
    return pretty(body)


def _msg_bytes(msgs: int, size: int) -> dict:
    return {"msgs": msgs, "bytes": size}


def account_stat(broker, account) -> dict:
    """One account's entry in /accstatz (nats-server's AccountStat)."""
    clients, leafs = _clients(broker, account), _leafs(broker, account)
    closed = account.stats
    leaf_in = _msg_bytes(sum(c.in_msgs for c in leafs), sum(c.in_bytes for c in leafs))
    leaf_out = _msg_bytes(sum(c.out_msgs for c in leafs), sum(c.out_bytes for c in leafs))
    received = _msg_bytes(closed.in_msgs + sum(c.in_msgs for c in clients) + leaf_in["msgs"],
                          closed.in_bytes + sum(c.in_bytes for c in clients) + leaf_in["bytes"])
    sent = _msg_bytes(closed.out_msgs + sum(c.out_msgs for c in clients) + leaf_out["msgs"],
                      closed.out_bytes + sum(c.out_bytes for c in clients) + leaf_out["bytes"])
    return {
        "acc": account.name,
        "name": account.name,
        "conns": len(clients),
        "leafnodes": len(leafs),
        "total_conns": len(clients) + len(leafs),  # as nats-server: open ones, leafs too
        "num_subscriptions": len(account.sublist),
        "sent": {**sent, "gateways": _msg_bytes(0, 0), "routes": _msg_bytes(0, 0), "leafs": leaf_out},
        "received": {**received, "gateways": _msg_bytes(0, 0), "routes": _msg_bytes(0, 0),
                     "leafs": leaf_in},
        "slow_consumers": closed.slow_consumers,
    }


def account_stats(broker, unused: bool) -> list[dict]:
    """/accstatz's list: accounts with local clients or leafnodes, or all with `unused`."""
    stats = []
    for account in list(broker.accounts.values()):
        stat = account_stat(broker, account)
        if unused or stat["conns"] or stat["leafnodes"]:
            stats.append(stat)
    return stats


def accstatz(broker, query) -> bytes:
    unused = get_bool(query, "unused")
    return pretty({"server_id": broker.server_id, "now": utc(time.time()),
                   "account_statz": account_stats(broker, unused)})


def gatewayz(broker, query) -> bytes:
    get_subs(query)  # nats-server's options, checked in its order: nothing to list
    get_bool(query, "accs")
    return pretty({"server_id": broker.server_id, "now": utc(time.time()),
                   "outbound_gateways": {}, "inbound_gateways": {}})
