"""When this worker LISTENs, and what it does with the notices (the slot: pq/worker/slot.py).

- The slot's holder LISTENs, answers "new task" notices ('t:', 'w:') as every idle worker
  used to, and relays cancels ('c:') and pauses ('q:') to the workers watching it, which must
  hear them at once (a cancel kills the task where it runs).
- A watcher subscribes to nothing, so a NOTIFY does not wake it; it says whether it has a
  free task slot, and polls as before (the fallback for a lost notice).
- A worker that neither holds the slot nor watches a holder (for a moment, while the slot
  changes hands) LISTENs if it has tasks running or claimed ahead, for their cancels.

Taking the slot LISTENs and then claims once: a row that arrived while nobody listened is
found by that claim, and every later one is announced to us.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass
from typing import Any

from pq.store.db import PsycopgExecutor
from pq.store.redact import redact
from pq.worker.flow import FlowControl
from pq.worker.slot import BUSY_DELAY, HANDOVER_AFTER, ListenerSlot, slot_address

log = logging.getLogger("pq.worker")

_TASK_ID = re.compile(r"[0-9]{1,19}")  # a bigint, as 'c:<id>' carries it
_RELAYED = ("c:", "q:")  # what the holder passes on to its watchers


@dataclass(frozen=True)
class SlotTag:
    """The selector's tag of a slot socket: "held" (workers connecting to the slot we hold),
    "watch" (the holder we watch: notices, or its going) or "watcher" (one watching us)."""

    kind: str
    fd: int = -1


SLOT_HELD = SlotTag("held")
SLOT_WATCH = SlotTag("watch")


class Listening(FlowControl):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.subscribed = False  # the listener connection LISTENs on the channel
        self.busy_since: float | None = None  # the slot held with every task slot busy
        self.claim_owed = False  # the slot taken while busy: claim once a task slot frees

    def _listener_connected(self, ex: PsycopgExecutor) -> None:
        """A (new) listener connection subscribes to nothing until _tend_listener says so."""
        self.subscribed = False

    def _answers_new_tasks(self) -> bool:
        """Whether this worker claims on a new-task notice: the slot's holder does, unless
        all its task slots are busy while a watcher is idle. Then it hands the slot over
        now, and the new holder claims on taking it: claimed here, the row would wait
        behind our running tasks (as a row claimed ahead) while a worker sits idle."""
        if self.slot is None:
            return True
        if not self.slot.held:
            return False
        if self._free_slots() <= 0 and self.slot.idle_watchers:
            self.slot.handovers += 1
            self._let_go()
            return False
        return True

    # -- the slot, each loop turn ------------------------------------------------------------
    def _tend_listener(self) -> None:
        """Takes, keeps or lets go of the slot, and LISTENs or UNLISTENs to match."""
        if not self.link.listening:
            return
        if self.slot is None:
            self.slot = ListenerSlot(self._slot_address())
        if self.link.listener is None:
            self.subscribed = False  # the connection went, and its LISTEN with it
        slot = self.slot
        took = self._slot_turn(slot, time.monotonic())
        self._subscribe(slot.held or (not slot.watching and bool(self.children or self.held)))
        if took and not self.subscribed:  # the LISTEN failed: let another worker listen
            self._let_go()
            return
        # On taking the slot, claim what arrived while nobody listened (pauses need no second
        # look: the holder relayed them to us while we watched it). Taken while busy (nobody
        # idle wanted it), not before a task slot frees: claimed now, a row would wait behind
        # our running tasks.
        self.claim_owed = slot.held and (took or self.claim_owed)
        if self.claim_owed and self._free_slots() > 0:
            self.claim_owed = False
            self.maybe_work = True

    def _slot_turn(self, slot: ListenerSlot, now: float) -> bool:
        """Lets the slot go or takes it; True when it was just taken."""
        able = (
            self.link.listener is not None
            and self.link.up
            and not self.stopping
            and self._lease_left() > 0
        )
        busy = self._free_slots() <= 0
        if not (slot.held and busy):
            self.busy_since = None
        elif self.busy_since is None:
            self.busy_since = now
        if slot.held:
            handover = self.busy_since is not None and now - self.busy_since >= HANDOVER_AFTER
            if not able or (handover and slot.idle_watchers):
                if able:
                    slot.handovers += 1
                    log.debug("busy for %gs: handing the listener slot over", HANDOVER_AFTER)
                self._let_go()
            return False
        idle = able and self._waits_for_notices()
        slot.report(idle)
        if not able:
            return False
        fd = slot.take(now, idle)
        if fd is not None:
            self.waiter.watch(fd, SLOT_HELD if slot.held else SLOT_WATCH)
        return slot.held

    def _waits_for_notices(self) -> bool:
        """Idle: a free task slot and nothing to claim until a notice says so."""
        return self._free_slots() > 0 and not self.maybe_work and not self.held

    def _let_go(self) -> None:
        assert self.slot is not None
        for fd in self.slot.release():
            self.waiter.unwatch(fd)
        self.busy_since = None
        # Busy: an idle watcher should take it, not us again at the next turn.
        self.slot.retry_at = time.monotonic() + BUSY_DELAY

    def _subscribe(self, want: bool) -> None:
        if want == self.subscribed or self.link.listener is None:
            return
        if want:
            done = self.link.on_listener("listening", self._listen_on)
        else:
            done = self.link.on_listener("unlistening", self._listen_off)
        if done:
            self.subscribed = want

    def _listen_on(self, ex: PsycopgExecutor) -> None:
        self.queries.listen(ex, self.queries.channel)

    def _listen_off(self, ex: PsycopgExecutor) -> None:
        self.queries.unlisten(ex, self.queries.channel)

    def _slot_address(self) -> str:
        url = self.settings.listen_url or self.runtime.listen_url() or self.runtime.database_url()
        return slot_address(
            redact(url),
            self.queries.channel,
            ",".join(sorted(self.settings.queues)),
            ",".join(str(p) for p in sorted(self.settings.priority_list or [])),
        )

    # -- the slot's sockets, from the selector -----------------------------------------------
    def _on_slot_event(self, tag: SlotTag) -> None:
        """The selector saw one of the slot's sockets (tags above) become readable."""
        slot = self.slot
        if slot is None:
            return
        if tag == SLOT_HELD:
            for new in slot.accept():
                self.waiter.watch(new, SlotTag("watcher", new))
        elif tag == SLOT_WATCH:
            payloads, gone = slot.from_holder()
            if gone:
                fd = slot.watch_fd()
                if fd is not None:
                    self.waiter.unwatch(fd)
                # The holder let go or died: an idle worker should take the slot first.
                delay = 0.0 if self._waits_for_notices() else BUSY_DELAY
                slot.vacated(time.monotonic(), delay)
            self._on_payloads(payloads)
        elif not slot.from_watcher(tag.fd):
            self.waiter.unwatch(tag.fd)

    def _notice_wake_at(self) -> list[float]:
        """When deferred notices (pq/worker/herd.py) or the slot (a handover, another try)
        need a loop turn."""
        wake = []
        if (deferred := self.damper.wake_at()) is not None:
            wake.append(deferred)
        if self.slot is None:
            return wake
        if self.busy_since is not None and self.slot.idle_watchers:
            wake.append(self.busy_since + HANDOVER_AFTER)
        if not self.slot.held and not self.slot.watching:
            wake.append(self.slot.retry_at)
        return wake

    def _close_slot(self) -> None:
        if self.slot is not None:
            for fd in self.slot.close():
                self.waiter.unwatch(fd)

    # -- notices -----------------------------------------------------------------------------
    def _on_notifications(self) -> None:
        payloads = self.link.drain_notifications()
        if self.slot is not None and self.slot.held:
            relayed = [p for p in payloads if p.startswith(_RELAYED)]
            for fd in self.slot.relay(relayed):
                self.waiter.unwatch(fd)
        self._on_payloads(payloads)

    def _on_payloads(self, payloads: list[str]) -> None:
        # Any role that can connect may NOTIFY this channel: a payload is only a hint to look
        # at the database (which says what is true), and one pq never sends is ignored.
        cancel_hints: set[int] = set()
        for payload in payloads:
            kind, _, value = payload.partition(":")
            if kind == "t":  # deferred after a lost race (see pq/worker/herd.py)
                if (
                    value in self.settings.queues
                    and self._answers_new_tasks()
                    and self.damper.on_notice(time.monotonic())
                ):
                    self.maybe_work = True
            elif kind == "w":  # waiting work (pq/worker/flow.py)
                hears = value in self.settings.queues and self._answers_new_tasks()
                self.flow_due = self.flow_due or hears
            elif kind == "c" and _TASK_ID.fullmatch(value):
                cancel_hints.add(int(value))
            elif kind == "p" and not value:  # a schedule was created or resumed: look now
                self.scheduler.next_check = 0.0
            elif kind == "q":
                self.gate.stale = self.gate.stale or value in self.settings.queues
            else:
                log.debug("ignoring a notification pq does not send: %r", payload[:80])
        if cancel_hints & ({c.row["id"] for c in self.children.values()} | set(self._held_ids())):
            self.link.call("reading cancel requests", self._cancel_requested)
