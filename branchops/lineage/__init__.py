"""Column-level lineage from a dbt manifest's compiled SQL, and the classification of a PR's
modified models as breaking, non-breaking or metadata-only (see ``classify``)."""

from branchops.lineage.classify import Classifier, Kind, ModelChange, Reader, descendants
from branchops.lineage.sql import ALL, ROWS, LineageError, QueryColumns, Relation, columns_read, output_columns

__all__ = [
    "ALL",
    "ROWS",
    "Classifier",
    "Kind",
    "LineageError",
    "ModelChange",
    "QueryColumns",
    "Reader",
    "Relation",
    "columns_read",
    "descendants",
    "output_columns",
]
