"""Importing a command module registers its commands on the app; one line per module."""

from branchops.cli import branch, setup  # noqa: F401
