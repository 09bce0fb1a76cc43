"""Pairing policy (newest pair wins, nothing queues up) and the 1-slot worker hand-off, without DDS."""
from __future__ import annotations

import itertools
import threading
import time

import numpy as np
import pytest
from builtin_interfaces.msg import Time

from depth_completion_ros.sync import (
    NANOSECONDS,
    ApproximatePairSync,
    LatestSlot,
    StampGuard,
    StampRejected,
    stamp_to_ns,
)

MS = 1_000_000  # nanoseconds


def test_stamp_to_ns_is_exact_for_large_stamps():
    assert stamp_to_ns(Time(sec=1_700_000_000, nanosec=123_456_789)) == 1_700_000_000_123_456_789


def test_pair_fires_on_the_first_match_in_input_order_whatever_arrives_first():
    sync = ApproximatePairSync(slop_s=0.010, queue_size=5)
    assert sync.add(1, 100 * MS, "colour-100") is None
    assert sync.add(0, 105 * MS, "depth-105") == ("depth-105", "colour-100")
    assert sync.add(0, 200 * MS, "depth-200") is None
    assert sync.add(1, 195 * MS, "colour-195") == ("depth-200", "colour-195")
    assert sync.dropped == [0, 0]


def test_no_pair_beyond_slop_and_slop_bound_is_inclusive():
    sync = ApproximatePairSync(slop_s=0.010, queue_size=5)
    assert sync.add(0, 100 * MS, "d") is None
    assert sync.add(1, 111 * MS, "c-late") is None
    assert sync.add(0, 121 * MS, "d2") == ("d2", "c-late")  # exactly 10 ms apart
    assert sync.dropped == [1, 0]  # depth-100 never found a partner and was superseded


def test_closest_partner_wins_and_older_unmatched_messages_are_dropped():
    sync = ApproximatePairSync(slop_s=0.015, queue_size=10)
    for stamp in (100, 110, 120):
        assert sync.add(1, stamp * MS, f"c{stamp}") is None
    assert sync.add(0, 118 * MS, "d118") == ("d118", "c120")
    # c100 and c110 are older than the emitted pair: never emitted later.
    assert sync.dropped == [0, 2]
    assert sync.add(0, 130 * MS, "d130") is None


def test_a_backlog_is_skipped_so_latency_never_grows():
    """Colour runs ahead while depth is late: the newest depth pairs with its own colour, not the oldest."""
    sync = ApproximatePairSync(slop_s=0.005, queue_size=5)
    for k in range(5):
        assert sync.add(1, k * 33 * MS, f"c{k}") is None
    assert sync.add(0, 4 * 33 * MS, "d4") == ("d4", "c4")
    assert sync.dropped == [0, 4]


def test_queue_overflow_drops_the_oldest():
    sync = ApproximatePairSync(slop_s=0.001, queue_size=3)
    for k in range(5):
        assert sync.add(0, k * 100 * MS, k) is None
    assert sync.dropped == [2, 0]
    assert sync.add(1, 200 * MS, "c") == (2, "c")  # 0 and 1 were evicted, 2 is still queued
    assert sync.dropped == [2, 0]


def test_duplicate_and_out_of_order_stamps_are_rejected_without_side_effects():
    sync = ApproximatePairSync(slop_s=0.010, queue_size=5)
    sync.add(0, 100 * MS, "d100")
    with pytest.raises(StampRejected) as duplicate:
        sync.add(0, 100 * MS, "again")
    assert duplicate.value.reason == "duplicate_stamp"
    with pytest.raises(StampRejected) as older:
        sync.add(0, 90 * MS, "older")
    assert older.value.reason == "out_of_order"
    assert "10.000 ms older" in str(older.value)
    assert sync.add(1, 101 * MS, "c101") == ("d100", "c101")
    assert sync.dropped == [0, 0]


def test_a_large_backward_jump_restarts_the_time_line():
    sync = ApproximatePairSync(slop_s=0.010, queue_size=5, jump_reset_s=1.0)
    sync.add(0, 50 * NANOSECONDS, "d-before")
    sync.add(1, 49 * NANOSECONDS, "c-before")
    assert sync.add(0, 10 * NANOSECONDS, "d-after-loop") is None
    assert sync.time_jumps == 1
    assert sync.dropped == [1, 1]  # the queued pre-jump messages
    assert sync.add(1, 10 * NANOSECONDS, "c-after-loop") == ("d-after-loop", "c-after-loop")


