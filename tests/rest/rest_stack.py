"""What the REST tests share: the data on each branch and the served lakehouse."""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

from branchops.lakehouse import Lakehouse
from branchops.rest import RestServer

MAIN_ORDERS = pa.table({"id": pa.array([1, 2, 3], pa.int64()), "amount": [10.0, 20.0, 30.0]})
FEAT_EXTRA = pa.table({"id": pa.array([4], pa.int64()), "amount": [40.0]})


@dataclass
class Served:
    lh: Lakehouse
    server: RestServer

    @property
    def uri(self) -> str:
        return self.server.uri
