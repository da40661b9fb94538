"""Importing a command module registers its commands on the app; one line per module."""

from branchops.cli import branch, setup  # noqa: F401
from branchops.cli import diff  # noqa: F401
from branchops.cli import pr  # noqa: F401
from branchops.cli import dbt  # noqa: F401
