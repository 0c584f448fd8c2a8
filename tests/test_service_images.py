"""ServiceImages: content-addressed tags, relative build contexts, parents feeding children,
and repositories named per stack (prod keeps its names). Under the mock runtime."""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import pytest

from components.images import (
    MAX_TAG_LENGTH,
    ImagesArgs,
    ServiceImages,
    content_tag,
    context_digest,
    context_files,
    repository_name,
)
from stacks.catalog import SERVICE_CODE_DIR, Catalog
from stacks.config import IMAGE_TAG_MAX_LENGTH, parse_config_bag
from stacks.errors import ConfigError
from stacks.plan import Plan, run_program

BUILD = "docker-build:index:Image"
REPOSITORY = "aws:ecr/repository:Repository"


def build(catalog: Catalog, stack: str, **changes: Any) -> tuple[ServiceImages, Plan]:
    fields: dict[str, Any] = {"catalog": catalog, "tag": "1.0.0", "registry": None, "push": True}
    fields.update(changes)
    args = ImagesArgs(**fields)
    return run_program(
        lambda: ServiceImages(f"sutazai-{stack}-images", args), project="sutazai", stack=stack
    )


@pytest.fixture(scope="module")
def prod(catalog: Catalog) -> tuple[ServiceImages, Plan]:
    return build(catalog, "prod", protect=True)


def builds(plan: Plan) -> dict[str, dict[str, Any]]:
    return {r.name.split("-images-", 1)[1]: r.inputs for r in plan.of_type(BUILD)}


def parent_of(catalog: Catalog, image: str) -> str | None:
    if image in catalog.services:
        spec = catalog[image]
        assert spec.build is not None
        return None if spec.build.base == "root" else spec.build.base
    return next(b.parent for b in catalog.base_images if b.name == image)


# ── the build context as Docker sees it ─────────────────────────────────────────────────


def context(tmp_path: Path) -> Path:
    root = tmp_path / "svc"
    for relative, text in {
        "Dockerfile": "FROM x\n",
        "app/main.py": "print(1)\n",
        "app/__pycache__/main.cpython-311.pyc": "bytecode",
        "tests/test_main.py": "def test(): ...\n",
        "conftest.py": "",
        "notes.pyc": "x",
        "keep/me.pyc": "x",
        ".dockerignore": "# comment\n**/__pycache__\n**/*.pyc\ntests\nconftest.py\n!keep/*.pyc\n",
    }.items():
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(text)
    return root


def test_the_context_is_what_dockerignore_lets_through(tmp_path: Path) -> None:
    root = context(tmp_path)
    assert context_files(root) == [".dockerignore", "Dockerfile", "app/main.py", "keep/me.pyc"]
    # The real contexts leave tests and bytecode out.
    backend = context_files(SERVICE_CODE_DIR / "backend")
    assert "Dockerfile" in backend and not [f for f in backend if f.startswith("tests/")]


def test_the_digest_follows_the_code_the_mode_and_the_parent(tmp_path: Path) -> None:
    root = context(tmp_path)
    before = context_digest(root, "parent-a")
    (root / "app/__pycache__/main.cpython-311.pyc").write_text("other bytecode")
    (root / "tests/test_main.py").write_text("changed")
    assert context_digest(root, "parent-a") == before, "ignored files do not count"
    assert context_digest(root, "parent-b") != before, "the parent counts"
    (root / "app/main.py").chmod(0o755)
    executable = context_digest(root, "parent-a")
    assert executable != before
    (root / "app/main.py").write_text("print(2)\n")
    assert context_digest(root, "parent-a") not in (before, executable)


def test_a_tag_is_the_configured_tag_plus_the_content() -> None:
    assert content_tag("1.0.0", "ab" * 32) == "1.0.0-" + "ab" * 6
    # The longest tag the config allows still makes a valid Docker tag with its digest.
    assert len(content_tag("x" * IMAGE_TAG_MAX_LENGTH, "ab" * 32)) == MAX_TAG_LENGTH
    bag = {"sutazai:environment": "dev", "sutazai:imageTag": "x" * (IMAGE_TAG_MAX_LENGTH + 1)}
    with pytest.raises(ConfigError, match="sutazai:imageTag: String should have at most 115"):
        parse_config_bag(bag)


# ── the component ───────────────────────────────────────────────────────────────────────


def test_prod_pushes_content_tags_to_its_own_protected_repositories(
    catalog: Catalog, prod: tuple[ServiceImages, Plan]
) -> None:
    images, plan = prod
    repositories = {r.inputs["name"]: r for r in plan.of_type(REPOSITORY)}
    assert set(repositories) == {f"sutazai/{image}" for image in builds(plan)}
    for repository in repositories.values():
        assert repository.protect and repository.inputs["imageTagMutability"] == "IMMUTABLE"
    for image, inputs in builds(plan).items():
        (tag,) = inputs["tags"]
        digest = images.digests[image]
        assert re.fullmatch(rf".+/sutazai/{image}:1\.0\.0-{digest[:12]}", tag), tag
        assert inputs["push"] is True


