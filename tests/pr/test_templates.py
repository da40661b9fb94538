"""The CI templates in ci/ run for real: each is parsed, the jobs an event selects are found by
evaluating their conditions against a recorded event payload, and the branchops commands those
jobs name are run (as subprocesses) against a local lakehouse, real dbt and a local GitHub.
A renamed flag, a wrong expression or a job that no longer fires fails here."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from github_server import FakeGitHub, payload, serve
from gitlab_server import FakeGitLab
from helpers import TOKEN

from branchops.config import load_settings
from branchops.lakehouse import Lakehouse
from branchops.pr.github import MARKER

ROOT = Path(__file__).resolve().parents[2]
EVENTS = Path(__file__).parent / "events"
GITHUB_WORKFLOW = ROOT / "ci" / "github-actions.yml"
GITLAB_CI = ROOT / "ci" / "gitlab-ci.yml"
_EXPR = re.compile(r"\$\{\{\s*(.+?)\s*\}\}")
SHA = "6dcb09b5b57875f334f61aebed695e2e4193db5e"  # the PR head in the recorded events
_NAME = re.compile(r"(?<![\w'.])([A-Za-z_][\w-]*(?:\.[A-Za-z_][\w-]*)+)")


# -- GitHub Actions expressions -------------------------------------------------------------------
def gh_eval(expr: str, ctx: dict[str, Any]) -> Any:
    """A GitHub Actions expression: dotted context names, 'strings', == != && || ! ( )."""
    def lookup(path: str) -> Any:
        cur: Any = ctx
        for part in path.split("."):
            cur = cur.get(part) if isinstance(cur, dict) else None
        return cur

    py = _NAME.sub(lambda m: f"_get({m.group(1)!r})", expr)
    py = py.replace("&&", " and ").replace("||", " or ")
    py = re.sub(r"!(?!=)", " not ", py)
    return eval(py, {"__builtins__": {}, "_get": lookup})


def gh_substitute(text: str, ctx: dict[str, Any]) -> str:
    return _EXPR.sub(lambda m: "" if (v := gh_eval(m.group(1), ctx)) is None else str(v), text)


def github_jobs(event_name: str, event: dict[str, Any]) -> list[str]:
    """The jobs the workflow runs for this event."""
    wf = yaml.safe_load(GITHUB_WORKFLOW.read_text())
    repo = event.get("repository", {}).get("full_name")
    ctx = {"github": {"event_name": event_name, "event": event, "repository": repo}}
    return [name for name, job in wf["jobs"].items() if gh_eval(job.get("if", "true"), ctx)]


def github_commands(event_name: str, event: dict[str, Any], secrets: dict[str, str],
                    variables: dict[str, str], environments: dict[str, dict[str, str]] | None = None,
                    ) -> list[tuple[str, list[str], dict[str, str]]]:
    """(job, argv, env) of every branchops command the workflow runs for this event; a job's
    ``environment`` adds that environment's secrets (``environments``) over the repository's."""
    wf = yaml.safe_load(GITHUB_WORKFLOW.read_text())
    triggers = wf.get("on", wf.get(True))
    assert event_name in triggers, f"the workflow does not run on {event_name}"
    github = {"event_name": event_name, "event": event, "repository": event.get("repository", {}).get("full_name")}
    ctx: dict[str, Any] = {"github": github, "secrets": secrets, "vars": variables, "env": {}}
    ctx["env"] = {k: gh_substitute(str(v), ctx) for k, v in wf.get("env", {}).items()}
    out = []
    for name, job in wf["jobs"].items():
        if not gh_eval(job.get("if", "true"), ctx):
            continue
        job_ctx = {**ctx, "secrets": {**secrets, **(environments or {}).get(job.get("environment", ""), {})}}
        job_env = {**ctx["env"], **{k: gh_substitute(str(v), job_ctx) for k, v in job.get("env", {}).items()}}
        for step in job["steps"]:
            run = step.get("run")
            if not run or not run.strip().startswith("branchops"):
                continue
            env = {**job_env, **{k: gh_substitute(str(v), job_ctx) for k, v in step.get("env", {}).items()}}
            out.append((name, shlex.split(gh_substitute(run, job_ctx)), env))
    return out


# -- GitLab CI rules ---------------------------------------------------------------------------------
def gl_rule(expr: str, variables: dict[str, str]) -> bool:
    py = re.sub(r"\$(\w+)", lambda m: repr(variables.get(m.group(1))), expr)
    py = py.replace("&&", " and ").replace("||", " or ")
    return bool(eval(py, {"__builtins__": {}}))


def gitlab_commands(variables: dict[str, str]) -> list[tuple[str, list[str], dict[str, str]]]:
    ci = yaml.safe_load(GITLAB_CI.read_text())
    env = {**{k: str(v) for k, v in ci.get("variables", {}).items()}, **variables}
    out = []
    for name, job in ci.items():
        if name.startswith(".") or not isinstance(job, dict) or "script" not in job:
            continue
        if not any(gl_rule(r["if"], env) for r in job.get("rules", [])):
            continue
        for line in job["script"]:
            expanded = re.sub(r"\$(\w+)", lambda m: env.get(m.group(1), ""), line)
            argv = shlex.split(expanded)
            if argv[0] == "branchops":
                out.append((name, argv, {}))
    return out


# -- running them ------------------------------------------------------------------------------------
def run(argv: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    assert argv[0] == "branchops"
    merged = {**os.environ, **{k: v for k, v in env.items() if v}}
    proc = subprocess.run([sys.executable, "-m", "branchops", *argv[1:]], cwd=cwd, env=merged,
                          capture_output=True, text=True, timeout=600)
    assert TOKEN not in proc.stdout + proc.stderr
    return proc


def run_all(cmds: list[tuple[str, list[str], dict[str, str]]], cwd: Path) -> list[subprocess.CompletedProcess[str]]:
    out = []
    for _job, argv, env in cmds:
        proc = run(argv, env, cwd)
        assert proc.returncode == 0, f"{shlex.join(argv)} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        out.append(proc)
    return out


@pytest.fixture
def checkout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository checkout: branchops.toml + the sample dbt project; the lakehouse lives elsewhere
    (as a shared catalog would), named by the secrets the templates pass on."""
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "dbt_project", repo / "dbt_project", ignore=shutil.ignore_patterns("target", "logs"))
    (repo / "branchops.toml").write_text('[branchops]\nbackend = "sql"\nthreads = 2\n')
    for var in ("GITHUB_TOKEN", "GITHUB_REPOSITORY", "GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY", "BRANCHOPS_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("BRANCHOPS_GC_RETENTION", "0s")
    return repo


def lakehouse_secrets(tmp_path: Path) -> tuple[dict[str, str], dict[str, str]]:
    return ({"BRANCHOPS_CATALOG_URI": f"sqlite:///{tmp_path / 'shared' / 'catalog.db'}", "GITHUB_TOKEN": TOKEN},
            {"BRANCHOPS_WAREHOUSE": str(tmp_path / "shared" / "warehouse")})


def change_a_model(repo: Path) -> None:
    model = repo / "dbt_project" / "models" / "marts" / "monthly_revenue.sql"
    text = model.read_text()
    assert "sum(revenue) as revenue" in text
    model.write_text(text.replace("sum(revenue) as revenue",
                                  "sum(revenue) as revenue,\n    sum(revenue) / sum(orders) as avg_order_value"))


def test_templates_parse_and_route_every_event() -> None:
    secrets, variables = {"GITHUB_TOKEN": TOKEN}, {}
    jobs = {f.stem: [(j, a[1:3]) for j, a, _ in github_commands(
        {"schedule": "schedule"}.get(f.stem, "pull_request_review" if "review" in f.stem else "pull_request"),
        json.loads(f.read_text()), secrets, variables)] for f in EVENTS.glob("[ps]*.json")}
    assert jobs == {
        "pull_request_opened": [("sync", ["init", "--if-missing"]), ("sync", ["pr", "sync"])],
        "pull_request_synchronize": [("sync", ["init", "--if-missing"]), ("sync", ["pr", "sync"])],
        "pull_request_review_approved": [("merge", ["pr", "merge"])],
        "pull_request_closed": [("close", ["pr", "close"])],
        "pull_request_closed_merged": [],
        "schedule": [("nightly", ["init", "--if-missing"]), ("nightly", ["dbt", "build"]),
                     ("gc", ["gc", "--older-than"])],
    }
    approved = github_commands("pull_request_review", json.loads((EVENTS / "pull_request_review_approved.json")
                                                                  .read_text()), secrets, variables)
    argv = approved[0][1]
    assert argv[argv.index("--sha") + 1] == "6dcb09b5b57875f334f61aebed695e2e4193db5e"
    assert "--require-approval" in argv and "--merge-code" in argv and approved[0][2]["GITHUB_TOKEN"] == TOKEN
    gl = {f.stem: [(j, a[1:3]) for j, a, _ in gitlab_commands(json.loads(f.read_text()))]
          for f in EVENTS.glob("gitlab_*.json")}
    assert gl == {
        "gitlab_merge_request_event": [("branchops:sync", ["init", "--if-missing"]),
                                       ("branchops:sync", ["pr", "sync"])],
        "gitlab_trigger_approved": [("branchops:merge", ["pr", "merge"])],
        "gitlab_trigger_closed": [("branchops:close", ["pr", "close"])],
        "gitlab_schedule": [("branchops:nightly", ["init", "--if-missing"]), ("branchops:nightly", ["dbt", "build"]),
                            ("branchops:gc", ["gc", "--older-than"])],
    }


def test_each_job_gets_its_own_environment_and_forks_get_none() -> None:
    """Per-job credentials: the PR jobs see the PR role's secrets, merge and nightly the production
    role's, gc the gc role's; a fork's pull request runs no branchops command and gets no secret."""
    environments = {e: {"BRANCHOPS_CATALOG_URI": f"postgresql://{e}@db/lake", "AWS_ACCESS_KEY_ID": f"key-{e}"}
                    for e in ("branchops-pr", "branchops-production", "branchops-gc")}
    seen: dict[str, set[str]] = {}
    for name, kind in (("pull_request_opened", "pull_request"), ("pull_request_closed", "pull_request"),
                       ("pull_request_review_approved", "pull_request_review"), ("schedule", "schedule")):
        for job, _argv, env in github_commands(kind, json.loads((EVENTS / f"{name}.json").read_text()),
                                               {"GITHUB_TOKEN": TOKEN}, {}, environments):
            seen.setdefault(job, set()).add(env.get("BRANCHOPS_CATALOG_URI", ""))
            assert env.get("AWS_ACCESS_KEY_ID", "").removeprefix("key-") in env.get("BRANCHOPS_CATALOG_URI", "-")
    assert seen == {"sync": {"postgresql://branchops-pr@db/lake"}, "close": {"postgresql://branchops-pr@db/lake"},
                    "merge": {"postgresql://branchops-production@db/lake"},
                    "nightly": {"postgresql://branchops-production@db/lake"},
                    "gc": {"postgresql://branchops-gc@db/lake"}}
    wf = yaml.safe_load(GITHUB_WORKFLOW.read_text())
    assert "secrets." not in json.dumps(wf.get("env", {})), "no secret at the workflow level: every job its own"

    for name, kind in (("pull_request_opened", "pull_request"), ("pull_request_synchronize", "pull_request"),
                       ("pull_request_review_approved", "pull_request_review"),
                       ("pull_request_closed", "pull_request")):
        event = json.loads((EVENTS / f"{name}.json").read_text())
        event["pull_request"]["head"]["repo"]["full_name"] = "mallory/analytics"
        assert github_commands(kind, event, {"GITHUB_TOKEN": TOKEN}, {}, environments) == [], name
        jobs = github_jobs(kind, event)
        assert all("secrets." not in json.dumps(wf["jobs"][j]) for j in jobs), (name, jobs)
        assert jobs == (["fork"] if event.get("action") != "closed" and kind == "pull_request" else []), (name, jobs)
    notice = wf["jobs"]["fork"]["steps"][0]["run"]
    assert "GITHUB_STEP_SUMMARY" in notice and "fork" in notice

    forked = {**json.loads((EVENTS / "gitlab_merge_request_event.json").read_text()),
              "CI_MERGE_REQUEST_SOURCE_PROJECT_ID": "5151"}
    assert gitlab_commands(forked) == []
    ci = yaml.safe_load(GITLAB_CI.read_text())
    assert any(gl_rule(r["if"], forked) for r in ci["branchops:fork"]["rules"])
    assert {j: ci[j]["environment"]["name"] for j in ci if j.startswith("branchops:") and "environment" in ci[j]} == {
        "branchops:sync": "branchops-pr", "branchops:close": "branchops-pr",
        "branchops:merge": "branchops-production", "branchops:nightly": "branchops-production",
        "branchops:gc": "branchops-gc"}


@pytest.mark.slow
def test_github_workflow_end_to_end(checkout: Path, tmp_path: Path, github: FakeGitHub) -> None:
    secrets, variables = lakehouse_secrets(tmp_path)
    env = {**secrets, **variables}
    github.reviews[42] = payload("pull_reviews.json")
    github.open_pull(42, SHA)

    def event(name: str, kind: str = "pull_request") -> list[tuple[str, list[str], dict[str, str]]]:
        return github_commands(kind, json.loads((EVENTS / f"{name}.json").read_text()), secrets, variables)

    missing = run(["branchops", "demo-data", "--scale", "0.001"], env, checkout)  # no catalog yet: refused
    assert missing.returncode == 2 and "does not exist" in missing.stderr and "init" in missing.stderr
    assert not (tmp_path / "shared").exists(), "a refused command created a catalog"
    assert run(["branchops", "init"], env, checkout).returncode == 2  # branchops.toml is there already
    for created in (True, False):  # the templates' first step: idempotent
        init = run(["branchops", "init", "--if-missing", "-o", "json"], env, checkout)
        assert init.returncode == 0 and json.loads(init.stdout)["created"] is created, init.stderr
    assert run(["branchops", "demo-data", "--scale", "0.001"], env, checkout).returncode == 0
    run_all(event("schedule", "schedule"), checkout)  # production build of main + gc
    settings = load_settings(checkout / "branchops.toml", catalog_uri=secrets["BRANCHOPS_CATALOG_URI"],
                             warehouse=variables["BRANCHOPS_WAREHOUSE"])
    with Lakehouse(settings) as lh:
        before = lh.catalog.tables("main")
        assert "analytics.monthly_revenue" in before

    change_a_model(checkout)
    run_all(event("pull_request_opened"), checkout)
    run_all(event("pull_request_synchronize"), checkout)
    ours = [b for b in github.bodies(42) if MARKER in b]
    assert len(ours) == 1 and "analytics.monthly_revenue" in ours[0] and "avg_order_value" in ours[0]
    assert len([r for r in github.requests if r.method == "POST" and "/comments" in r.path]) == 1
    runs = list(github.check_runs.values())
    assert [(r["name"], r["conclusion"]) for r in runs] == [("branchops", "success")] * 2  # opened, pushed
    assert runs[-1]["head_sha"] == SHA

    run_all(event("pull_request_review_approved", "pull_request_review"), checkout)
    with Lakehouse(settings) as lh:
        after = lh.catalog.tables("main")
        assert after["analytics.monthly_revenue"] != before["analytics.monthly_revenue"]
        assert {t for t in after if after[t] != before.get(t)} == {"analytics.monthly_revenue"}
        assert "avg_order_value" in lh.read("analytics.monthly_revenue").column_names
        head = lh.catalog.log("main", limit=1)[0]
        assert json.loads(head.properties["branchops.pr.approvers"]) == ["dana"]
        assert "pr-42" not in [r.name for r in lh.catalog.list_refs()]
    put = next(r for r in github.requests if r.method == "PUT")  # the code landed with the data
    assert put.path.endswith("/pulls/42/merge") and json.loads(put.body)["sha"] == SHA
    assert github.pulls[42]["merged"] is True

    # another PR, closed without merging
    opened = json.loads((EVENTS / "pull_request_opened.json").read_text())
    opened["number"] = opened["pull_request"]["number"] = 43
    run_all(github_commands("pull_request", opened, secrets, variables), checkout)
    run_all(event("pull_request_closed"), checkout)
    with Lakehouse(settings) as lh:
        assert "pr-43" not in [r.name for r in lh.catalog.list_refs()]
    run_all(event("schedule", "schedule"), checkout)  # the nightly again: rebuild + gc


@pytest.mark.slow
def test_gitlab_ci_end_to_end(checkout: Path, tmp_path: Path) -> None:
    secrets, variables = lakehouse_secrets(tmp_path)
    gitlab = FakeGitLab(token="glpat-TESTtoken0123456789SECRET")
    server, thread = serve(gitlab)
    try:
        _gitlab_pipelines(checkout, secrets, variables, gitlab)
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _gitlab_pipelines(checkout: Path, secrets: dict[str, str], variables: dict[str, str], gitlab: FakeGitLab) -> None:
    env = {"BRANCHOPS_CATALOG_URI": secrets["BRANCHOPS_CATALOG_URI"], **variables,
           "CI_API_V4_URL": gitlab.api_url, "CI_PROJECT_ID": gitlab.project, "BRANCHOPS_GITLAB_TOKEN": gitlab.token}
    gitlab.open_mr(7, SHA)

    def pipeline(name: str) -> list[subprocess.CompletedProcess[str]]:
        cmds = [(j, a, env) for j, a, _ in gitlab_commands(json.loads((EVENTS / f"{name}.json").read_text()))]
        return run_all(cmds, checkout)

    assert run(["branchops", "init", "--if-missing"], env, checkout).returncode == 0
    assert run(["branchops", "demo-data", "--scale", "0.001"], env, checkout).returncode == 0
    pipeline("gitlab_schedule")
    change_a_model(checkout)
    sync = pipeline("gitlab_merge_request_event")
    assert MARKER in sync[-1].stdout  # no GitHub here: the report is printed
    pipeline("gitlab_trigger_approved")
    pipeline("gitlab_trigger_closed")
    settings = load_settings(checkout / "branchops.toml", **{"catalog_uri": env["BRANCHOPS_CATALOG_URI"],
                                                           "warehouse": env["BRANCHOPS_WAREHOUSE"]})
    with Lakehouse(settings) as lh:
        assert "avg_order_value" in lh.read("analytics.monthly_revenue").column_names
        assert lh.catalog.log("main", limit=1)[0].properties["branchops.pr"] == "7"
    assert gitlab.merge_requests[7]["state"] == "merged"  # the code landed with the data
    assert [s["status"] for s in gitlab.statuses] == ["running", "success"]
