"""Fixes for pysyncobj's traps, in one place (checked against pysyncobj 0.3.17 only).

pysyncobj is the Raft library of the masters; each item below is a trap found in its
source, with the smallest change that closes it. `pyproject.toml` pins the version these
were read against: a new pysyncobj needs this file re-read, since several fixes replace
name-mangled private methods (`_TcpConnection__...`), which a new version may rename.

Wire (a peer that is not a master, or not yet identified):
- Frames may declare up to 2 GiB, and the tick thread read a socket until it was empty
  into an ever-growing `bytes` (quadratic copying): a peer with no password could stop
  heartbeats for a minute. `GuardedTcpConnection` drops frames above `MAX_FRAME`,
  buffers in a `bytearray` and reads at most `READS_PER_EVENT` chunks per poll event.
- An accepted connection that never completes the handshake lived forever (the idle
  timeout is only checked when the socket has events). `GuardedTransport` drops
  connections not identified within `HANDSHAKE_TIMEOUT` and keeps at most
  `MAX_UNIDENTIFIED` of them.
  (The first frame is decrypted with the password and then unpickled: the password is
  a code-execution key. That one is fixed by configuration: the Raft secret is its own
  file, held only by masters, never the API token; see `raftkube.state.secrets`.)

Disk:
- The dump was written to `<dump>.tmp` and renamed without fsync before the journal was
  compacted; the term/vote file likewise. Both now fsync the file and its directory.
- The journal grows its mmap with ftruncate (a sparse file): on a full disk the next
  write into the mapping dies with SIGBUS, no message. Growth now reserves the blocks
  with posix_fallocate first, so a full disk is an OSError (ENOSPC), logged by the tick
  thread, and an entry is added to the in-memory journal only once it is written.

Log replication:
- On a successful ack, the leader set the follower's next index to the ack's, even when
  it had already sent further: under load every ack rewound it, so each entry went out
  again (pickled, compressed, encrypted) and again. `keep_next_index` keeps the larger.
- A follower given entries it already holds deleted everything after the message's
  previous index and re-added the message's entries, even entries it had applied
  ("truncating already-applied log entries"): until the leader's next message its log
  was shorter than what it had acknowledged, so a leader lost then could take committed
  entries with it (hashicorp/raft#113 is the same bug). Raft truncates only on a
  conflict; `skip_held_entries` turns such a message into a heartbeat at the end of the
  follower's log when every entry it carries is already there.

Time:
- While there is no leader, submitted commands wait in pysyncobj's queue with no expiry
  and may commit much later. `StampingQueue` makes the leader put its own wall-clock time
  into the log (a `stamp_clock` entry) before the commands it appends, at most every
  `STAMP_INTERVAL`; the state machine refuses a command whose deadline is before that
  time (see `ClusterState.apply`).
"""

from __future__ import annotations

import base64
import errno
import logging
import mmap
import os
import socket
import struct
import time
import zlib

import pysyncobj.pickle as raft_pickle
import pysyncobj.serializer
from pysyncobj.journal import FileJournal, MetaStorer, ResizableFile
from pysyncobj.monotonic import monotonic
from pysyncobj.tcp_connection import TcpConnection
from pysyncobj.transport import TCPTransport

logger = logging.getLogger(__name__)

PYSYNCOBJ_VERSION = "0.3.17"
MAX_FRAME = 16 * 2**20
READS_PER_EVENT = 16
HANDSHAKE_TIMEOUT = 3.0
MAX_UNIDENTIFIED = 16
STAMP_INTERVAL = 0.25
JOURNAL_GROWTH_STEP = 32 * 2**20
REGULAR_COMMAND = b"\x00"  # pysyncobj's _COMMAND_TYPE.REGULAR as the entry's first byte
MEMBERSHIP_COMMAND = b"\x02"  # _COMMAND_TYPE.MEMBERSHIP


# -- the wire -----------------------------------------------------------------------------

