"""The RFC 5798 router state machine, pure: events in, actions out, no I/O, no clock.

    machine = StateMachine(Params(vrid=51, priority=150, advert_interval=1.0,
                                  address="10.0.0.11"))
    actions = machine.start(now)                 # [StateChange(...)] and maybe adverts
    actions = machine.advert(now, Heard(...))    # an advert that passed the I/O checks
    actions = machine.tick(now)                  # call at machine.deadline (or later)
    actions = machine.stop(now)                  # priority 0 advert if master

The caller (lvsmon.vrrp.participant) owns sockets, addresses and time; it calls
``tick`` when ``deadline`` has passed and carries out the returned actions in order.
Section numbers below are RFC 5798's. ``preempt_delay`` is keepalived's: for that
many seconds after start-up a Backup does not preempt a lower-priority master.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

# The state names belong to the shared vocabulary: snapshots carry them.
from lvsmon.model.vrrp import (  # noqa: F401 - STATES is part of this module's interface
    BACKUP,
    FAULT,
    INITIALIZE,
    MASTER,
    STATES,
    master_down_interval,
    skew_time,
)

OWNER_PRIORITY = 255


@dataclass(frozen=True, slots=True)
class Params:
    vrid: int
    priority: int  # configured priority, 1..255 (255: the address owner)
    advert_interval: float  # seconds
    address: str  # this router's primary address (source of adverts; breaks priority ties)
    preempt: bool = True
    preempt_delay: float = 0.0
    # VRRPv2 (RFC 3768): a Backup keeps its own interval; v3 learns the master's.
    learn_master_interval: bool = True


@dataclass(frozen=True, slots=True)
class Heard:
    """An advert for our VRID that the I/O layer accepted (TTL, checksum, auth, version)."""

    source: str
    priority: int
    advert_interval: float  # seconds


# -- actions -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SendAdvert:
    priority: int


@dataclass(frozen=True, slots=True)
class AddAddresses:
    """Become the holder of the virtual addresses: add them, then announce (GARP / NA)."""


@dataclass(frozen=True, slots=True)
class RemoveAddresses:
    pass


@dataclass(frozen=True, slots=True)
class StateChange:
    old: str
    new: str
    reason: str
    priority: int
    master_reason: str | None = None  # lvsmon.model.vrrp.MASTER_REASONS, when new is MASTER


Action = SendAdvert | AddAddresses | RemoveAddresses | StateChange


def _address_key(text: str) -> int:
    return int(ipaddress.ip_address(text.partition("%")[0]))


class StateMachine:
    """One virtual router. Mutable, but every input is an argument: test it with any clock."""

    def __init__(self, params: Params):
        if not 1 <= params.priority <= OWNER_PRIORITY:
            raise ValueError(f"priority {params.priority} out of range 1..255")
        self.params = params
        self.state = INITIALIZE
        self.priority = params.priority  # effective: track weights applied
        self.master_adver_interval = params.advert_interval
        self.master: str | None = None  # the master's address as last heard (ours when master)
        self.adver_timer: float | None = None
        self.master_down_timer: float | None = None
        self.started_at: float | None = None
        # A Backup ignoring a lower-priority master (to preempt it) since the last advert
        # it accepted: when its timer then expires, it took over by preemption.
        self.preempting = False
        self._address_key = _address_key(params.address)

    # -- derived values (section 6.1) --

    @property
    def skew_time(self) -> float:
        return skew_time(self.master_adver_interval, self.priority)

    @property
    def master_down_interval(self) -> float:
        return master_down_interval(self.master_adver_interval, self.priority)

    @property
    def deadline(self) -> float | None:
        """When ``tick`` next has something to do; None: nothing pending."""
        timers = [t for t in (self.adver_timer, self.master_down_timer) if t is not None]
        return min(timers) if timers else None

    # -- events --

    def start(self, now: float) -> list[Action]:
        """Startup event (section 6.4.1)."""
        if self.state not in (INITIALIZE, FAULT):
            return []
        self.started_at = now
        if self.priority == OWNER_PRIORITY:
            return self._become_master(now, "address owner (priority 255)", "priority")
        self.master_adver_interval = self.params.advert_interval
        self.master_down_timer = now + self.master_down_interval
        self.adver_timer = None
        self.master = None
        self.preempting = False
        return [self._change(BACKUP, "startup")]

    def stop(self, now: float, *, fault: bool = False) -> list[Action]:
        """Shutdown event (6.4.2, 6.4.3); with ``fault`` the router goes to FAULT instead."""
        new = FAULT if fault else INITIALIZE
        reason = "fault" if fault else "shutdown"
        actions: list[Action] = []
        if self.state == MASTER:
            actions += [SendAdvert(0), RemoveAddresses()]
        self.adver_timer = self.master_down_timer = None
        if self.state != new:
            actions.append(self._change(new, reason))
        return actions

    def set_priority(self, now: float, priority: int) -> list[Action]:
        """Track commands changed the effective priority (1..254; the owner never changes)."""
        if self.params.priority == OWNER_PRIORITY:
            return []
        priority = max(1, min(254, priority))
        if priority == self.priority:
            return []
        self.priority = priority
        if self.state == MASTER:
            # Tell the backups at once: one with preempt and a higher priority takes over.
            self.adver_timer = now + self.params.advert_interval
            return [SendAdvert(priority)]
        return []

    def tick(self, now: float) -> list[Action]:
        if self.state == BACKUP and self.master_down_timer is not None:
            if now >= self.master_down_timer:
                if self.preempting:
                    return self._become_master(
                        now, f"preempting the lower-priority master {self.master}",
                        "preempted")
                return self._become_master(now, "master down interval expired",
                                           "master_no_response")
        elif self.state == MASTER and self.adver_timer is not None and now >= self.adver_timer:
            self.adver_timer = now + self.params.advert_interval
            return [SendAdvert(self.priority)]
        return []

    def advert(self, now: float, heard: Heard) -> list[Action]:
        if self.state == BACKUP:
            return self._backup_heard(now, heard)
        if self.state == MASTER:
            return self._master_heard(now, heard)
        return []

    # -- section 6.4.2: Backup --

    def _backup_heard(self, now: float, heard: Heard) -> list[Action]:
        if heard.priority == 0:
            self.master = None
            self.preempting = False
            self.master_down_timer = now + self.skew_time
            return []
        if not self._may_preempt(now) or heard.priority >= self.priority:
            if self.params.learn_master_interval:
                self.master_adver_interval = heard.advert_interval
            self.master = heard.source
            self.preempting = False
            self.master_down_timer = now + self.master_down_interval
        else:  # a lower-priority master: ignore it, our Master_Down_Timer preempts
            self.master = heard.source
            self.preempting = True
        return []

    def _may_preempt(self, now: float) -> bool:
        if not self.params.preempt:
            return False
        started = self.started_at if self.started_at is not None else now
        return now >= started + self.params.preempt_delay

    # -- section 6.4.3: Master --

    def _master_heard(self, now: float, heard: Heard) -> list[Action]:
        if heard.priority == 0:
            self.adver_timer = now + self.params.advert_interval
            return [SendAdvert(self.priority)]
        if heard.priority > self.priority or (
            heard.priority == self.priority and _address_key(heard.source) > self._address_key
        ):
            self.adver_timer = None
            if self.params.learn_master_interval:
                self.master_adver_interval = heard.advert_interval
            self.master = heard.source
            self.master_down_timer = now + self.master_down_interval
            reason = f"higher priority {heard.priority} from {heard.source}"
            return [RemoveAddresses(), self._change(BACKUP, reason)]
        return []

    # -- helpers --

    def _become_master(self, now: float, reason: str, master_reason: str) -> list[Action]:
        self.master_down_timer = None
        self.adver_timer = now + self.params.advert_interval
        self.master = self.params.address
        self.preempting = False
        return [SendAdvert(self.priority), AddAddresses(),
                self._change(MASTER, reason, master_reason)]

    def _change(self, new: str, reason: str, master_reason: str | None = None) -> StateChange:
        old, self.state = self.state, new
        return StateChange(old, new, reason, self.priority, master_reason)
