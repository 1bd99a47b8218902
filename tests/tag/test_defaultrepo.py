"""apply_default_repo against Skaffold's own table and documentation, and its properties.

Sources: TestImageReplaceDefaultRepo in pkg/skaffold/docker/default_repo_test.go (rows
marked "table"), docs-v2/content/en/docs/environment/image-registries.md (rows marked
"docs"), and rows derived from the rule in default_repo.go (marked "rule").
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoist.core.reference import parse
from hoist.errors import InputError
from hoist.tag.defaultrepo import apply_default_repo, supports_multi_level

DIGEST = "sha256:81daf011d63b68cfa514ddab7741a1adddd59d3264118dfb0fd9266328bb8883"
LONG = ("gcr.io/herewehaveanincrediblylongregistryname/herewealsohaveanabnormallylongimagename"
        "/doubtyouveseenanimagethislong/butyouneverknowdoyouimeanpeopledosomecrazystuffoutthere"
        "/goodluckpushingthistoanyregistrymyfriend")
AWS = "aws_account_id.dkr.ecr.region.amazonaws.com"


@pytest.mark.parametrize(("image", "default_repo", "expected"), [
    # table: basic GCR concatenation
    ("gcr.io/some/registry", "gcr.io/default", "gcr.io/default/gcr.io/some/registry"),
    # table: no default repo set
    ("gcr.io/some/registry", "", "gcr.io/some/registry"),
    ("gcr.io/some/registry", None, "gcr.io/some/registry"),
    # table: provided image has defaultRepo prefix
    ("gcr.io/default/registry", "gcr.io/default", "gcr.io/default/registry"),
    # table: provided image has defaultRepo eu prefix
    ("eu.gcr.io/project/registry", "eu.gcr.io/project", "eu.gcr.io/project/registry"),
    # table: image has shared prefix with defaultRepo
    ("gcr.io/default/example/registry", "gcr.io/default/repository",
     "gcr.io/default/repository/example/registry"),
    # table: aws
    ("gcr.io/some/registry", AWS, f"{AWS}/gcr_io_some_registry"),
    # table: aws over 255 chars
    (LONG, AWS,
     f"{AWS}/gcr_io_herewehaveanincrediblylongregistryname_herewealsohaveanabnormallylong"
     "imagename_doubtyouveseenanimagethislong_butyouneverknowdoyouimeanpeopledosomecrazy"
     "stuffoutthere_goodluckpushingthistoanyregistrymyfrien"),
    # table: normal GCR concatenation with numbers and other characters
    ("gcr.io/k8s-skaffold/skaffold-example", "gcr.io/k8s-skaffold",
     "gcr.io/k8s-skaffold/skaffold-example"),
    # table: keep tag, keep digest, keep tag and digest
    ("img:tag", "gcr.io/default", "gcr.io/default/img:tag"),
    (f"img@{DIGEST}", "gcr.io/default", f"gcr.io/default/img@{DIGEST}"),
    (f"img:tag@{DIGEST}", "gcr.io/default", f"gcr.io/default/img:tag@{DIGEST}"),
    # docs: escape & concat & truncate
    ("gcr.io/k8s-skaffold/skaffold-example1", AWS,
     f"{AWS}/gcr_io_k8s-skaffold_skaffold-example1"),
    # docs: example1, prefix doesn't match
    ("gcr.io/k8s-skaffold/skaffold-example1", "gcr.io/myproject/myimage",
     "gcr.io/myproject/myimage/gcr.io/k8s-skaffold/skaffold-example1"),
    # docs: example2, prefix matches
    ("gcr.io/k8s-skaffold/skaffold-example1", "gcr.io/k8s-skaffold",
     "gcr.io/k8s-skaffold/skaffold-example1"),
    # docs: example3, shared prefix
    ("gcr.io/k8s-skaffold/skaffold-example1", "gcr.io/k8s-skaffold/myimage",
     "gcr.io/k8s-skaffold/myimage/skaffold-example1"),
    # rule: Artifact Registry nests like GCR
    ("app", "us-central1-docker.pkg.dev/my-project/repo",
     "us-central1-docker.pkg.dev/my-project/repo/app"),
    ("us-central1-docker.pkg.dev/my-project/other/app",
     "us-central1-docker.pkg.dev/my-project/repo",
     "us-central1-docker.pkg.dev/my-project/repo/other/app"),
    # rule: any other registry escapes; a local registry with a port included
    ("team/app", "localhost:5000", "localhost:5000/team_app"),
    ("localhost:5000/team/app:v1", "registry.example.com/dev",
     "registry.example.com/dev/localhost_5000_team_app:v1"),
    # rule: a project id too short for GCP (<6) does not count as a GCR prefix
    ("team/app", "gcr.io/abc", "gcr.io/abc/team_app"),
    # rule: the "already there" test is a plain string prefix, as upstream
    ("gcr.io/defaultx/app", "gcr.io/default", "gcr.io/defaultx/app"),
])
def test_skaffold_examples(image: str, default_repo: str | None, expected: str) -> None:
    assert apply_default_repo(default_repo, image) == expected


def test_multi_level_override() -> None:
    assert supports_multi_level("gcr.io/my-project")
    assert supports_multi_level("europe-west1-docker.pkg.dev/foo-dev/bar")
    assert not supports_multi_level("registry.example.com/team")
    assert apply_default_repo("registry.example.com/team", "a/b", multi_level=True) == \
        "registry.example.com/team/a/b"
    assert apply_default_repo("gcr.io/my-project", "a/b", multi_level=False) == \
        "gcr.io/my-project/a_b"


def test_truncation_never_leaves_a_separator_at_the_end() -> None:
    # Cut at 255 right after an escaped "/": Skaffold would keep the "_" and fail at push.
    repo = "r" * 200
    image = "a" * 54 + "/" + "b" * 40
    out = apply_default_repo(repo, image)
    assert out == repo + "/" + "a" * 54
    parse(out)


@pytest.mark.parametrize(("default_repo", "image", "why"), [
    ("gcr.io/default", "!!invalid!!", "invalid reference format"),  # table: invalid
    ("registry.example.com/Team", "app", "uppercase|invalid"),
    ("gcr.io/my-project", "localhost:5000/app", "invalid"),  # a port inside the path
    ("registry.example.com", "[::1]:5000/app", "invalid"),
])
def test_invalid_results_are_input_errors(default_repo: str, image: str, why: str) -> None:
    with pytest.raises(InputError, match=why):
        apply_default_repo(default_repo, image)


# -- properties -------------------------------------------------------------------------------

_alnum = st.text("abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=12)
_sep = st.sampled_from([".", "_", "__", "-", "--"])
_component = st.builds(lambda first, rest: first + "".join(s + a for s, a in rest),
                       _alnum, st.lists(st.tuples(_sep, _alnum), max_size=3))
_path = st.lists(_component, min_size=1, max_size=6).map("/".join)
_label = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_host = st.lists(_label, min_size=1, max_size=3).map(".".join)
_port = st.one_of(st.just(""), st.integers(1, 65535).map(lambda p: f":{p}"))
_project = st.from_regex(r"[a-z][a-z0-9-]{4,10}[a-z0-9]", fullmatch=True)

_images = st.one_of(
    _path,
    st.builds(lambda h, p, path: f"{h}.io{p}/{path}", _host, _port, _path),
    st.builds(lambda p, path: f"gcr.io/{p}/{path}", _project, _path),
)
_default_repos = st.one_of(
    st.builds(lambda h, p, path: f"{h}.example{p}/{path}", _host, _port, _path),
    st.builds(lambda h, p: f"{h}.example{p}", _host, _port),
    st.builds(lambda p, path: f"gcr.io/{p}/{path}", _project, _path),
    st.builds(lambda p: f"gcr.io/{p}", _project),
    st.builds(lambda r, p, n: f"{r}-docker.pkg.dev/{p}/{n}", _label, _project, _component),
    st.just("r" * 240),  # long enough that most results are cut at 255
)


@settings(deadline=None, max_examples=300)
@given(_default_repos, _images, st.one_of(st.just(""), st.just(":v1.2")))
def test_result_is_a_valid_repository(default_repo: str, image: str, tag: str) -> None:
    try:
        out = apply_default_repo(default_repo, image + tag)
    except InputError:
        # Only a registry port copied into a nested path can make the name invalid.
        assert supports_multi_level(default_repo) and ":" in image.split("/")[0]
        return
    ref = parse(out)
    assert ref.tag == tag[1:]
    assert len(ref.name) <= 255
    assert ref.name.startswith(default_repo[:255].rstrip("/._-"))
    # Applying it again changes nothing: the result already starts with the default repo.
    assert apply_default_repo(default_repo, out) == out