class GuardedTcpConnection(TcpConnection):
    """A TcpConnection with a frame cap and a bounded read per poll event."""

    def _TcpConnection__tryReadBuffer(self):
        for _ in range(READS_PER_EVENT):  # the poller is level-triggered: the rest comes next tick
            if not self._TcpConnection__processRead():
                break
        self._TcpConnection__lastReadTime = monotonic()

    def _TcpConnection__processRead(self):
        try:
            incoming = self._TcpConnection__socket.recv(self._TcpConnection__recvBufferSize)
        except socket.error as exc:
            if exc.errno not in (errno.EAGAIN, errno.EWOULDBLOCK):
                self.disconnect()
            return False
        if not incoming:
            self.disconnect()
            return False
        buffer = self._TcpConnection__readBuffer
        if not isinstance(buffer, bytearray):  # pysyncobj resets it to bytes() on (dis)connect
            buffer = self._TcpConnection__readBuffer = bytearray(buffer)
        buffer += incoming
        return True

    def _TcpConnection__processParseMessage(self):
        buffer = self._TcpConnection__readBuffer
        if len(buffer) < 4:
            return None
        length = struct.unpack("i", buffer[:4])[0]
        if not 0 < length <= MAX_FRAME:
            logger.warning("Raft peer sent a frame of %d bytes (limit %d): dropping the connection", length, MAX_FRAME)
            self.disconnect()
            return None
        if len(buffer) - 4 < length:
            return None
        data = bytes(buffer[4:4 + length])
        try:
            if self.encryptor:
                # decrypt() verifies the whole token; the timestamp is then read from its
                # first 12 base64 characters (version byte + 8 bytes), where pysyncobj's
                # extract_timestamp decoded and verified the whole token a second time.
                plain = self.encryptor.decrypt(data)
                timestamp = struct.unpack(">Q", base64.urlsafe_b64decode(data[:12])[1:9])[0]
                if timestamp < self.recvLastTimestamp:
                    raise ValueError("replayed frame")
                self.recvLastTimestamp = timestamp
                data = plain
            message = raft_pickle.loads(zlib.decompress(data))
            if self.recvRandKey:
                rand_key, message = message
                if rand_key != self.recvRandKey:
                    raise ValueError("wrong session key")
        except Exception as exc:  # not a master, or not our secret: never say more to it
            logger.info("Raft peer sent an unreadable frame (%s): dropping the connection", type(exc).__name__)
            self.disconnect()
            return None
        del buffer[:4 + length]
        return message


def _guard(conn: TcpConnection) -> None:
    # pysyncobj builds its TcpConnections itself (TcpServer on accept, TCPTransport.addNode);
    # switching the class before the first poll event is the smallest way in.
    if type(conn) is TcpConnection:
        conn.__class__ = GuardedTcpConnection


class GuardedTransport(TCPTransport):
    """TCPTransport whose connections are guarded and whose handshakes have a deadline."""

    def _onNewIncomingConnection(self, conn):
        _guard(conn)
        if len(self._unknownConnections) >= MAX_UNIDENTIFIED:
            logger.warning("more than %d unidentified Raft connections: refusing one", MAX_UNIDENTIFIED)
            conn.disconnect()
            return
        conn.raftkube_accepted = monotonic()
        super()._onNewIncomingConnection(conn)

    def addNode(self, node):
        super().addNode(node)
        conn = self._connections.get(node)
        if conn is not None:
            _guard(conn)

    def _onTick(self):
        super()._onTick()
        if not self._unknownConnections:
            return
        now = monotonic()
        for conn in list(self._unknownConnections):
            if now - getattr(conn, "raftkube_accepted", now) > HANDSHAKE_TIMEOUT:
                logger.info("Raft peer did not identify itself within %.0fs: dropping it", HANDSHAKE_TIMEOUT)
                conn.disconnect()
                self._unknownConnections.discard(conn)


# -- the disk -----------------------------------------------------------------------------

