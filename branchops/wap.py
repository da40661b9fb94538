"""Who owns a write-audit-publish branch, and whether that writer is still alive.

A writer's private branch is named ``branchops-wap-<host>-<pid>-<started>-<random>``: the host
(a short hash of its name), the writing process and when it started (Unix seconds). From the
name alone, any branchops process can tell:

- on the same host: whether the writer still runs (its pid is alive). A dead writer's branch is
  garbage at once: the next write or ``gc`` drops it;
- on another host: nothing about the process, so its branch counts as live for a lease
  (``gc_wap_lease``, default 24 h) after it started, then as garbage;
- that every file the writer wrote is newer than ``started``: ``gc`` deletes no unreferenced file
  newer than the oldest live writer's start, so files written but not yet committed survive.

Branches named the old way (``branchops-wap-<random>``) have no owner: they are garbage once
idle longer than the lease.

The same owner-in-the-name lease guards a user-visible branch while a command works on it (a
``pr sync`` forking, building and recording ``pr-N``; a ``pr merge``): :func:`leasing` holds
``branchops-wap-lease-<host>-<pid>-<started>-<random>.<branch>`` for the command's duration, and
``gc`` drops no branch a live lease names (:func:`leased_branches`), nor files newer than its start.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import socket
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Concatenate, ParamSpec, Protocol, TypeVar

from branchops.catalog.base import INTERNAL_PREFIX, RefType
from branchops.errors import ReferenceConflict, RefNotFound

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from branchops.catalog.base import VersionedCatalog

_OWNER = r"(?P<host>[0-9a-f]{8})-(?P<pid>\d+)-(?P<started>\d+)-[0-9a-f]+"
_NAME = re.compile(rf"^{re.escape(INTERNAL_PREFIX)}{_OWNER}$")
_LEASE = re.compile(rf"^{re.escape(INTERNAL_PREFIX)}lease-{_OWNER}\.(?P<branch>.+)$")


def host_id() -> str:
    return hashlib.sha256(socket.gethostname().encode()).hexdigest()[:8]


def _owner_tag() -> str:
    """``<host>-<pid>-<started>-<random>``: this process, starting now (what ``_OWNER`` parses)."""
    return f"{host_id()}-{os.getpid()}-{int(time.time())}-{uuid.uuid4().hex[:8]}"


def new_branch_name() -> str:
    """The private branch name of a write by this process, starting now."""
    return f"{INTERNAL_PREFIX}{_owner_tag()}"


@dataclass(frozen=True)
class Owner:
    host: str
    pid: int
    started: datetime

    @property
    def local(self) -> bool:
        return self.host == host_id()


def owner_of(name: str) -> Owner | None:
    m = _NAME.match(name) or _LEASE.match(name)
    if m is None:
        return None
    return Owner(m["host"], int(m["pid"]), datetime.fromtimestamp(int(m["started"]), UTC))


def pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return _not_a_zombie(pid)


def _not_a_zombie(pid: int) -> bool:
    """A killed child that its parent has not reaped yet still answers ``kill(pid, 0)``."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def is_live(name: str, lease: timedelta, now: datetime, updated_at: datetime | None = None) -> bool:
    """Whether a live writer may still be using WAP branch ``name`` (see module docstring)."""
    owner = owner_of(name)
    if owner is not None and owner.local:
        return pid_alive(owner.pid)
    since = owner.started if owner is not None else updated_at
    return since is not None and now - since <= lease


def live_since(catalog: VersionedCatalog, lease: timedelta, now: datetime) -> datetime | None:
    """When the oldest live writer started (None when no writer is live)."""
    starts = []
    for ref in catalog.list_refs(include_internal=True):
        if not ref.name.startswith(INTERNAL_PREFIX):
            continue
        owner = owner_of(ref.name)
        if owner is None:
            with contextlib.suppress(RefNotFound):
                updated = datetime.fromisoformat(catalog.ref_updated_at(ref.name))
                if now - updated <= lease:
                    starts.append(updated)
            continue
        if is_live(ref.name, lease, now):
            starts.append(owner.started)
    return min(starts) if starts else None


def sweep_dead_local_writers(catalog: VersionedCatalog) -> list[str]:
    """Drop the WAP branches of writers on this host that are gone (killed, crashed); their names."""
    dropped = []
    for ref in catalog.list_refs(include_internal=True):
        owner = owner_of(ref.name)
        if ref.type is not RefType.BRANCH or owner is None or not owner.local or pid_alive(owner.pid):
            continue
        with contextlib.suppress(RefNotFound, ReferenceConflict):
            catalog.drop_branch(ref.name, expected_hash=ref.hash)
            dropped.append(ref.name)
    return dropped


# -- leases on user-visible branches --------------------------------------------------------------
def lease_name(branch: str) -> str:
    """The lease this process takes, starting now, on ``branch``."""
    return f"{INTERNAL_PREFIX}lease-{_owner_tag()}.{branch}"


def leased_branch(name: str) -> str | None:
    """The branch lease ``name`` guards (None: not a lease)."""
    m = _LEASE.match(name)
    return m["branch"] if m else None


def leased_branches(catalog: VersionedCatalog, lease: timedelta, now: datetime) -> set[str]:
    """The branches a live process holds a lease on (see :func:`is_live`)."""
    out = set()
    for ref in catalog.list_refs(include_internal=True):
        branch = leased_branch(ref.name)
        if branch is not None and is_live(ref.name, lease, now):
            out.add(branch)
    return out


@contextlib.contextmanager
def leasing(catalog: VersionedCatalog, branch: str) -> Iterator[str]:
    """Hold a lease on ``branch`` while the block runs: gc leaves the branch (and files written
    since) alone. The lease is a private branch at the default branch's head, dropped on exit; a
    killed holder's lease is dropped like a killed writer's branch."""
    name = lease_name(branch)
    catalog.create_branch(name)
    try:
        yield name
    finally:
        with contextlib.suppress(RefNotFound, ReferenceConflict):
            catalog.drop_branch(name)


class _PrCommands(Protocol):
    @property
    def catalog(self) -> VersionedCatalog: ...

    def branch(self, pr: int) -> str: ...


_Cmds = TypeVar("_Cmds", bound=_PrCommands)
_P = ParamSpec("_P")
_R = TypeVar("_R")


def holds_pr_lease(
    method: Callable[Concatenate[_Cmds, int, _P], _R],
) -> Callable[Concatenate[_Cmds, int, _P], _R]:
    """A ``pr`` command (first argument: the PR number) runs under a lease on its PR branch."""
    @functools.wraps(method)
    def run(self: _Cmds, pr: int, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        with leasing(self.catalog, self.branch(pr)):
            return method(self, pr, *args, **kwargs)

    return run
