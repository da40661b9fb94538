"""What the global options put in place for every command."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from branchops.cli.output import OutputFormat
from branchops.config import Settings, load_settings
from branchops.lakehouse import Lakehouse


@dataclass
class State:
    config: Path | None = None
    output: OutputFormat = OutputFormat.TEXT
    debug: bool = False
    _lakehouse: Lakehouse | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        return load_settings(self.config)

    def lakehouse(self) -> Lakehouse:
        if self._lakehouse is None:
            self._lakehouse = Lakehouse(self.settings())
        return self._lakehouse

    def fmt(self, override: OutputFormat | None) -> OutputFormat:
        return override or self.output


STATE = State()
