"""The dbt command-line arguments branchops passes through, and the few it reads or owns."""

from __future__ import annotations

from collections.abc import Sequence

from branchops.errors import UsageError

#: flags that decide which nodes run (forwarded to the `ls` that finds incremental models to copy)
SELECTION_FLAGS = frozenset({
    "-s", "--select", "-m", "--models", "--model", "--exclude", "--selector", "--resource-type",
    "--resource-types", "--exclude-resource-type", "--exclude-resource-types", "--indirect-selection",
    "--state",
})
#: flags that change what parsing produces
PARSE_FLAGS = frozenset({"--vars"})
#: flags branchops sets itself: the profile, the project and where artifacts go
OWNED_FLAGS = frozenset({
    "--profiles-dir", "--profile", "--target", "-t", "--project-dir", "--target-path", "--log-path",
})


def _name(arg: str) -> str:
    return arg.split("=", 1)[0]


def pick(args: Sequence[str], flags: frozenset[str]) -> list[str]:
    """The occurrences of ``flags`` in ``args`` with their values (``--f a b`` and ``--f=a``)."""
    out: list[str] = []
    taking = False
    for arg in args:
        if arg.startswith("-"):
            taking = _name(arg) in flags and "=" not in arg
            if _name(arg) in flags:
                out.append(arg)
        elif taking:
            out.append(arg)
    return out


def has_flag(args: Sequence[str], *names: str) -> bool:
    return any(_name(a) in names for a in args)


def uses_state(args: Sequence[str]) -> bool:
    """Does the invocation compare against a previous manifest (``state:`` selectors, ``--defer``)?"""
    return any("state:" in a for a in args) or has_flag(args, "--defer", "--favor-state")


def check_owned(args: Sequence[str]) -> None:
    owned = sorted({_name(a) for a in args if _name(a) in OWNED_FLAGS})
    if owned:
        raise UsageError(
            f"branchops sets {', '.join(owned)} itself",
            unchanged="nothing was built or written",
            hint="drop those flags; use --project-dir of `branchops dbt` and target_schema in branchops.toml",
        )


def replace_selection(args: Sequence[str], select: Sequence[str]) -> list[str]:
    """``args`` with ``--select``/``--models`` replaced by ``select`` (other flags kept)."""
    picked = {"-s", "--select", "-m", "--models", "--model"}
    out: list[str] = []
    taking = False
    for arg in args:
        if arg.startswith("-"):
            taking = _name(arg) in picked and "=" not in arg
            if _name(arg) in picked:
                continue
        elif taking:
            continue
        out.append(arg)
    return [*out, "--select", *select] if select else out
