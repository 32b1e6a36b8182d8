"""A master's data directory, checked before pysyncobj is let at it.

pysyncobj logs a damaged `raft.dump` and carries on with an empty state that never
applies again, reads a damaged term file as term 0, and lets a snapshot's membership
silently override the peers it is given. So a master looks at its files first and
refuses to start, saying which file and what to do: `raftkube master --resync` moves
the files aside and the master catches up from the leader; a membership that differs
from the inventory is fixed with `raftkube cluster add-master/remove-master`.
"""

from __future__ import annotations

import gzip
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pysyncobj.pickle as raft_pickle
from pysyncobj.journal import FileJournal

from raftkube.errors import UserError
from raftkube.state import raft_patches

logger = logging.getLogger(__name__)

JOURNAL = "raft.journal"
META = "raft.journal.meta"
DUMP = "raft.dump"


class DamagedState(UserError):
    """A file of the data directory cannot be read back."""


class MembershipDrift(UserError):
    """The Raft membership recorded here is not the inventory's masters."""


@dataclass(frozen=True)
class Recorded:
    """What the data directory holds: the membership, if a snapshot recorded one."""

    members: frozenset[str] | None


def prepare(data_dir: Path) -> None:
    """Create the directory (0700) and make the Raft files already there private (0600).

    Only those: setup keeps the start script and its marks in the same directory.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    for path in data_dir.glob("raft.*"):
        if path.is_file():
            os.chmod(path, 0o600)


def check(data_dir: Path, self_address: str, inventory_members: dict[str, str], master: str) -> Recorded:
    """Read the dump, the term file and the journal; refuse what is damaged or drifted.

    `inventory_members` maps each master's Raft address to its name in the inventory.
    """
    recorded = read(data_dir, master)
    if recorded.members is not None and recorded.members != frozenset(inventory_members):
        raise MembershipDrift(drift_message(data_dir, self_address, recorded.members, inventory_members))
    return recorded


def read(data_dir: Path, master: str) -> Recorded:
    dump_path, journal_path, meta_path = data_dir / DUMP, data_dir / JOURNAL, data_dir / META
    members = None
    dump_index = 0
    if dump_path.exists():
        try:
            with open(dump_path, "rb") as f, gzip.GzipFile(fileobj=f) as g:
                data = raft_pickle.load(g)
            members = {node.address for node in data[3]}
            dump_index = data[1][1]
        except Exception as exc:
            raise DamagedState(_damaged(dump_path, exc, master)) from None
    if meta_path.exists():
        try:
            meta = raft_pickle.loads(meta_path.read_bytes())
            if not isinstance(meta, dict) or not isinstance(meta.get("currentTerm", 0), int):
                raise ValueError("not a term record")
        except Exception as exc:
            raise DamagedState(_damaged(meta_path, exc, master)) from None
    if journal_path.exists():
        try:
            journal = FileJournal(str(journal_path))
        except Exception as exc:
            raise DamagedState(_damaged(journal_path, exc, master)) from None
        try:
            if members is not None:
                for command, index, _ in [journal[i] for i in range(len(journal))]:
                    if index > dump_index and command[:1] == raft_patches.MEMBERSHIP_COMMAND:
                        change = raft_pickle.loads(command[1:])
                        address = change[2].address if len(change) > 2 else change[1]
                        (members.add if change[0] == "add" else members.discard)(address)
        finally:
            journal._destroy()
    return Recorded(frozenset(members) if members is not None else None)


def _damaged(path: Path, exc: Exception, master: str) -> str:
    return (f"{path} is damaged ({type(exc).__name__}: {exc}); this master will not start on it. "
            f"If the other masters are healthy, run `raftkube master --resync ... --name {master}` "
            f"(it moves the data files aside and catches up from the leader)")


def drift_message(data_dir: Path, self_address: str, recorded: frozenset[str], inventory: dict[str, str]) -> str:
    only_recorded = sorted(recorded - set(inventory))
    only_inventory = sorted(set(inventory) - recorded)
    parts = [f"the Raft membership recorded in {data_dir} ({', '.join(sorted(recorded))}) is not the "
             f"inventory's masters ({', '.join(sorted(inventory))})"]
    if self_address not in recorded:
        parts.append(f"this master's address {self_address} is not a member, so it could never rejoin")
    fixes = [f"`raftkube cluster remove-master {address}`" for address in only_recorded]
    fixes += [f"`raftkube cluster add-master {inventory[address]}`" for address in only_inventory]
    advice = "run " + " and ".join(fixes) + " against the running masters"
    if self_address not in recorded:
        advice += ", then start this master with `--resync`"
    parts.append(advice)
    return "; ".join(parts)


def resync(data_dir: Path) -> list[Path]:
    """Move the Raft files aside (`<name>.damaged-<time>`); the master then starts empty
    and the leader sends it everything. Returns where they went."""
    stamp = time.strftime("%Y%m%dT%H%M%S")
    moved = []
    for name in (JOURNAL, META, DUMP, f"{DUMP}.tmp", f"{DUMP}.1.tmp"):
        path = data_dir / name
        if path.exists():
            target = data_dir / f"{name}.damaged-{stamp}"
            path.rename(target)
            moved.append(target)
    raft_patches.fsync_directory(str(data_dir))
    return moved
