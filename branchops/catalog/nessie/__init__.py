"""The Nessie backend: a versioned catalog over a Nessie server's REST API v2."""
