"""The verification after a deploy: the digest each container runs (its status imageID)
against the digest hoist built, over pods as kubectl 1.32 prints them (tests/deploy/data),
with property tests for the imageID parser and the repository matcher."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from hoist.core.policy import PullPolicy
from hoist.deploy.verify import (
    ALWAYS,
    LOADED_IMAGE,
    NOT_RUNNING,
    PINNED,
    STALE_TAG,
    ImageMismatch,
    format_mismatch,
    image_id_digest,
    image_id_is_repo_digest,
    likely_cause,
    matches_repository,
    verify_running,
)

DATA = Path(__file__).parent / "data"
REG = "127.0.0.1:5000"
REPO = f"{REG}/my-service"
BUILT = "sha256:4f71a7e011db222b2bd44d053d5eba095005c7bade526a52e8b7036033eee37e"
EARLIER = "sha256:63b59cf75d99ef278e6f27b80eee2597f2f42a5c664b7169a75c25619520c564"
CONFIG = "sha256:bb9d6bc306c78b50faf1c0b76060e0b0a4df5f24f2cd9f6a99fb2da5c7b9e949"


def pods() -> list[dict[str, Any]]:
    return list(json.loads((DATA / "verify_pods.json").read_text())["items"])


def by_pod(mismatches: list[ImageMismatch]) -> dict[str, ImageMismatch]:
    return {m.pod: m for m in mismatches}


def test_each_pod_is_judged_by_its_image_id() -> None:
    found = by_pod(verify_running(pods(), {REPO: BUILT}))
    # containerd's "repo@sha256:…" and cri-dockerd's "docker-pullable://…" both match; the
    # busybox sidecar is not hoist's and is not looked at.
    assert sorted(found) == ["always-moved", "loaded", "not-started", "pinned-other",
                             "stale-tag"]
    assert found["stale-tag"] == ImageMismatch(
        "default", "stale-tag", "my-service", f"{REPO}:dev", BUILT, EARLIER,
        STALE_TAG.format(image=f"{REPO}:dev"))
    assert found["stale-tag"].likely_cause == (
        f"the node already had {REPO}:dev from an earlier push and IfNotPresent did not "
        "pull: push under a new tag or pin the digest")
    assert found["pinned-other"].likely_cause == PINNED
    assert found["pinned-other"].running_digest == EARLIER
    assert found["always-moved"].likely_cause == ALWAYS.format(image=f"{REPO}:dev")
    assert found["loaded"].likely_cause == LOADED_IMAGE
    assert found["loaded"].running_digest == CONFIG
    assert (found["not-started"].running_digest, found["not-started"].likely_cause) == (
        "", NOT_RUNNING)


def test_the_built_digest_everywhere_is_no_mismatch() -> None:
    matching = [p for p in pods() if p["metadata"]["name"].endswith("-match")]
    assert len(matching) == 2
    assert verify_running(matching, {REPO: BUILT}) == []
    # The same pods against another build: both report what they run.
    assert [m.running_digest for m in verify_running(matching, {REPO: EARLIER})] == [
        BUILT, BUILT]


def test_expected_repositories_may_be_written_in_any_form() -> None:
    matching = [p for p in pods() if p["metadata"]["name"] == "containerd-match"]
    hexonly = BUILT.removeprefix("sha256:")
    assert verify_running(matching, {f"{REPO}:4f2a9c1": hexonly}) == []
    # The sidecar busybox:1.36 is docker.io/library/busybox, however it is named.
    [m] = verify_running(matching, {"docker.io/library/busybox": BUILT})
    assert (m.container, m.image) == ("proxy", "busybox:1.36")
    assert verify_running(matching, {"busybox": BUILT}) == [m]
    assert verify_running(matching, {"registry.example/other": BUILT}) == []


def test_init_containers_are_verified_too() -> None:
    pod = pods()[0]
    pod["spec"]["initContainers"] = [dict(pod["spec"]["containers"][0], name="setup")]
    pod["status"]["initContainerStatuses"] = [dict(pod["status"]["containerStatuses"][0],
                                                   name="setup", imageID="")]
    [m] = verify_running([pod], {REPO: BUILT})
    assert (m.container, m.likely_cause) == ("setup", NOT_RUNNING)


def test_format_mismatch_is_one_line_with_both_digests() -> None:
    found = by_pod(verify_running(pods(), {REPO: BUILT}))
    line = format_mismatch(found["stale-tag"])
    assert "\n" not in line
    assert line == (f"pod default/stale-tag container my-service ({REPO}:dev) runs {EARLIER}, "
                    f"hoist built {BUILT}: {STALE_TAG.format(image=f'{REPO}:dev')}")
    assert "runs nothing, hoist built" in format_mismatch(found["not-started"])


def test_likely_causes() -> None:
    repo_id = f"{REPO}@{EARLIER}"
    assert likely_cause(f"{REPO}:v1", PullPolicy.IF_NOT_PRESENT, "") == NOT_RUNNING
    assert likely_cause(f"{REPO}:v1", PullPolicy.IF_NOT_PRESENT, repo_id).startswith(
        f"the node already had {REPO}:v1")
    assert likely_cause(f"{REPO}@{BUILT}", PullPolicy.IF_NOT_PRESENT, repo_id) == PINNED
    assert likely_cause(f"{REPO}:v1", PullPolicy.NEVER, repo_id).startswith(
        "the node holds another image")
    assert "holds no digest" in likely_cause(f"{REPO}:v1", PullPolicy.ALWAYS, "garbage")


# --------------------------------------------------------------------------- properties

HEX64 = st.text("0123456789abcdef", min_size=64, max_size=64)
ALNUM = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=8)
# distribution/reference's path component: alphanumerics joined by ".", "_", "__" or dashes.
COMPONENT = st.builds(lambda first, rest: first + "".join(sep + part for sep, part in rest),
                      ALNUM, st.lists(st.tuples(st.sampled_from([".", "_", "__", "-", "--"]),
                                                ALNUM), max_size=2))
DOMAIN = st.sampled_from(["", "127.0.0.1:5000", "registry.example.com", "localhost:5000",
                          "localhost", "docker.io", "index.docker.io", "[::1]:5000"])
_TAG_FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_"
TAG = st.builds(str.__add__, st.sampled_from(_TAG_FIRST), st.text(_TAG_FIRST + ".-", max_size=20))


@st.composite
def repositories(draw: st.DrawFn) -> str:
    domain = draw(DOMAIN)
    path = "/".join(draw(st.lists(COMPONENT, min_size=1, max_size=3)))
    repo = f"{domain}/{path}" if domain else path
    # A 64-hex name alone is refused as ambiguous with an image ID.
    if len(path) == 64 and all(c in "0123456789abcdef" for c in path) and not domain:
        repo = f"x/{repo}"
    return repo


@settings(deadline=None)
@given(repositories(), HEX64, st.sampled_from(["", "docker-pullable://", "docker://"]))
def test_image_id_digest_reads_every_form(repo: str, hexdigest: str, scheme: str) -> None:
    digest = f"sha256:{hexdigest}"
    assert image_id_digest(f"{scheme}{repo}@{digest}") == digest
    assert image_id_is_repo_digest(f"{scheme}{repo}@{digest}")
    assert image_id_digest(f"{scheme}{digest}") == digest
    assert not image_id_is_repo_digest(f"{scheme}{digest}")


@settings(deadline=None)
@given(st.text(max_size=120))
def test_image_id_digest_never_raises_and_returns_a_digest_or_nothing(text: str) -> None:
    found = image_id_digest(text)
    assert found == "" or (found.startswith(("sha256:", "sha384:", "sha512:")) and
                           found.split(":", 1)[1] in text)


@settings(deadline=None)
@given(repositories(), HEX64)
def test_image_id_digest_refuses_short_or_uppercase_digests(repo: str, hexdigest: str) -> None:
    assert image_id_digest(f"{repo}@sha256:{hexdigest[:-1]}") == ""
    if hexdigest != hexdigest.upper():
        assert image_id_digest(f"{repo}@sha256:{hexdigest.upper()}") == ""


@settings(deadline=None)
@given(repositories(), st.one_of(st.none(), TAG), st.one_of(st.none(), HEX64))
def test_an_image_matches_its_repository_whatever_its_tag_and_digest(
        repo: str, tag: str | None, hexdigest: str | None) -> None:
    image = repo + (f":{tag}" if tag else "") + (f"@sha256:{hexdigest}" if hexdigest else "")
    assert matches_repository(image, repo)
    assert matches_repository(repo, image)


@settings(deadline=None)
@given(repositories(), COMPONENT, st.one_of(st.none(), TAG))
def test_an_image_does_not_match_another_repository(repo: str, extra: str,
                                                     tag: str | None) -> None:
    image = f"{repo}/{extra}" + (f":{tag}" if tag else "")
    assert not matches_repository(image, repo)
    assert not matches_repository(f"{repo}-{extra}", repo)


@settings(deadline=None)
@given(st.lists(COMPONENT, min_size=1, max_size=2), st.one_of(st.none(), TAG))
def test_docker_hub_names_match_in_every_spelling(path: list[str], tag: str | None) -> None:
    # A first component with a dot (or localhost) would name a registry instead.
    assume("." not in path[0] and path[0] != "localhost")
    name = "/".join(path)
    suffix = f":{tag}" if tag else ""
    full = f"docker.io/{name}" if len(path) > 1 else f"docker.io/library/{name}"
    for spelling in (name, f"docker.io/{name}", f"index.docker.io/{name}"):
        assert matches_repository(spelling + suffix, full)
