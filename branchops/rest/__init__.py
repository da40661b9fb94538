"""branchops' Apache Iceberg REST catalog: every branch of the versioned catalog, to any engine.

``branchops serve`` runs it; Trino (``iceberg.catalog.type=rest``), DuckDB (``ATTACH ... (TYPE
iceberg)``), Spark and pyiceberg's ``RestCatalog`` read any branch through it and write to any
unprotected one. A branch is named in the namespace (``analytics@pr-42``), in the table
(``orders@pr-42``) or as the catalog prefix (``warehouse=pr-42``); ``main`` when none names one.
"""

from branchops.rest.naming import BRANCH_SEPARATOR, RestError
from branchops.rest.server import RestServer
from branchops.rest.service import RestCatalogService

__all__ = ["BRANCH_SEPARATOR", "RestCatalogService", "RestError", "RestServer"]
