"""Validate every Kubernetes object the program renders, offline.

    python scripts/validate_manifests.py --stack prod          # plan, dump, validate
    python scripts/validate_manifests.py --plan build/plan-prod.json [--no-checkov]

1. Takes the offline plan (`python -m stacks.plan --stack <stack> --json ...`, run here unless
   `--plan` names an existing JSON) and turns each recorded `kubernetes:*` registration back
   into a manifest: the inputs are already the camelCase Kubernetes fields with `apiVersion`
   and `kind`; numbers come back as floats and secrets wrapped, which this undoes.
   Helm releases are not manifests (their chart renders in the cluster) and are skipped.
2. Writes one YAML file per object to `build/manifests-<stack>/`.
3. Runs `kubernetes-validate --strict --kubernetes-version 1.31` on them (unknown fields and
   wrong types are errors).
4. Runs checkov (`--framework kubernetes`) from its own virtualenv `.venv-checkov` (it pins
   versions that conflict with pulumi's), and fails on any failed check that
   `scripts/checkov-skips.yaml` does not list with a reason. A skip entry that no longer
   matches anything is reported as stale (and fails), so the list only shrinks.

Exit status: 0 when everything passes, 1 on any finding, 2 on a usage/setup error.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent
CHECKOV = PROJECT_DIR / ".venv-checkov" / "bin" / "checkov"
SKIPS_FILE = Path(__file__).resolve().parent / "checkov-skips.yaml"
KUBERNETES_VERSION = "1.31"
SECRET_SIG = "4dabf18193072939515e22adb298388d"
# Not manifests: installers and v2 components (their children are the manifests).
NOT_MANIFESTS = ("kubernetes:helm.sh/", "kubernetes:yaml/", "kubernetes:kustomize/")
_TYPE = re.compile(r"^kubernetes:(?P<group>[^/]+)/(?P<version>[^:]+):(?P<kind>.+)$")


# ── plan -> manifests ────────────────────────────────────────────────────────────────────


def _clean(value: Any) -> Any:
    """Engine-shaped values back to plain YAML: unwrap secrets, floats that are ints."""
    if isinstance(value, dict):
        if SECRET_SIG in value:
            return _clean(value.get("value"))
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def api_version_of(type_token: str) -> tuple[str, str] | None:
    match = _TYPE.match(type_token)
    if match is None:
        return None
    group, version = match.group("group"), match.group("version")
    return ("v1" if group == "core" else f"{group}/{version}"), match.group("kind")


def manifests_from_plan(plan: dict[str, Any]) -> list[dict[str, Any]]:
    manifests = []
    for resource in plan["resources"]:
        type_token: str = resource["type"]
        if not type_token.startswith("kubernetes:") or type_token.startswith(NOT_MANIFESTS):
            continue
        parsed = api_version_of(type_token)
        if parsed is None:
            continue
        api_version, kind = parsed
        manifest = _clean(resource["inputs"])
        manifest["apiVersion"] = manifest.get("apiVersion", api_version)
        manifest["kind"] = manifest.get("kind", kind)
        metadata = manifest.setdefault("metadata", {})
        metadata.setdefault("name", resource["name"])
        ordered = {
            "apiVersion": manifest.pop("apiVersion"),
            "kind": manifest.pop("kind"),
            "metadata": manifest.pop("metadata"),
            **manifest,
        }
        manifests.append(ordered)
    return manifests


def file_name(manifest: dict[str, Any]) -> str:
    meta = manifest["metadata"]
    parts = [manifest["kind"], meta.get("namespace", "cluster"), meta["name"]]
    return "-".join(re.sub(r"[^A-Za-z0-9.-]+", "_", p) for p in parts).lower() + ".yaml"


def write_manifests(manifests: list[dict[str, Any]], out: Path) -> list[Path]:
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    paths = []
    for manifest in manifests:
        path = out / file_name(manifest)
        if path.exists():
            raise ValueError(f"two objects map to {path.name}")
        path.write_text(yaml.safe_dump(manifest, sort_keys=False))
        paths.append(path)
    return paths


# ── kubernetes-validate ──────────────────────────────────────────────────────────────────


def kubernetes_validate(paths: list[Path], version: str = KUBERNETES_VERSION) -> list[str]:
    """Problems reported by `kubernetes-validate --strict` (empty when all are valid)."""
    executable = Path(sys.executable).with_name("kubernetes-validate")
    command = [str(executable) if executable.exists() else "kubernetes-validate"]
    command += ["--strict", "--kubernetes-version", version, "--quiet"]
    result = subprocess.run(
        [*command, *map(str, paths)], capture_output=True, text=True, check=False, timeout=600
    )
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    if result.returncode != 0 and not lines:
        lines = [f"kubernetes-validate exited {result.returncode}"]
    return lines if result.returncode != 0 or lines else []


# ── checkov ──────────────────────────────────────────────────────────────────────────────


@dataclass(frozen=True)
class Skip:
    check: str
    reason: str
    resources: tuple[str, ...] = ("*",)

    def covers(self, check_id: str, resource: str) -> bool:
        return check_id == self.check and any(
            fnmatch.fnmatchcase(resource, pattern) for pattern in self.resources
        )


def load_skips(path: Path = SKIPS_FILE) -> list[Skip]:
    document = yaml.safe_load(path.read_text()) or {}
    skips = []
    for i, entry in enumerate(document.get("skips", [])):
        reason = str(entry.get("reason", "")).strip()
        if not reason:
            raise ValueError(f"{path.name}: skips[{i}] ({entry.get('check')}) has no reason")
        resources = entry.get("resources") or ["*"]
        skips.append(Skip(str(entry["check"]), reason, tuple(str(r) for r in resources)))
    return skips


@dataclass
class CheckovReport:
    passed: int = 0
    failures: list[dict[str, str]] = field(default_factory=list)
    skipped: list[tuple[dict[str, str], Skip]] = field(default_factory=list)
    stale: list[Skip] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failures and not self.stale


def run_checkov(directory: Path, skips: list[Skip], checkov: Path = CHECKOV) -> CheckovReport:
    if not checkov.exists():
        raise FileNotFoundError(
            f"{checkov} is missing: python3 -m venv .venv-checkov && "
            ".venv-checkov/bin/pip install -r requirements-checkov.txt (make setup does this)"
        )
    result = subprocess.run(
        [
            str(checkov),
            "--framework",
            "kubernetes",
            "--skip-download",
            "-d",
            str(directory),
            "--compact",
            "--quiet",
            "-o",
            "json",
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=900,
    )
    try:
        data = json.loads(result.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(f"checkov gave no JSON:\n{result.stdout}\n{result.stderr}") from None
    reports = data if isinstance(data, list) else [data]
    report = CheckovReport()
    used: set[Skip] = set()
    for entry in reports:
        results = entry.get("results", {})
        report.passed += int(entry.get("summary", {}).get("passed", 0)) or len(
            results.get("passed_checks", [])
        )
        for failed in results.get("failed_checks", []):
            finding = {
                "check": failed["check_id"],
                "name": failed.get("check_name", ""),
                "resource": failed.get("resource", ""),
                "file": failed.get("file_path", ""),
            }
            skip = next((s for s in skips if s.covers(finding["check"], finding["resource"])), None)
            if skip is None:
                report.failures.append(finding)
            else:
                used.add(skip)
                report.skipped.append((finding, skip))
    report.stale = [s for s in skips if s not in used]
    return report


# ── command line ─────────────────────────────────────────────────────────────────────────


def run_plan(stack: str, out: Path) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-m", "stacks.plan", "--stack", stack, "--json", str(out), "--quiet"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"offline plan failed:\n{result.stdout}\n{result.stderr}")
    return json.loads(out.read_text())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--stack", help="run the offline plan of this stack first")
    source.add_argument("--plan", type=Path, help="an existing plan JSON (stacks.plan --json)")
    parser.add_argument(
        "--out", type=Path, help="manifest directory (default build/manifests-<stack>)"
    )
    parser.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    parser.add_argument("--no-checkov", action="store_true", help="schemas only")
    parser.add_argument("--checkov", type=Path, default=CHECKOV)
    parser.add_argument("--skips", type=Path, default=SKIPS_FILE)
    options = parser.parse_args(argv)

    if options.plan is not None:
        plan = json.loads(options.plan.read_text())
    else:
        plan = run_plan(options.stack, PROJECT_DIR / "build" / f"plan-{options.stack}.json")
    stack = plan.get("stack", options.stack or "plan")
    out = options.out or PROJECT_DIR / "build" / f"manifests-{stack}"
    manifests = manifests_from_plan(plan)
    paths = write_manifests(manifests, out)
    print(f"{len(paths)} manifests written to {out}")

    failed = False
    problems = kubernetes_validate(paths, options.kubernetes_version)
    if problems:
        failed = True
        print(f"kubernetes-validate --strict ({options.kubernetes_version}): FAILED")
        print("\n".join(f"  {p}" for p in problems))
    else:
        print(f"kubernetes-validate --strict ({options.kubernetes_version}): all valid")

    if not options.no_checkov:
        try:
            report = run_checkov(out, load_skips(options.skips), options.checkov)
        except FileNotFoundError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        print(
            f"checkov: {report.passed} passed, {len(report.skipped)} skipped by "
            f"{options.skips.name}, {len(report.failures)} failed"
        )
        for finding in report.failures:
            print(f"  FAILED {finding['check']} {finding['resource']}: {finding['name']}")
        for skip in report.stale:
            print(f"  STALE skip {skip.check} {list(skip.resources)}: matches nothing; remove it")
        failed = failed or not report.ok
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
