"""Where a PR report goes: the sticky comment on GitHub, or the terminal on a local run; plus
``$GITHUB_OUTPUT`` and ``$GITHUB_STEP_SUMMARY`` inside GitHub Actions."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping

from branchops.github import GitHubClient, append_step_summary, outputs_json, write_outputs
from branchops.pr.model import Outcome
from branchops.secrets import redact


class Reporter:
    def __init__(
        self,
        github: GitHubClient | None,
        *,
        echo: Callable[[str], None] | None = None,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.github = github
        self.echo = echo or (lambda text: print(text))
        self.env = os.environ if env is None else env

    @classmethod
    def from_env(cls, echo: Callable[[str], None] | None = None) -> Reporter:
        return cls(GitHubClient.from_env(), echo=echo)

    def publish(self, outcome: Outcome, *, comment: bool = True) -> None:
        """Post (or print) the report and hand the outcome to the CI job."""
        markdown = outcome.report or ""
        if comment and markdown:
            if self.github is not None:
                posted = self.github.upsert_sticky_comment(outcome.pr, markdown)
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

    def close(self) -> None:
        if self.github is not None:
            self.github.close()
