#!/usr/bin/env python3
"""Posts ociam's Markdown where reviewers and on-call look, on GitHub or GitLab, without
piling up: one sticky pull/merge-request comment per plan, and one issue that lives exactly as
long as drift does. Python 3 standard library only; used by the recipes in this directory.

  ociam_forge.py comment BODY.md
      Updates the pull/merge-request comment that this job's identity wrote and that starts
      with BODY's marker (its first line, an HTML comment such as <!-- ociam:plan -->), or adds
      one. Other comments are never touched, including one somebody else wrote with the marker
      (it could later be edited to show another plan).

  ociam_forge.py drift EXIT_CODE BODY.md
      Acts on `ociam drift`'s exit code: 2 (drift) updates the open issue this job's identity
      opened with BODY's marker, or opens one; 0 (no drift) closes that issue with a note, if there is one; any
      other code (an error) touches nothing and exits 1, so a broken run never closes an issue.

The forge comes from the CI environment:
  GitHub Actions: GITHUB_API_URL, GITHUB_REPOSITORY, GITHUB_TOKEN, and for `comment` the pull
                  request number in OCIAM_PR (e.g. ${{ github.event.pull_request.number }}).
                  The job's identity is github-actions[bot], or OCIAM_FORGE_AUTHOR when the
                  token is another account's.
  GitLab CI:      CI_API_V4_URL, CI_PROJECT_ID, OCIAM_GITLAB_TOKEN (a project access token with
                  the api scope; CI_JOB_TOKEN may not write notes or issues), and for
                  `comment` CI_MERGE_REQUEST_IID. The job's identity is the token's user.
"""

import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request

ISSUE_TITLE = "ociam: the tenancy has drifted from the manifest"
RESOLVED_NOTE = "ociam drift found no drift any more; closing."


def fail(message):
    print(f"ociam_forge: {message}", file=sys.stderr)
    sys.exit(1)


def env(name):
    value = os.environ.get(name)
    if not value:
        fail(f"{name} is not set")
    return value


class Forge:
    """Just the calls the two commands need, over one forge's REST API."""

    def __init__(self, base, headers):
        self.base = base.rstrip("/")
        self.headers = headers

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method)
        for key, value in self.headers.items():
            request.add_header(key, value)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                text = response.read().decode()
        except urllib.error.HTTPError as e:
            fail(f"{method} {path} answered {e.code}: {e.read().decode(errors='replace')[:500]}")
        return json.loads(text) if text.strip() else None

    def pages(self, path):
        """Every item of a paged list (100 per page)."""
        sep = "&" if "?" in path else "?"
        page = 1
        while True:
            items = self.call("GET", f"{path}{sep}per_page=100&page={page}")
            if not items:
                return
            yield from items
            if len(items) < 100:
                return
            page += 1


class GitHub(Forge):
    def __init__(self):
        super().__init__(
            os.environ.get("GITHUB_API_URL", "https://api.github.com"),
            {
                "Authorization": f"Bearer {env('GITHUB_TOKEN')}",
                "Accept": "application/vnd.github+json",
            },
        )
        self.repo = f"/repos/{env('GITHUB_REPOSITORY')}"
        self.me = os.environ.get("OCIAM_FORGE_AUTHOR") or "github-actions[bot]"

    def mine(self, item):
        return (item.get("user") or {}).get("login") == self.me

    def comments(self):
        path = f"{self.repo}/issues/{env('OCIAM_PR')}/comments"
        return [(c["id"], c.get("body") or "") for c in self.pages(path) if self.mine(c)]

    def update_comment(self, cid, body):
        self.call("PATCH", f"{self.repo}/issues/comments/{cid}", {"body": body})

    def add_comment(self, body):
        self.call("POST", f"{self.repo}/issues/{env('OCIAM_PR')}/comments", {"body": body})

    def open_issues(self):
        # The issues endpoint lists pull requests too; they are not ours.
        return [
            (i["number"], i.get("body") or "")
            for i in self.pages(f"{self.repo}/issues?state=open")
            if "pull_request" not in i and self.mine(i)
        ]

    def update_issue(self, number, body):
        self.call("PATCH", f"{self.repo}/issues/{number}", {"body": body})

    def open_issue(self, body):
        self.call("POST", f"{self.repo}/issues", {"title": ISSUE_TITLE, "body": body})

    def close_issue(self, number):
        self.call("POST", f"{self.repo}/issues/{number}/comments", {"body": RESOLVED_NOTE})
        self.call("PATCH", f"{self.repo}/issues/{number}", {"state": "closed"})


