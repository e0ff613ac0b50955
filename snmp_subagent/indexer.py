"""The OID index the AgentX frontend answers from, rebuilt from published states off the loop.

    worker = IndexWorker(AreaIndexes(mapping.areas(base), interfaces, router_id),
                         deliver=subagent.update)
    worker.request(state)      # on the loop, after every publish: returns at once
    worker.close()

IndexWorker builds in one thread of its own. Requests coalesce: while a build runs, a new
state only replaces the one waiting, so a build in progress is followed by at most one
more, from the newest state; the loop never waits and never queues a backlog. While the
master is asking (a request less than WALK_GAP seconds ago), a build waits, for at most
MAX_DEFER seconds: a walk's answers then come one after another without a build holding
the GIL they need (a rebuild takes tens of milliseconds for 200 VRRP instances, and a
bulk walk is thousands of single GetNext round trips), and a walk shorter than MAX_DEFER
reads one index throughout. Values are then at most MAX_DEFER seconds older.

AreaIndexes keeps one OidIndex per mapping Area and rebuilds an area only when the
objects of its key changed (mapping.Area), then joins the parts (agentx.index.join): the
IPVS tables are rebuilt once per IPVS read, the VRRP parts twice a second. A rebuild whose
rows have the same OIDs as the last one (counters moved, no row came or went) takes the
last index's sorted order (RowIndex.with_data): about half the work, and less time for
the index thread to hold the GIL that answers need. A row whose
value does not fit its SNMP type is left out, counted and logged once per area, never
raised: the rest of the area is served. A mapping that fails on a state (a bug, or a
snapshot it cannot read) is logged once per area and its last good index stays served.

InterfaceIndexes answers the mapping's ifIndex questions from socket.if_nametoindex, and
keeps each index for INTERFACE_TTL seconds (an interface created again gets a new index);
a name with no interface is asked again next time (a vmac interface appears later).
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from operator import itemgetter

from lvsmon.errors import AgentxError
from lvsmon.model.daemon import DaemonState
from lvsmon_snmp.agentx.index import OidIndex, RowIndex, join
from lvsmon_snmp.agentx.oids import parse_oid
from lvsmon_snmp.agentx.values import Value, ValueType
from lvsmon_snmp.mib.encode import Oid
from lvsmon_snmp.mib.mapping import Area, Context

log = logging.getLogger("lvsmon.agentx")

INTERFACE_TTL = 30.0
WALK_GAP = 0.05  # seconds without a request: the master's walk is over
MAX_DEFER = 1.0  # seconds a build may wait for a walk to end

_CONVERTERS: dict[str, Callable[[object], Value]] = {
    "Integer32": Value.integer32,
    "Unsigned32": Value.gauge32,  # the same wire type (RFC 2578 section 7.1.11)
    "Gauge32": Value.gauge32,
    "Counter32": Value.counter32,
    "Counter64": Value.counter64,
    "TimeTicks": Value.time_ticks,
    "OctetString": Value.octet_string,
    "IpAddress": Value.ip_address,
    "ObjectIdentifier": Value.object_identifier,
    "Opaque": Value.opaque,
}


# A mapping kind (lvsmon_snmp.mib.base.KINDS) -> its AgentX type, and for the two kinds
# whose mapping value is text, how it becomes the data AgentX carries.
_TYPES = {"Integer32": ValueType.INTEGER, "Unsigned32": ValueType.GAUGE32,
          "Gauge32": ValueType.GAUGE32, "Counter32": ValueType.COUNTER32,
          "Counter64": ValueType.COUNTER64, "TimeTicks": ValueType.TIME_TICKS,
          "OctetString": ValueType.OCTET_STRING, "IpAddress": ValueType.IP_ADDRESS,
          "ObjectIdentifier": ValueType.OBJECT_IDENTIFIER, "Opaque": ValueType.OPAQUE}  # fmt: skip
_TEXT_DATA = {"IpAddress": lru_cache(maxsize=4096)(lambda text: Value.ip_address(text).data),
              "ObjectIdentifier": lru_cache(maxsize=4096)(parse_oid)}  # fmt: skip
_PLAIN_TYPES = frozenset(_TYPES) - frozenset(_TEXT_DATA)


def to_value(kind: str, value: object) -> Value:
    """A mapping row's (kind, value) as the Value AgentX carries (SnmpValueError if it does
    not fit; KeyError for a kind lvsmon_snmp.mib.base.KINDS does not list)."""
    return _CONVERTERS[kind](value)


def objects_of(oids: Iterable[Oid], entries: tuple[Oid, ...]) -> set[Oid]:
    """The OBJECT-TYPEs behind these OIDs: entry + column under a table entry, else the
    OID without its last sub-identifier (a scalar's .0)."""
    oids = [oid for oid in oids if type(oid) is tuple]
    entry_set = set(entries)
    found: set[Oid] = set()
    for length in sorted({len(entry) for entry in entries}):
        # The prefixes first (in C), then only the few distinct ones in Python.
        heads = set(map(itemgetter(slice(0, length + 1)), oids))
        found |= {head for head in heads if head[:length] in entry_set and len(head) > length}
        if all(head[:length] in entry_set for head in heads):
            return found
        oids = [oid for oid in oids if oid[:length] not in entry_set]
    return found | {oid[:-1] for oid in oids}


class InterfaceIndexes:
    """name -> ifIndex (None: no such interface), from the kernel; an index is kept for
    INTERFACE_TTL seconds, a miss not at all."""

    def __init__(self, ttl: float = INTERFACE_TTL, lookup=socket.if_nametoindex,
                 clock=time.monotonic):
        self.ttl, self._lookup, self._clock = ttl, lookup, clock
        self._known: dict[str, tuple[int | None, float]] = {}

    def __call__(self, name: str) -> int | None:
        now = self._clock()
        known = self._known.get(name)
        if known is not None and now - known[1] < self.ttl:
            return known[0]
        try:
            index = self._lookup(name)
        except OSError:
            self._known.pop(name, None)
            return None
        self._known[name] = (index, now)
        return index


class AreaIndexes:
    """Builds the whole index from a state, reusing each area's index while its key holds."""

    def __init__(self, areas: Iterable[Area], if_index: Callable[[str], int | None],
                 router_id: str | None, base: Oid):
        self.areas = tuple(areas)
        self.context = Context(if_index, router_id, tuple(base))
        self._built: dict[str, tuple[tuple, OidIndex]] = {}
        self.rebuilt: Counter[str] = Counter()  # area name -> rebuilds
        self.bad_rows: Counter[str] = Counter()  # area name -> rows left out
        self.failed: Counter[str] = Counter()  # area name -> builds that raised
        self.reused: Counter[str] = Counter()  # area name -> rebuilds on the last one's OIDs
        self._logged: set[str] = set()

    def build(self, state: DaemonState) -> OidIndex:
        parts = []
        for area in self.areas:
            key = area.key(state)
            built = self._built.get(area.name)
            if built is None or not _same(built[0], key):
                try:
                    built = (key, self._area_index(area, state, built and built[1]))
                except Exception as exc:  # noqa: BLE001 - the last good index stays served
                    self._log_once(area, f"cannot be built from this state ({exc!r}); "
                                         "its last index stays served", exc_info=True)
                    self.failed[area.name] += 1
                    if built is not None:
                        parts.append(built[1])
                    continue
                self._built[area.name] = built
                self.rebuilt[area.name] += 1
            parts.append(built[1])
        return join(parts)

    def _log_once(self, area: Area, message: str, exc_info: bool = False) -> None:
        if area.name not in self._logged:  # once per area: a bug, not the data's fault
            self._logged.add(area.name)
            log.error("AgentX: %s: %s", area.name, message, exc_info=exc_info)

    def _area_index(self, area: Area, state: DaemonState, previous: OidIndex | None) -> OidIndex:
        def reject(oid, kind, value, exc) -> None:
            self._left_out(area, f"{_dotted(oid)} = {value!r} ({kind}) cannot be served: "
                                 f"{exc}")

        rows = list(area.rows(state, self.context))
        oids = list(map(itemgetter(0), rows))
        kinds = list(map(itemgetter(1), rows))
        datas = list(map(itemgetter(2), rows))
        types = list(map(_TYPES.get, kinds))
        if not _PLAIN_TYPES.issuperset(kinds):  # text data to convert, or an unknown kind
            for position, kind in enumerate(kinds):
                if kind in _TEXT_DATA:
                    try:
                        datas[position] = _TEXT_DATA[kind](datas[position])
                    except (AgentxError, ValueError) as exc:
                        types[position] = None  # rejected by the index, reported there
                        datas[position] = exc
        if isinstance(previous, RowIndex):  # the same rows again: its sort is reused
            index = previous.with_data(oids, types, datas)
            if index is not None:
                self.reused[area.name] += 1
                return index
        return RowIndex(oids, types, datas, objects=objects_of(oids, area.entries),
                        reject=reject)

    def _left_out(self, area: Area, message: str) -> None:
        self.bad_rows[area.name] += 1
        self._log_once(area, message + "; left out")


def _dotted(oid) -> str:
    return ".".join(map(str, oid)) if isinstance(oid, tuple) else repr(oid)


def _same(old: tuple, new: tuple) -> bool:
    return len(old) == len(new) and all(a is b for a, b in zip(old, new, strict=True))


class IndexWorker:
    """Rebuilds off the loop, one build at a time, coalescing requests (module docstring)."""

    def __init__(self, indexes: AreaIndexes, deliver: Callable[[OidIndex], None],
                 last_request: Callable[[], float] | None = None):
        """last_request: the time.perf_counter() of the master's last request; builds
        wait while it is recent (module docstring). None: never wait."""
        self.indexes = indexes
        self._deliver = deliver
        self._last_request = last_request
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="agentx-index")
        self._lock = threading.Lock()
        self._waiting: DaemonState | None = None
        self._busy = False
        self._closed = False
        self.requests = 0
        self.builds = 0
        self.deferred = 0  # builds that waited for a walk to end
        self.failures = 0
        self.last_build_seconds = 0.0

    def request(self, state: DaemonState) -> None:
        """Build from `state` soon (from the newest state given, if several come first)."""
        with self._lock:
            if self._closed:
                return
            self.requests += 1
            self._waiting = state
            if self._busy:
                return
            self._busy = True
        self._executor.submit(self._work)

    def _work(self) -> None:
        while True:
            with self._lock:
                nothing_to_do = self._waiting is None or self._closed
            if not nothing_to_do:
                self._wait_for_a_gap()
            with self._lock:
                state, self._waiting = self._waiting, None
                if state is None or self._closed:
                    self._busy = False
                    return
            started = time.perf_counter()
            try:
                index = self.indexes.build(state)
            except Exception:  # a mapping bug: keep answering from the last index
                self.failures += 1
                log.exception("AgentX: building the OID index failed; the last one is served")
                continue
            self.last_build_seconds = time.perf_counter() - started
            self.builds += 1
            self._deliver(index)

    def _wait_for_a_gap(self) -> None:
        if self._last_request is None:
            return
        now = time.perf_counter()
        deadline, waited = now + MAX_DEFER, False
        while not self._closed and now < deadline:
            quiet_at = self._last_request() + WALK_GAP
            if now >= quiet_at:
                break
            waited = True
            time.sleep(min(quiet_at, deadline) - now)
            now = time.perf_counter()
        self.deferred += waited

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """For tests and benchmarks: True once no build runs or waits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if not self._busy:
                    return True
            time.sleep(0.005)
        return False

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._waiting = None
        self._executor.shutdown(wait=False, cancel_futures=True)
