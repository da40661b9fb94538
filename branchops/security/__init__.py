"""Least-privilege credentials: what each CI job's credentials may write, enforced by the servers.

- :mod:`~branchops.security.postgres_roles`: the embedded catalog on PostgreSQL: roles for the
  PR, merge and gc jobs, and triggers that refuse a PR role's writes to protected refs.
- :mod:`~branchops.security.storage`: per-branch prefixes for new files, so an S3 policy can
  confine a PR job's credentials to its own prefix.
"""