def test_contexts_are_relative_to_the_project(prod: tuple[ServiceImages, Plan]) -> None:
    for image, inputs in builds(prod[1]).items():
        location = inputs["context"]["location"]
        assert not location.startswith("/") and location.startswith("service-code/"), image
        assert inputs["dockerfile"]["location"] == f"{location}/Dockerfile"


def test_each_image_builds_on_its_parents_pushed_digest(
    catalog: Catalog, prod: tuple[ServiceImages, Plan]
) -> None:
    by_name = builds(prod[1])
    for image, inputs in by_name.items():
        parent = parent_of(catalog, image)
        base = inputs["buildArgs"]["BASE_IMAGE"]
        if parent is None:
            assert base == catalog.root_base_image.reference
        else:
            # The parent's ref: its tag at its digest (what the mock push returns).
            assert base == f"{by_name[parent]['tags'][0]}@sha256:{'0' * 64}", image


def test_a_changed_base_changes_every_image_above_it(catalog: Catalog, tmp_path: Path) -> None:
    copy = tmp_path / "service-code"
    shutil.copytree(SERVICE_CODE_DIR, copy)
    before, _ = build(catalog, "prod", service_code_dir=copy)
    requirements = copy / "base/python-base/requirements.txt"
    requirements.write_text(requirements.read_text() + "\n# a new pin\n")
    after, _ = build(catalog, "prod", service_code_dir=copy)
    changed = {i for i in before.digests if before.digests[i] != after.digests[i]}
    on_python_base = {i for i in before.digests if "python-base" in {i, *ancestors(catalog, i)}}
    assert changed == on_python_base
    assert {"backend", "frontend", "data-base", "ai-base"} <= changed
    assert "pgbouncer" not in changed  # built FROM the root image


def ancestors(catalog: Catalog, image: str) -> list[str]:
    parent = parent_of(catalog, image)
    return [] if parent is None else [parent, *ancestors(catalog, parent)]


@pytest.mark.parametrize("stack", ["dev-cluster", "dev-alice", "staging"])
def test_other_stacks_in_the_account_name_their_repositories_after_themselves(
    catalog: Catalog, stack: str
) -> None:
    _, plan = build(catalog, stack)
    names = {r.inputs["name"] for r in plan.of_type(REPOSITORY)}
    assert names and all(n.startswith(f"sutazai/{stack}/") for n in names)
    assert all(not r.protect and r.inputs["forceDelete"] for r in plan.of_type(REPOSITORY))
    assert repository_name("prod", "backend") == "sutazai/backend"
    assert repository_name("Dev_Bob", "backend") == "sutazai/dev-bob/backend"


def test_locally_children_build_on_their_parents_content_tag(catalog: Catalog) -> None:
    _, plan = build(catalog, "dev", registry="localhost", push=False)
    by_name = builds(plan)
    assert not plan.of_type(REPOSITORY)
    for image, inputs in by_name.items():
        assert inputs["push"] is False and inputs["load"] is True
        assert inputs["tags"][0].startswith(f"localhost/sutazai/dev/{image}:1.0.0-")
        parent = parent_of(catalog, image)
        if parent is not None:
            assert inputs["buildArgs"]["BASE_IMAGE"] == by_name[parent]["tags"][0]


# ── builds on update only, with a registry cache keyed by the dependencies ─────────────


def test_a_preview_never_builds_and_pushed_builds_share_a_registry_cache(
    prod: tuple[ServiceImages, Plan],
) -> None:
    images, plan = prod
    for image, inputs in builds(plan).items():
        assert inputs["buildOnPreview"] is False, image
        (tag,) = inputs["tags"]
        repository = tag.rsplit(":", 1)[0]
        expected = f"{repository}:buildcache-{images.cache_keys[image][:12]}"
        assert inputs["cacheFrom"] == [{"registry": {"ref": expected}}]
        (to,) = inputs["cacheTo"]
        assert to["registry"]["ref"] == expected and to["registry"]["mode"] == "max"
        assert to["registry"]["ignoreError"] is True and to["registry"]["imageManifest"] is True


def test_a_code_change_keeps_the_cache_and_a_dependency_change_does_not(
    catalog: Catalog, tmp_path: Path
) -> None:
    copy = tmp_path / "service-code"
    shutil.copytree(SERVICE_CODE_DIR, copy)
    before, _ = build(catalog, "prod", service_code_dir=copy)
    (copy / "backend" / "app" / "new_module.py").write_text("VALUE = 1\n")
    code, _ = build(catalog, "prod", service_code_dir=copy)
    assert code.digests["backend"] != before.digests["backend"]
    assert code.cache_keys["backend"] == before.cache_keys["backend"]
    requirements = copy / "backend" / "requirements.txt"
    requirements.write_text(requirements.read_text() + "\n# a new pin\n")
    deps, _ = build(catalog, "prod", service_code_dir=copy)
    assert deps.cache_keys["backend"] != before.cache_keys["backend"]
    assert deps.cache_keys["frontend"] == before.cache_keys["frontend"]


def test_local_builds_use_no_registry_cache(catalog: Catalog) -> None:
    _, plan = build(catalog, "dev", registry="localhost", push=False)
    for inputs in builds(plan).values():
        assert "cacheFrom" not in inputs and "cacheTo" not in inputs
        assert inputs["buildOnPreview"] is False
