"""What the global options put in place for every command."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from branchops.cli.output import OutputFormat

if TYPE_CHECKING:
    from branchops.config import Settings
    from branchops.lakehouse import Lakehouse


@dataclass
class State:
    config: Path | None = None
    output: OutputFormat = OutputFormat.TEXT
    debug: bool = False
    _lakehouse: Lakehouse | None = field(default=None, repr=False)

    def settings(self) -> Settings:
        from branchops.config import load_settings

        return load_settings(self.config)

    def lakehouse(self) -> Lakehouse:
        if self._lakehouse is None:
            from branchops.lakehouse import Lakehouse

            self._lakehouse = Lakehouse(self.settings())
        return self._lakehouse

    def fmt(self, override: OutputFormat | None) -> OutputFormat:
        return override or self.output


STATE = State()
