from __future__ import annotations

import pytest

from branchops.secrets import redact, register_secret


def test_env_secrets_and_url_passwords_are_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_supersecretvalue123")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG")
    text = "token ghp_supersecretvalue123 key wJalrXUtnFEMI/K7MDENG url postgresql://bob:hunter22@db/x"
    out = redact(text)
    assert "ghp_supersecretvalue123" not in out
    assert "wJalrXUtnFEMI/K7MDENG" not in out
    assert "hunter22" not in out
    assert "postgresql://***@db/x" in out


def test_registered_secret_is_hidden() -> None:
    register_secret("s3cr3t-from-a-file")
    assert redact("value=s3cr3t-from-a-file") == "value=***"
