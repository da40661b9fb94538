"""The ``branchops`` command line: thin commands over the library (see ``branchops.lakehouse``)."""

from branchops.cli.app import app, main

__all__ = ["app", "main"]