def test_live_parameter_changes():
    sync = ApproximatePairSync(slop_s=0.001, queue_size=4)
    for k in range(4):
        sync.add(0, k * 10 * MS, k)
    sync.queue_size = 2
    assert sync.dropped == [2, 0]
    sync.slop_s = 0.02
    assert sync.slop_s == pytest.approx(0.02)
    assert sync.add(1, 35 * MS, "c") == (3, "c")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"slop_s": -0.1, "queue_size": 1},
        {"slop_s": 0.1, "queue_size": 0},
        {"slop_s": 0.1, "queue_size": 1, "jump_reset_s": 0},
    ],
)
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        ApproximatePairSync(**kwargs)


def test_bad_input_index_is_refused():
    with pytest.raises(ValueError, match="0 or 1"):
        ApproximatePairSync(0.01, 5).add(2, 0, None)


def test_jittery_streams_every_message_is_paired_dropped_or_queued_and_pairs_move_forward():
    """30 Hz depth and colour with jitter, losses and an offset: the accounting always balances."""
    rng = np.random.default_rng(7)
    slop = 0.012
    sync = ApproximatePairSync(slop_s=slop, queue_size=4)
    period = 33.3 * MS
    events = []
    for k in range(600):
        base = k * period
        if rng.random() > 0.1:
            events.append((base + rng.normal(0, 2 * MS), 0))
        if rng.random() > 0.1:
            events.append((base + 6 * MS + rng.normal(0, 2 * MS), 1))
    events.sort(key=lambda e: e[0] + rng.uniform(0, 45 * MS))  # arrival order is not stamp order
    accepted, rejected, pairs = [0, 0], 0, []
    for stamp, index in events:
        try:
            pair = sync.add(index, int(stamp), int(stamp))
        except StampRejected:
            rejected += 1
            continue
        accepted[index] += 1
        if pair is not None:
            pairs.append(pair)
    assert rejected > 0 and len(pairs) > 400
    assert all(abs(d - c) <= slop * NANOSECONDS for d, c in pairs)
    for column in (0, 1):
        stamps = [pair[column] for pair in pairs]
        assert all(b > a for a, b in itertools.pairwise(stamps))
        queued = len(sync._queues[column])
        assert accepted[column] == len(pairs) + sync.dropped[column] + queued


def test_latest_slot_keeps_only_the_newest_item():
    slot: LatestSlot[int] = LatestSlot()
    assert slot.put(1) is False
    assert slot.put(2) is True
    assert slot.get(timeout=0) == 2
    assert slot.dropped == 1
    assert slot.get(timeout=0.01) is None


def test_latest_slot_close_wakes_a_waiting_worker():
    slot: LatestSlot[int] = LatestSlot()
    results = []
    worker = threading.Thread(target=lambda: results.append(slot.get()))
    worker.start()
    time.sleep(0.05)
    slot.close()
    worker.join(timeout=2)
    assert not worker.is_alive() and results == [None]


def test_latest_slot_hands_items_across_threads_in_order_without_backlog():
    slot: LatestSlot[int] = LatestSlot()
    taken = []

    def consume() -> None:
        while (item := slot.get()) is not None:
            taken.append(item)
            time.sleep(0.002)  # a consumer slower than the producer

    worker = threading.Thread(target=consume)
    worker.start()
    for k in range(200):
        slot.put(k)
        time.sleep(0.0005)
    time.sleep(0.02)
    slot.close()
    worker.join(timeout=2)
    assert taken == sorted(taken) and taken[-1] == 199
    assert len(taken) + slot.dropped == 200


def test_stamp_guard_for_a_single_stream():
    guard = StampGuard(jump_reset_s=0.5)
    assert guard.check(10 * NANOSECONDS) is False
    with pytest.raises(StampRejected, match="repeats"):
        guard.check(10 * NANOSECONDS)
    with pytest.raises(StampRejected) as older:
        guard.check(10 * NANOSECONDS - 400 * MS)
    assert older.value.reason == "out_of_order"
    assert guard.check(11 * NANOSECONDS) is False
    assert guard.check(2 * NANOSECONDS) is True  # a jump back well beyond 0.5 s: a new time line
    assert guard.check(2 * NANOSECONDS + 33 * MS) is False

