"""pysyncobj's append-entries traps, closed in raft_patches: pure decisions over a log."""

from raftkube.state.raft_patches import keep_next_index, skip_held_entries


def log(*terms, first=1):
    """A journal as pysyncobj keeps it: (command, index, term), indexes from `first`."""
    return [(b"c%d" % (first + n), first + n, term) for n, term in enumerate(terms)]


def append(prev, prev_term, entries, term=2):
    return {"type": "append_entries", "term": term, "commit_index": 0, "prevLogIdx": prev,
            "prevLogTerm": prev_term, "entries": entries}


def test_a_stale_message_whose_entries_are_held_becomes_a_heartbeat_at_the_log_end():
    held = log(1, 2, 2, 2, 2, 2)  # indexes 1..6; 2..6 from this term's leader
    stale = append(2, 2, held[2:4])  # entries 3 and 4 again, after 5 and 6 arrived
    rewritten = skip_held_entries(stale, held)
    assert rewritten["entries"] == [] and (rewritten["prevLogIdx"], rewritten["prevLogTerm"]) == (6, 2)
    assert stale["entries"] == held[2:4]  # the message itself is not changed


def test_messages_that_bring_something_new_or_conflict_are_left_to_pysyncobj():
    held = log(1, 2, 2, 2)
    extends = append(2, 2, log(2, 2, 2, first=3))  # 3, 4 held, 5 new
    assert skip_held_entries(extends, held) is extends
    conflict = append(2, 2, log(3, first=3), term=3)  # index 3 in another term
    assert skip_held_entries(conflict, held) is conflict
    old_tail = log(1, 1, 1, 1)  # the log's end is not this leader's: may have to be cut
    assert skip_held_entries(append(1, 1, log(1, first=2)), old_tail)["entries"]
    missing_prev = append(9, 2, log(2, first=10))
    assert skip_held_entries(missing_prev, held) is missing_prev
    heartbeat = append(4, 2, [])
    assert skip_held_entries(heartbeat, held) is heartbeat
    chunked = {**append(2, 2, held[2:3]), "transmission": "start"}
    assert skip_held_entries(chunked, held) is chunked


def test_compacted_log_start_is_respected():
    held = log(2, 2, 2, 2, first=100)  # 100..103 after a snapshot
    stale = append(100, 2, held[1:2])
    assert skip_held_entries(stale, held)["prevLogIdx"] == 103
    before_snapshot = append(50, 2, log(2, first=51))
    assert skip_held_entries(before_snapshot, held) is before_snapshot


def test_a_successful_ack_never_rewinds_the_next_index():
    next_index = {"b": 10}  # pysyncobj just set it back to the ack's 10
    keep_next_index(next_index, "b", before=16)  # entries up to 15 were already sent
    assert next_index["b"] == 16
    next_index = {"b": 20}
    keep_next_index(next_index, "b", before=16)
    assert next_index["b"] == 20
    next_index = {}
    keep_next_index(next_index, "b", before=None)  # not a follower it knew
    assert next_index == {}