class GitLab(Forge):
    def __init__(self):
        super().__init__(env("CI_API_V4_URL"), {"PRIVATE-TOKEN": env("OCIAM_GITLAB_TOKEN")})
        self.project = f"/projects/{urllib.parse.quote(env('CI_PROJECT_ID'), safe='')}"
        self.me = None

    def mine(self, item):
        if self.me is None:
            self.me = (self.call("GET", "/user") or {}).get("username")
        return self.me is not None and (item.get("author") or {}).get("username") == self.me

    def mr(self):
        return f"{self.project}/merge_requests/{env('CI_MERGE_REQUEST_IID')}"

    def comments(self):
        notes = self.pages(f"{self.mr()}/notes")
        return [(n["id"], n.get("body") or "") for n in notes if not n.get("system") and self.mine(n)]

    def update_comment(self, cid, body):
        self.call("PUT", f"{self.mr()}/notes/{cid}", {"body": body})

    def add_comment(self, body):
        self.call("POST", f"{self.mr()}/notes", {"body": body})

    def open_issues(self):
        issues = self.pages(f"{self.project}/issues?state=opened")
        return [(i["iid"], i.get("description") or "") for i in issues if self.mine(i)]

    def update_issue(self, iid, body):
        self.call("PUT", f"{self.project}/issues/{iid}", {"description": body})

    def open_issue(self, body):
        self.call("POST", f"{self.project}/issues", {"title": ISSUE_TITLE, "description": body})

    def close_issue(self, iid):
        self.call("POST", f"{self.project}/issues/{iid}/notes", {"body": RESOLVED_NOTE})
        self.call("PUT", f"{self.project}/issues/{iid}", {"state_event": "close"})


def forge():
    if os.environ.get("GITHUB_ACTIONS") == "true":
        return GitHub()
    if os.environ.get("GITLAB_CI") == "true":
        return GitLab()
    fail("neither GITHUB_ACTIONS nor GITLAB_CI is true: run this in GitHub Actions or GitLab CI")


def read_body(path):
    with open(path, encoding="utf-8") as f:
        body = f.read()
    marker = body.split("\n", 1)[0].strip()
    if not (marker.startswith("<!-- ociam:") and marker.endswith("-->")):
        fail(f"{path} does not start with an ociam marker line (<!-- ociam:... -->)")
    return marker, body


def first_with(marker, items):
    """The first of our (id, body) whose first line is the marker: the one ociam owns."""
    return next((i for i, text in items if text.split("\n", 1)[0].strip() == marker), None)


def drift_decision(exit_code, open_issue):
    """What a drift run means for the issue: ('open'|'update'|'close'|'none', ok)."""
    if exit_code == 2:
        return ("update" if open_issue is not None else "open"), True
    if exit_code == 0:
        return ("close" if open_issue is not None else "none"), True
    return "none", False


def main(argv):
    if len(argv) == 2 and argv[0] == "comment":
        marker, body = read_body(argv[1])
        f = forge()
        cid = first_with(marker, f.comments())
        if cid is None:
            f.add_comment(body)
            print("ociam_forge: added the comment")
        else:
            f.update_comment(cid, body)
            print(f"ociam_forge: updated comment {cid}")
        return 0
    if len(argv) == 3 and argv[0] == "drift":
        try:
            code = int(argv[1])
        except ValueError:
            fail(f"EXIT_CODE must be a number, not {argv[1]!r}")
        if code not in (0, 2):
            # An error, not a verdict: the report may be empty or partial. Touch nothing.
            fail(f"ociam drift failed (exit code {code}); the issue was left as it is")
        marker, body = read_body(argv[2])
        f = forge()
        number = first_with(marker, f.open_issues())
        action, ok = drift_decision(code, number)
        if action == "open":
            f.open_issue(body)
        elif action == "update":
            f.update_issue(number, body)
        elif action == "close":
            f.close_issue(number)
        print(f"ociam_forge: drift exit code {code}: {action}" + ("" if number is None else f" (issue {number})"))
        return 0 if ok else 1
    print(__doc__, file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
