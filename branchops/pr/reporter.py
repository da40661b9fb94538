"""Where a PR report goes: the sticky comment on GitHub, or the terminal on a local run; plus
``$GITHUB_OUTPUT`` and ``$GITHUB_STEP_SUMMARY`` inside GitHub Actions; the ``branchops`` check on
the PR's head; and the forge (GitHub or GitLab) that merges the PR's code."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Protocol

from branchops.pr.github import (
    MARKER,
    Check,
    CodeMerge,
    GitHubClient,
    append_step_summary,
    outputs_json,
    run_url,
    write_outputs,
)
from branchops.pr.gitlab import GitLabClient
from branchops.pr.model import Outcome, Status
from branchops.secrets import redact


class Forge(Protocol):
    """What GitHub and GitLab both do for a PR: the required check and the pinned code merge."""

    def start_check(self, sha: str, details_url: str | None = None) -> Check: ...

    def finish_check(
        self, check: Check, ok: bool, title: str, summary: str, details_url: str | None = None
    ) -> None: ...

    def merge_pull(self, pr: int, sha: str, title: str, method: str = "merge") -> CodeMerge: ...

    def pull_merged(self, pr: int) -> CodeMerge | None: ...

    def close(self) -> None: ...


class Reporter:
    def __init__(
        self,
        github: GitHubClient | None,
        *,
        gitlab: GitLabClient | None = None,
        echo: Callable[[str], None] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.github = github
        self.gitlab = gitlab
        self.echo = echo or (lambda text: print(text))
        self.env = os.environ if env is None else env

    @classmethod
    def from_env(cls, echo: Callable[[str], None] | None = None) -> Reporter:
        return cls(GitHubClient.from_env(), gitlab=GitLabClient.from_env(), echo=echo)

    @property
    def forge(self) -> Forge | None:
        """GitHub when configured, else GitLab, else None (a local run)."""
        return self.github if self.github is not None else self.gitlab

    def publish(self, outcome: Outcome, *, comment: bool = True, marker: str = MARKER) -> None:
        """Post (or print) the report and hand the outcome to the CI job; ``marker`` names the
        sticky comment it edits (the PR report's by default)."""
        markdown = outcome.report or ""
        if marker != MARKER:
            markdown = markdown.replace(MARKER, marker)
        if comment and markdown:
            if self.github is not None:
                posted = self.github.upsert_sticky_comment(outcome.pr, markdown, marker)
                outcome.comment_url = posted.html_url or None
            else:
                self.echo(redact(markdown))
        self.outputs(outcome)
        if markdown:
            append_step_summary(markdown, self.env)

    def outputs(self, outcome: Outcome) -> None:
        write_outputs(
            {
                "branch": outcome.branch,
                "status": outcome.status.value,
                "changed_tables": outputs_json(outcome.changed_tables),
            },
            self.env,
        )

    def approvers(self, pr: int, sha: str) -> list[str] | None:
        """Approvers of ``sha``, or None when GitHub is not reachable from here (no token)."""
        return None if self.github is None else self.github.approvers(pr, sha)

    # -- the required check ---------------------------------------------------------------
    def start_check(self, sha: str) -> Check | None:
        """The ``branchops`` check on ``sha``, in progress (None on a local run)."""
        forge = self.forge
        return None if forge is None else forge.start_check(sha, run_url(self.env))

    def finish_check(self, check: Check | None, outcome: Outcome) -> None:
        forge = self.forge
        if check is None or forge is None:
            return
        ok = outcome.status is Status.PASSED
        title = f"PR #{outcome.pr}: {outcome.status.value}" + (
            f", {len(outcome.changed_tables)} table(s) changed" if ok else f": {outcome.reason or 'failed'}")
        forge.finish_check(check, ok, title, outcome.report or title, outcome.comment_url or run_url(self.env))

    # -- the code merge ---------------------------------------------------------------------
    def merge_code(self, pr: int, sha: str, title: str) -> CodeMerge | None:
        """Merge the PR's code pinned to ``sha``; None when no forge is configured."""
        forge = self.forge
        return None if forge is None else forge.merge_pull(pr, sha, title)

    def code_merged(self, pr: int) -> CodeMerge | None:
        forge = self.forge
        return None if forge is None else forge.pull_merged(pr)

    def close(self) -> None:
        for forge in (self.github, self.gitlab):
            if forge is not None:
                forge.close()
