"""The SQL backend: a versioned catalog in SQLite or PostgreSQL, over pyiceberg's JDBC tables."""
