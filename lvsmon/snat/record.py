"""From a conntrack message to an SNAT record (lvsmon.model.SnatConnection), and to JSON."""

from __future__ import annotations

import socket
from dataclasses import replace

from lvsmon.model import SnatConnection
from lvsmon.model.codec import to_json
from lvsmon.netlink import protocol_name
from lvsmon.snat.ctnetlink import CtMessage


def to_record(message: CtMessage, *, node: str, seen_ns: int,
              record_destinations: bool = True) -> SnatConnection | None:
    """The SNAT record of a conntrack entry, or None if its source was not translated.

    `seen_ns` stands in for the start (NEW events carry no timestamp) and for the end of a
    DESTROY without one (nf_conntrack_timestamp off).
    """
    if not message.source_natted:
        return None
    orig, reply = message.original, message.reply
    start_exact = message.start_ns is not None
    end_ns = None
    if message.kind == "destroy":
        end_ns = message.stop_ns or seen_ns
    return SnatConnection(
        protocol=protocol_name(orig.protocol),
        family="inet6" if message.family == socket.AF_INET6 else "inet",
        inside_address=orig.source,
        inside_port=orig.source_port,
        translated_address=reply.destination,
        translated_port=reply.destination_port,
        start_ns=message.start_ns if start_exact else seen_ns,
        end_ns=end_ns,
        original_destination_address=orig.destination if record_destinations else None,
        original_destination_port=orig.destination_port if record_destinations else None,
        real_destination_address=reply.source if record_destinations else None,
        real_destination_port=reply.source_port if record_destinations else None,
        conntrack_id=message.conntrack_id,
        zone=message.zone,
        mark=message.mark,
        node=node,
        start_exact=start_exact,
        packets_out=message.packets_orig,
        bytes_out=message.bytes_orig,
        packets_in=message.packets_reply,
        bytes_in=message.bytes_reply,
    )


def connection_key(record: SnatConnection) -> tuple:
    """What identifies one conntrack entry while it lives (ids are reused only after it ends)."""
    return (record.zone, record.conntrack_id, record.protocol, record.inside_address,
            record.inside_port)


def merge_close(opened: SnatConnection, closed: SnatConnection) -> SnatConnection:
    """The DESTROY's record, keeping the open record's start when the DESTROY has no exact one."""
    if closed.start_exact:
        return closed
    return replace(closed, start_ns=opened.start_ns, start_exact=opened.start_exact)


def to_json_dict(record: SnatConnection, event: str | None = None) -> dict:
    """A flat dict for JSON lines and --json output (the model's one encoding), with the
    JSON-lines event ("open", "close") first."""
    data = to_json(record)
    return data if event is None else {"event": event, **data}