def fsync_directory(path: str) -> None:
    fd = os.open(path or ".", os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def durable_replace(tmp: str, final: str) -> bool:
    """Rename `tmp` over `final` with both the data and the rename on disk."""
    fd = os.open(tmp, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, final)
    fsync_directory(os.path.dirname(final))
    return True


def _store_meta(self: MetaStorer, meta: dict) -> None:
    """MetaStorer.storeMeta with fsync: the term and vote must survive a power cut."""
    path = self.getPath()
    with open(path + ".tmp", "wb") as f:
        f.write(raft_pickle.dumps(meta))
        f.flush()
        os.fsync(f.fileno())
    os.replace(path + ".tmp", path)
    fsync_directory(os.path.dirname(path))


def _resizable_write(self: ResizableFile, offset: int, values: bytes) -> None:
    """ResizableFile.write that reserves disk blocks before growing the mapping."""
    mapping = self._ResizableFile__mm
    end = offset + len(values)
    if end > mapping.size():
        current = mapping.size()
        wanted = max(end, min(int(current * self._ResizableFile__resizeFactor), current + JOURNAL_GROWTH_STEP))
        f = self._ResizableFile__f
        try:
            os.posix_fallocate(f.fileno(), current, wanted - current)
        except OSError as exc:
            raise OSError(exc.errno, f"cannot grow the Raft journal {self._ResizableFile__fileName} "
                                     f"to {wanted} bytes: {exc.strerror}") from None
        try:
            mapping.resize(wanted)
        except (SystemError, OSError):  # platforms without mremap: map the grown file again
            mapping.close()
            f.close()
            f = self._ResizableFile__f = open(self._ResizableFile__fileName, "r+b")
            mapping = self._ResizableFile__mm = mmap.mmap(f.fileno(), 0)
    mapping[offset:end] = values


def _journal_add(self: FileJournal, command: bytes, idx: int, term: int) -> None:
    """FileJournal.add that keeps the in-memory journal unchanged when the write fails."""
    record = struct.pack("<QQ", idx, term) + raft_pickle.to_bytes(command)
    size = struct.pack("<I", len(record))
    record = size + record + size
    self._FileJournal__journalFile.write(self._FileJournal__currentOffset, record)
    self._FileJournal__journal.append((command, idx, term))
    self._FileJournal__currentOffset += len(record)
    self._FileJournal__setLastRecordOffset(self._FileJournal__currentOffset)


pysyncobj.serializer.atomicReplace = durable_replace
MetaStorer.storeMeta = _store_meta
ResizableFile.write = _resizable_write
FileJournal.add = _journal_add


# -- log replication ----------------------------------------------------------------------

def skip_held_entries(message: dict, log) -> dict:
    """An append_entries message, rewritten when the follower already holds all it carries.

    `log` is pysyncobj's journal of (command, index, term). Only when the log ends with
    entries of the message's own term, past the message's last entry: those came from
    this very leader, so (Raft's log matching) the log agrees with the leader's up to its
    end, and acknowledging it all is true. Anything else is left to pysyncobj as is.
    """
    entries = message.get("entries")
    if not entries or "transmission" in message or "prevLogIdx" not in message or not len(log):
        return message
    term = message.get("term")
    last = log[-1]
    if last[2] != term or last[1] <= entries[-1][1]:
        return message
    first = log[0][1]
    for index, entry_term in [(message["prevLogIdx"], message.get("prevLogTerm"))] + [(e[1], e[2]) for e in entries]:
        position = index - first
        if position < 0 or log[position][1] != index or log[position][2] != entry_term:
            return message
    return {**message, "entries": [], "prevLogIdx": last[1], "prevLogTerm": last[2]}


def keep_next_index(next_index: dict, node, before) -> None:
    """After a successful ack: the follower's next index never moves back below `before`."""
    if before is not None and next_index.get(node, before) < before:
        next_index[node] = before


# -- time ---------------------------------------------------------------------------------

class StampingQueue:
    """Wraps pysyncobj's command queue: on the leader, a clock entry goes before commands.

    `_checkCommandsToApply` takes commands with `get_nowait()` on the tick thread and,
    when this node leads, appends each one to the log at once; so the time read here is
    the leader's time at append, and the stamp precedes the commands in the log.
    """

    def __init__(self, queue, is_leader, term, clock_command):
        self._queue = queue
        self._is_leader, self._term, self._clock_command = is_leader, term, clock_command
        self._held = None
        self._stamped_at = 0.0
        self._stamped_term = None

    def put_nowait(self, item) -> None:
        self._queue.put_nowait(item)

    def get_nowait(self):
        if self._held is not None:
            item, self._held = self._held, None
            return item
        item = self._queue.get_nowait()
        if self._is_leader():
            now = time.time()
            term = self._term()
            if now - self._stamped_at >= STAMP_INTERVAL or term != self._stamped_term:
                self._held = item
                self._stamped_at, self._stamped_term = now, term
                return self._clock_command(now), None
        return item


def regular_command(func_id: int, args: tuple) -> bytes:
    """A replicated call as pysyncobj encodes it in the log (see `replicated`)."""
    return REGULAR_COMMAND + raft_pickle.dumps((func_id, args))


def decode_regular(command: bytes):
    """(func_id, args) of a regular command, None for pysyncobj's own entries."""
    if command[:1] != REGULAR_COMMAND:
        return None
    decoded = raft_pickle.loads(command[1:])
    if isinstance(decoded, tuple) and len(decoded) >= 2:
        return decoded[0], decoded[1]
    return decoded, ()
