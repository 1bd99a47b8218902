"""The tag policies and build.tagPolicy parsing.

Expected values marked "skaffold" come from Skaffold's tests in pkg/skaffold/tag:
date_time_test.go, env_template_test.go, custom_template_test.go, git_commit_test.go
(TestGitCommit_CustomTemplate), sha256_test.go.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoist.core.reference import ANCHORED_TAG_RE
from hoist.errors import InputError
from hoist.tag.git import GitInfo
from hoist.tag.policies import (
    CustomTemplateTagger,
    DateTimeTagger,
    EnvTemplateTagger,
    GitCommitTagger,
    HoistDefaultTagger,
    InputDigestTagger,
    Sha256Tagger,
    TagContext,
    TagError,
    Tagger,
    current_user,
    generate_tag,
    hoist_default_tag,
    tagger_from_config,
    user_label,
)
from tests.tag.conftest import GitRepo

DIGEST = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
SKAFFOLD_TIME = datetime(2015, 3, 7, 11, 6, 39, 123456, tzinfo=UTC)


def ctx(context: Path | None = None, *, env: Mapping[str, str] | None = None,
        image: str = "test", now: datetime = SKAFFOLD_TIME, user: str = "dev",
        digest: Callable[[], str] = lambda: DIGEST) -> TagContext:
    return TagContext(image=image, context=context or Path("/nonexistent-context"),
                      input_digest=digest, env=env or {}, now=now, user=user)


def no_digest() -> str:
    raise AssertionError("the input digest was computed but not needed")


# -- dateTime ---------------------------------------------------------------------------------


@pytest.fixture
def berlin_local(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def test_datetime_default_local(berlin_local: None) -> None:
    # skaffold "default formatter": the local zone's abbreviation after .123
    assert DateTimeTagger().generate(ctx(now=SKAFFOLD_TIME.replace(tzinfo=None))) == \
        "2015-03-07_11-06-39.123_CET"
    assert DateTimeTagger().generate(ctx()) == "2015-03-07_12-06-39.123_CET"


def test_datetime_user_timezone_and_format() -> None:
    # skaffold "user provided timezone": time.Unix(1234, 123456789) in UTC
    unix = datetime.fromtimestamp(1234.123456, tz=UTC)
    assert DateTimeTagger(timezone="UTC").generate(ctx(now=unix)) == \
        "1970-01-01_00-20-34.123_UTC"
    # skaffold "user provided format"
    assert DateTimeTagger(format="2006-01-02").generate(ctx()) == "2015-03-07"
    assert DateTimeTagger(format="15h04", timezone="Asia/Tokyo").generate(ctx()) == "20h06"
    # Empty strings mean the defaults, as upstream.
    assert DateTimeTagger("", "UTC").generate(ctx()) == "2015-03-07_11-06-39.123_UTC"


def test_datetime_invalid_timezone() -> None:
    # skaffold "invalid timezone" fails (at tagging time there, at construction here)
    with pytest.raises(InputError, match=r"^build\.tagPolicy\.dateTime\.timezone: bad "
                                         r"timezone provided: 'foo'"):
        DateTimeTagger(format="2006-01-02", timezone="foo")


# -- envTemplate ------------------------------------------------------------------------------


def test_env_template_skaffold_table() -> None:
    # skaffold "empty env"
    assert EnvTemplateTagger("{{.IMAGE_NAME}}").generate(ctx(image="foo")) == "foo"
    # skaffold "env"; the ':' it contains makes it an invalid tag for hoist
    env = {"FOO": "BAR", "BAZ": "BAT"}
    tagger = EnvTemplateTagger("{{.FOO}}-{{.BAZ}}:latest")
    assert tagger.generate(ctx(env=env, image="foo")) == "BAR-BAT:latest"
    with pytest.raises(InputError, match="not a valid image tag"):
        tagger.tag(ctx(env=env))
    # skaffold "opts precedence": IMAGE_NAME is the artifact's, not the environment's
    assert EnvTemplateTagger("{{.IMAGE_NAME}}-{{.FROM_ENV}}").generate(ctx(
        env={"FROM_ENV": "FOO", "IMAGE_NAME": "BAT"}, image="image_name")) == "image_name-FOO"
    # skaffold "missing env", "digest is deprecated", ...: errors
    for template in ("{{.FOO}}:latest", "{{.IMAGE_NAME}}:{{.DIGEST}}",
                     "{{.IMAGE_NAME}}:{{.DIGEST_ALGO}}", "{{.IMAGE_NAME}}:{{.DIGEST_HEX}}"):
        with pytest.raises(TagError, match="environment variables missing"):
            EnvTemplateTagger(template).generate(ctx())


def test_env_template_missing_variable_falls_back_to_latest() -> None:
    result = generate_tag(EnvTemplateTagger("v-{{.RELEASE}}"), ctx())
    assert result.tag == "latest"
    assert result.fallback == "environment variables missing for template keys: RELEASE"
    assert EnvTemplateTagger('{{default "dev" .RELEASE}}').tag(ctx()) == "dev"
    assert EnvTemplateTagger("v-{{.RELEASE}}").tag(ctx(env={"RELEASE": "1.2"})) == "v-1.2"


def test_env_template_malformed() -> None:
    # skaffold TestNewEnvTemplateTagger "invalid template"
    with pytest.raises(InputError, match=r"^build\.tagPolicy\.envTemplate\.template: "
                                         r"template '\{\{\.FOO': unclosed action"):
        EnvTemplateTagger("{{.FOO")


# -- customTemplate ---------------------------------------------------------------------------

DATE_EXAMPLE = DateTimeTagger(format="2006-01-02", timezone="UTC")
ENV_EXAMPLE = EnvTemplateTagger("{{.FOO}}")
INVALID_ENV = EnvTemplateTagger("{{.BAR}}")
FOO_ENV = {"FOO": "BAR"}


@pytest.mark.parametrize(("template", "components", "expected"), [
    ("", {}, ""),                                                   # skaffold "empty template"
    ("foo-bar", {}, "foo-bar"),                                     # skaffold "only text"
    ("{{.FOO}}", {"FOO": DATE_EXAMPLE, "BAR": ENV_EXAMPLE}, "2015-03-07"),
    ("foo-{{.FOO}}-{{.BAR}}", {"FOO": ENV_EXAMPLE, "BAR": Sha256Tagger()}, "foo-BAR-latest"),
    ("{{.FOO}}", {"FOO": INVALID_ENV}, None),  # skaffold "faulty component"
    ("{{.FOO}}", {}, None),                    # skaffold "missing required components"
    ("{{.SHA}}", {}, "latest"),                # skaffold "default component name SHA"
    ("{{.GIT}}-{{.DATE}}-{{.SHA}}",            # skaffold "override default components"
     {"GIT": DATE_EXAMPLE, "DATE": ENV_EXAMPLE, "SHA": DATE_EXAMPLE}, "2015-03-07-BAR-2015-03-07"),
    ("{{.INPUT_DIGEST}}", {}, DIGEST),
])
def test_custom_template_skaffold_table(template: str, components: dict[str, Tagger],
                                        expected: str | None) -> None:
    tagger = CustomTemplateTagger(template, components)
    if expected is None:
        with pytest.raises(TagError):
            tagger.generate(ctx(env=FOO_ENV))
        assert tagger.tag(ctx(env=FOO_ENV)) == "latest"
    else:
        assert tagger.generate(ctx(env=FOO_ENV)) == expected


def test_custom_template_rejects_nesting_and_bad_templates() -> None:
    # skaffold "using customTemplate as a component"
    with pytest.raises(InputError, match="nested customTemplate"):
        CustomTemplateTagger("{{.FOO}}", {"FOO": CustomTemplateTagger("")})
    # skaffold TestCustomTemplate_NewCustomTemplateTagger "invalid template"
    with pytest.raises(InputError, match=r"^build\.tagPolicy\.customTemplate\.template: "):
        CustomTemplateTagger("{{.FOO", {"FOO": Sha256Tagger()})


def test_custom_template_evaluates_only_named_components() -> None:
    class Exploding:
        def tag(self, ctx: TagContext) -> str:
            raise AssertionError("evaluated")

        def describe(self) -> str:
            return "exploding"

    tagger = CustomTemplateTagger("{{.A}}", {"A": Sha256Tagger(), "B": Exploding()})
    assert tagger.generate(ctx(digest=no_digest)) == "latest"


def test_custom_template_with_git(git_repo: Callable[[str], GitRepo], tmp_path: Path) -> None:
    # skaffold TestGitCommit_CustomTemplate
    repo = git_repo("repo").write("source.go", "code").add("source.go").commit("initial")
    commit = CustomTemplateTagger("{{.FOO}}", {"FOO": GitCommitTagger("CommitSha")})
    assert commit.generate(ctx(repo.root)) == "eefe1b9c44eb0aa87199c9a079f2d48d8eb8baed"
    assert CustomTemplateTagger("{{.GIT}}").generate(ctx(repo.root)) == "eefe1b9"
    # The built-in GIT swallows its error (upstream ignores it); a named component does not.
    assert CustomTemplateTagger("x{{.GIT}}y").generate(ctx(tmp_path)) == "xy"
    with pytest.raises(TagError, match="evaluating custom template component FOO"):
        commit.generate(ctx(tmp_path))


# -- sha256, inputDigest ----------------------------------------------------------------------


def test_sha256_and_input_digest() -> None:
    assert Sha256Tagger().tag(ctx(digest=no_digest)) == "latest"
    assert InputDigestTagger().tag(ctx()) == DIGEST
    assert InputDigestTagger().tag(ctx(digest=lambda: f"sha256:{DIGEST}")) == DIGEST


# -- hoist's default --------------------------------------------------------------------------


def test_hoist_default_with_git(git_repo: Callable[[str], GitRepo]) -> None:
    repo = git_repo("repo").write("app/main.go", "code").add("app/main.go").commit("initial")
    app = repo.root / "app"
    tagger = HoistDefaultTagger()
    abbrev = repo.git("rev-parse", "--short", "HEAD")
    assert tagger.tag(ctx(app, digest=no_digest)) == abbrev

    repo.write("app/main.go", "edited")
    alice = tagger.tag(ctx(app, user="alice", digest=lambda: "1" * 64))
    bob = tagger.tag(ctx(app, user="bob", digest=lambda: "1" * 64))
    other_edit = tagger.tag(ctx(app, user="alice", digest=lambda: "2" * 64))
    assert alice == f"{abbrev}-dirty-alice-11111111"
    assert bob == f"{abbrev}-dirty-bob-11111111"
    assert other_edit == f"{abbrev}-dirty-alice-22222222"
    # Skaffold gives all three the same tag:
    assert {GitCommitTagger().tag(ctx(app, user=u)) for u in ("alice", "bob")} == \
        {f"{abbrev}-dirty"}


def test_hoist_default_outside_git(tmp_path: Path) -> None:
    tag = HoistDefaultTagger().tag(ctx(tmp_path, user="alice"))
    assert tag == f"alice-{DIGEST[:12]}"
    assert generate_tag(HoistDefaultTagger(), ctx(tmp_path)).fallback is None


def test_hoist_default_before_first_commit(git_repo: Callable[[str], GitRepo]) -> None:
    repo = git_repo("repo").write("main.go", "code")
    assert HoistDefaultTagger().tag(ctx(repo.root, user="alice")) == f"alice-{DIGEST[:12]}"


@pytest.mark.parametrize(("user", "label"), [
    ("alice", "alice"),
    ("a.b-c_d", "a.b-c_d"),
    ("José", "Jos_-" + hashlib.sha256("José".encode()).hexdigest()[:10]),
    ("-lead", "_lead-" + hashlib.sha256(b"-lead").hexdigest()[:10]),
    ("", "user-" + hashlib.sha256(b"").hexdigest()[:10]),
    ("x" * 40, "x" * 16 + "-" + hashlib.sha256(b"x" * 40).hexdigest()[:10]),
])
def test_user_label(user: str, label: str) -> None:
    assert user_label(user) == label


def _info(dirty: bool, abbrev: str = "eefe1b9") -> GitInfo:
    return GitInfo(commit=abbrev.ljust(40, "0"), tree="1" * 40, describe=abbrev, dirty=dirty,
                   root="/r", abbrev_commit=abbrev, abbrev_tree="1111111")


_users = st.text(max_size=60)
_contents = st.binary(max_size=64)
_trees = st.sampled_from([_info(True), _info(True, "0123456789ab"), None])


def _digest(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


@settings(deadline=None, max_examples=300)
@given(_trees, _users, _users, _contents, _contents)
def test_hoist_default_never_shares_a_tag(info: GitInfo | None, user1: str, user2: str,
                                          content1: bytes, content2: bytes) -> None:
    # Different developers, or different inputs (a real sha256 of different content; only a
    # prefix of it is used, so equal prefixes of different digests are as unlikely as any
    # 32-bit hash collision), on a dirty tree or outside git: different tags.
    tag1 = hoist_default_tag(info, user1, _digest(content1))
    tag2 = hoist_default_tag(info, user2, _digest(content2))
    assert ANCHORED_TAG_RE.fullmatch(tag1) and len(tag1) <= 88
    if user1 != user2 or content1 != content2:
        assert tag1 != tag2
    else:
        assert tag1 == tag2


@settings(deadline=None)
@given(_users, _contents)
def test_hoist_default_clean_tree_is_the_commit(user: str, content: bytes) -> None:
    assert hoist_default_tag(_info(False), user, _digest(content)) == "eefe1b9"


def test_current_user() -> None:
    assert current_user({"USER": "alice", "LOGNAME": "bob"}) == "alice"
    assert current_user({"LOGNAME": "bob"}) == "bob"
    assert isinstance(current_user({}), str)


# -- generate_tag -----------------------------------------------------------------------------


def test_generate_tag_validates_and_reports() -> None:
    assert generate_tag(Sha256Tagger(), ctx()).fallback is None
    empty = generate_tag(CustomTemplateTagger(""), ctx())
    assert empty.tag == "latest" and empty.fallback is not None
    with pytest.raises(InputError, match=r"^build\.tagPolicy: envTemplate.*'a b'"):
        generate_tag(EnvTemplateTagger("a b"), ctx())
    with pytest.raises(InputError, match="not a valid image tag"):
        EnvTemplateTagger("-x").tag(ctx())


# -- build.tagPolicy --------------------------------------------------------------------------


@pytest.mark.parametrize(("policy", "describe"), [
    (None, "hoist"),
    ({}, "hoist"),
    ({"hoist": {}}, "hoist"),
    ({"hoist": None}, "hoist"),
    ({"gitCommit": {}}, "gitCommit(variant=Tags)"),
    ({"gitCommit": None}, "gitCommit(variant=Tags)"),
    ({"gitCommit": {"variant": "AbbrevTreeSha", "prefix": "v", "ignoreChanges": True}},
     "gitCommit(variant=AbbrevTreeSha, prefix='v', ignoreChanges=true)"),
    ({"sha256": {}}, "sha256"),
    ({"inputDigest": {}}, "inputDigest"),
    ({"dateTime": {}}, "dateTime(format='2006-01-02_15-04-05.999_MST', timezone=Local)"),
    ({"dateTime": {"format": "2006", "timezone": "UTC"}}, "dateTime(format='2006', timezone=UTC)"),
    ({"envTemplate": {"template": "{{.FOO}}"}}, "envTemplate(template='{{.FOO}}')"),
    ({"customTemplate": {"template": "{{.A}}-{{.GIT}}",
                         "components": [{"name": "A", "sha256": {}},
                                        {"name": "B", "gitCommit": {"variant": "CommitSha"}}]}},
     "customTemplate(template='{{.A}}-{{.GIT}}', components=[A=sha256, "
     "B=gitCommit(variant=CommitSha)])"),
])
def test_tagger_from_config(policy: Mapping[str, Any] | None, describe: str) -> None:
    assert tagger_from_config(policy).describe() == describe


@pytest.mark.parametrize(("policy", "message"), [
    ({"gitCommit": {}, "sha256": {}}, "only one tag policy may be set, found gitCommit, sha256"),
    ({"latest": {}}, "unknown tag policy 'latest'"),
    (["gitCommit"], "must be a mapping, got list"),
    ({"gitCommit": "Tags"}, r"\.gitCommit: must be a mapping"),
    ({"gitCommit": {"varient": "Tags"}}, r"\.gitCommit: unknown key 'varient'"),
    ({"gitCommit": {"variant": "Nope"}}, r'\.gitCommit\.variant: "Nope" is not a valid'),
    ({"gitCommit": {"ignoreChanges": "yes"}}, r"\.ignoreChanges: must be true or false"),
    ({"gitCommit": {"prefix": 3}}, r"\.gitCommit\.prefix: must be a string"),
    ({"sha256": {"x": 1}}, r"\.sha256: unknown key 'x' \(this policy takes no options\)"),
    ({"dateTime": {"timezone": "Mars/Base"}}, r"\.dateTime\.timezone: bad timezone"),
    ({"envTemplate": {}}, r"\.envTemplate: template is required"),
    ({"envTemplate": {"template": "{{if .X}}"}}, r"\.envTemplate\.template: template "),
    ({"customTemplate": {"components": []}}, r"\.customTemplate: template is required"),
    ({"customTemplate": {"template": "x", "components": {}}}, r"components: must be a list"),
    ({"customTemplate": {"template": "x", "components": [{"sha256": {}}]}},
     r"components\[0\]: name is required"),
    ({"customTemplate": {"template": "x", "components": [{"name": "A"}]}},
     r"components\[0\]: a component names exactly one tag policy, found none"),
    ({"customTemplate": {"template": "x",
                         "components": [{"name": "A", "sha256": {}, "inputDigest": {}}]}},
     r"exactly one tag policy, found sha256, inputDigest"),
    ({"customTemplate": {"template": "x",
                         "components": [{"name": "A", "customTemplate": {"template": "y"}}]}},
     r"components\[0\]: nested customTemplate components are not supported \(A\)"),
    ({"customTemplate": {"template": "x",
                         "components": [{"name": "A", "sha256": {}},
                                        {"name": "A", "inputDigest": {}}]}},
     r"components\[1\]: multiple components with name A"),
    ({"customTemplate": {"template": "x",
                         "components": [{"name": "A", "dateTime": {"timezone": "nowhere"}}]}},
     r"components\[0\]\.dateTime\.timezone: bad timezone"),
    ({"customTemplate": {"template": "x", "components": [{"name": "A", "bogus": {}}]}},
     r"components\[0\]: unknown tag policy 'bogus'"),
])
def test_tagger_from_config_errors(policy: Any, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        tagger_from_config(policy)
    assert str(info.value).startswith("build.tagPolicy")
