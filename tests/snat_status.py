"""A SNAT recorder status file as `lvsmon snat run` writes it, for tests of its readers."""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

from lvsmon.model.codec import to_json
from lvsmon.model.frozen import FrozenDict
from lvsmon.model.snat import RecorderStatus, SinkStatus

S = 1_000_000_000


def status_doc(store: Path | None, **changes) -> dict:
    """A status file as the recorder writes it: a RecorderStatus in the model's encoding."""
    status = RecorderStatus(
        pid=os.getpid(), node="lb1", started_ns=time.time_ns() - 60 * S,
        updated_ns=time.time_ns(), stopped=False, events_per_second=12.5,
        receive_buffer_bytes=4096, reliable_delivery=True, accounting=FrozenDict(),
        last_dump_ns=None, dumping=False, store=str(store) if store else None,
        events=340, snat_events=300, other_events=40, dumps=1, overflows=0,
        events_dropped=0, end_unknown=0, store_dropped=0, decode_errors=0,
        sinks=FrozenDict(sqlite=SinkStatus(ok=True, error=None, written_records=150,
                                           pending_records=0)),
    )
    return to_json(dataclasses.replace(status, **changes))
