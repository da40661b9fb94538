"""Importing a command module registers its commands on the app; one line per module."""

from branchops.cli import (  # noqa: F401
    branch,
    dbt,
    diff,
    pr,
    serve,
    setup,
)
