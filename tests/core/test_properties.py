"""Property tests for references, digests and defaulting, generated from the grammar of
distribution/reference (reference.go doc comment, regexp.go)."""

from __future__ import annotations

import contextlib
import string

from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from hoist.core.digest import Digest, DigestError
from hoist.core.policy import (
    PullPolicy,
    apply_default_image_tag,
    default_pull_policy,
    parse_image_name,
)
from hoist.core.reference import (
    DEFAULT_DOMAIN,
    ERR_NAME_CONTAINS_UPPERCASE,
    ERR_NAME_TOO_LONG,
    NAME_TOTAL_LENGTH_MAX,
    ReferenceError,
    parse,
    parse_any_reference,
    parse_docker_ref,
    parse_named,
    parse_normalized_named,
    repository_name,
    split_docker_domain,
    with_name,
)

settings.register_profile("hoist-core", deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("hoist-core")

LOWER_ALNUM = string.ascii_lowercase + string.digits
ALNUM = string.ascii_letters + string.digits
HEX = "0123456789abcdef"

# alpha-numeric := /[a-z0-9]+/ ; separator := /[_.]|__|[-]+/
alphanumeric = st.text(LOWER_ALNUM, min_size=1, max_size=6)
separator = st.one_of(st.sampled_from([".", "_", "__"]), st.integers(1, 3).map(lambda n: "-" * n))
# path-component := alpha-numeric [separator alpha-numeric]*
path_component = st.builds(
    lambda first, rest: first + "".join(s + a for s, a in rest),
    alphanumeric,
    st.lists(st.tuples(separator, alphanumeric), max_size=2),
)
# path := path-component ['/' path-component]*
remote_name = st.lists(path_component, min_size=1, max_size=4).map("/".join)

# domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
domain_component = st.one_of(
    st.text(ALNUM, min_size=1, max_size=1),
    st.builds(
        lambda a, mid, b: a + mid + b,
        st.text(ALNUM, min_size=1, max_size=1),
        st.text(ALNUM + "-", max_size=6),
        st.text(ALNUM, min_size=1, max_size=1),
    ),
)
domain_name = st.lists(domain_component, min_size=1, max_size=3).map(".".join)
ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ipv6 = st.one_of(
    st.ip_addresses(v=6).map(lambda a: f"[{a.compressed}]"),
    st.ip_addresses(v=6).map(lambda a: f"[{a.exploded.upper()}]"),
)
host = st.one_of(domain_name, ipv4, ipv6, st.just("localhost"))
port = st.integers(0, 99999).map(str)
# domain := host [':' port-number]
domain = st.builds(lambda h, p: h + (f":{p}" if p is not None else ""), host, st.none() | port)

# tag := /[\w][\w.-]{0,127}/
WORD = ALNUM + "_"
tag = st.one_of(
    st.sampled_from(["latest", "Latest", "LATEST", "latest-dev", "v1", "1.25"]),
    st.builds(
        lambda a, b: a + b,
        st.text(WORD, min_size=1, max_size=1),
        st.text(WORD + ".-", max_size=20),
    ),
)
digest = st.one_of(
    st.text(HEX, min_size=64, max_size=64).map(lambda h: f"sha256:{h}"),
    st.text(HEX, min_size=128, max_size=128).map(lambda h: f"sha512:{h}"),
)


@st.composite
def references(draw: st.DrawFn, with_domain: bool | None = None) -> dict[str, str]:
    """A reference string from the grammar, with the parts it was built from."""
    has_domain = draw(st.booleans()) if with_domain is None else with_domain
    parts = {
        "domain": draw(domain) if has_domain else "",
        "path": draw(remote_name),
        "tag": draw(st.none() | tag) or "",
        "digest": draw(st.none() | digest) or "",
    }
    text = (parts["domain"] + "/" if parts["domain"] else "") + parts["path"]
    text += (":" + parts["tag"] if parts["tag"] else "") + (
        "@" + parts["digest"] if parts["digest"] else ""
    )
    parts["text"] = text
    return parts


# --------------------------------------------------------------------------------------
# parse → str round trip, fields as built
# --------------------------------------------------------------------------------------
@given(references())
def test_parse_round_trip(parts: dict[str, str]) -> None:
    ref = parse(parts["text"])
    assert str(ref) == parts["text"]
    assert ref.tag == parts["tag"]
    assert (str(ref.digest) if ref.digest else "") == parts["digest"]
    if parts["domain"]:
        assert (ref.domain, ref.path) == (parts["domain"], parts["path"])
    else:
        assert ref.name == parts["path"]  # a first component may still read as a domain


# --------------------------------------------------------------------------------------
# normalization: idempotent, and every normalized reference is canonical
# --------------------------------------------------------------------------------------
@given(references())
def test_normalization_is_idempotent(parts: dict[str, str]) -> None:
    x = parse_normalized_named(parts["text"])
    assert parse_normalized_named(str(x)) == x
    assert parse_named(str(x)) == x  # canonical form is accepted by ParseNamed
    assert parse(str(x)) == x
    assert x.tag == parts["tag"]
    assert (str(x.digest) if x.digest else "") == parts["digest"]


def test_normalized_name_can_lack_a_domain_as_upstream() -> None:
    # splitDockerDomain takes "0.0_0" for a host (it has a "."), but the grammar's domain
    # has no "_", so Parse("0.0_0/app") reads it all as a path: upstream returns a Named
    # with an empty domain, and so does hoist.
    x = parse_normalized_named("0.0_0/app")
    assert (x.domain, x.path) == ("", "0.0_0/app")
    assert parse_normalized_named(str(x)) == x


def _familiar_is_ambiguous(x_domain: str, familiar_name: str) -> bool:
    """splitDockerDomain reads a first component with "." (or "localhost") as a domain, so
    a Docker Hub namespace like that does not survive familiarization — upstream too:
    FamiliarString("docker.io/foo.bar/app") is "foo.bar/app", which normalizes to host
    foo.bar."""
    first, sep, _ = familiar_name.partition("/")
    return x_domain == DEFAULT_DOMAIN and bool(sep) and ("." in first or first == "localhost")


@given(references())
def test_familiar_normalizes_back(parts: dict[str, str]) -> None:
    x = parse_normalized_named(parts["text"])
    assume(not _familiar_is_ambiguous(x.domain, x.familiar_name))
    assert parse_normalized_named(x.familiar) == x
    assert parse_normalized_named(x.familiar_name) == x.trimmed()
    if x.domain == DEFAULT_DOMAIN:
        assert not x.familiar.startswith(DEFAULT_DOMAIN + "/")
    else:
        assert x.familiar == str(x)


def test_familiar_ambiguity_is_upstreams() -> None:
    x = parse_normalized_named("docker.io/foo.bar/app:v1")
    assert x.familiar == "foo.bar/app:v1"
    assert parse_normalized_named(x.familiar).domain == "foo.bar"


# --------------------------------------------------------------------------------------
# lowercase rule: an uppercase letter in the path is an error with upstream's text; in
# the domain it is fine.
# --------------------------------------------------------------------------------------
@given(references(with_domain=True), st.data())
def test_uppercase_path_is_rejected(parts: dict[str, str], data: st.DataObject) -> None:
    path = parts["path"]
    letters = [i for i, c in enumerate(path) if c.isalpha()]
    assume(letters)
    i = data.draw(st.sampled_from(letters))
    upper_path = path[:i] + path[i].upper() + path[i + 1 :]
    text = parts["text"].replace(
        parts["domain"] + "/" + path, parts["domain"] + "/" + upper_path, 1
    )

    try:
        parse(text)
    except ReferenceError as e:
        assert str(e) == ERR_NAME_CONTAINS_UPPERCASE
    else:
        raise AssertionError(f"{text!r} parsed")

    if split_docker_domain(text)[0] == parts["domain"]:
        remainder = text[len(parts["domain"]) + 1 :]
        remote = remainder.split(":", 1)[0]
        try:
            parse_normalized_named(text)
        except ReferenceError as e:
            assert str(e) == (
                f"invalid reference format: repository name ({remote}) must be lowercase"
            )
        else:
            raise AssertionError(f"{text!r} normalized")


@given(references(with_domain=True))
def test_uppercase_domain_is_accepted(parts: dict[str, str]) -> None:
    ref = parse(parts["text"])
    upper = parse(parts["text"].replace(parts["domain"], parts["domain"].upper(), 1))
    assert upper.domain == ref.domain.upper()
    assert upper.path == ref.path


# --------------------------------------------------------------------------------------
# 255-character limit: on the path (remote name) alone since distribution/reference
# v0.6.0; the domain does not count.
# --------------------------------------------------------------------------------------
@given(domain, remote_name, st.integers(0, 300))
@example("example.com", "a", 253)  # path of exactly 255
@example("example.com", "a", 254)  # path of 256
def test_path_length_limit(dom: str, path: str, extra: int) -> None:
    if extra:
        path = path + "/" + "a" * extra
    text = f"{dom}/{path}:v1"
    if len(path) <= NAME_TOTAL_LENGTH_MAX:
        assert parse(text).path == path
        assert with_name(f"{dom}/{path}").path == path
    else:
        for fn in (parse, with_name):
            try:
                fn(text if fn is parse else f"{dom}/{path}")
            except ReferenceError as e:
                assert str(e) == ERR_NAME_TOO_LONG
            else:
                raise AssertionError("accepted a path over the limit")


@given(domain_name, st.integers(130, 200), remote_name)
def test_long_domain_does_not_count(dom: str, repeat: int, path: str) -> None:
    dom = ".".join([dom] * repeat)
    assert len(dom) + 1 + len(path) > NAME_TOTAL_LENGTH_MAX
    assert parse(f"{dom}/{path}").domain == dom


@given(st.integers(1, 260))
def test_normalized_path_counts_library_prefix(n: int) -> None:
    name = "z" * n  # not hex: 64 hex digits would be an identifier
    normalized_path_length = len("library/") + n
    try:
        ref = parse_normalized_named(name)
    except ReferenceError as e:
        assert normalized_path_length > NAME_TOTAL_LENGTH_MAX
        assert str(e) == ERR_NAME_TOO_LONG
    else:
        assert normalized_path_length <= NAME_TOTAL_LENGTH_MAX
        assert ref.path == "library/" + name


# --------------------------------------------------------------------------------------
# defaulting: Always iff the parsed tag is exactly "latest", or neither tag nor digest
# --------------------------------------------------------------------------------------
@given(references())
def test_defaulting_rule(parts: dict[str, str]) -> None:
    x = parse_normalized_named(parts["text"])
    always = x.tag == "latest" or (not x.tag and x.digest is None)
    expected = PullPolicy.ALWAYS if always else PullPolicy.IF_NOT_PRESENT
    assert default_pull_policy(parts["text"]) is expected
    parsed = parse_image_name(parts["text"])
    assert parsed.repository == x.name
    assert (parsed.tag == "latest") is always
    # the kubelet's textual default tag never changes what the image resolves to
    assert parse_docker_ref(apply_default_image_tag(parts["text"])) == parse_docker_ref(
        parts["text"]
    )


# --------------------------------------------------------------------------------------
# arbitrary text: only ReferenceError (or DigestError for digests), never a crash
# --------------------------------------------------------------------------------------
REFERENCE_ALPHABET = st.sampled_from(
    [*(LOWER_ALNUM + "ABCZ:/@._-[]%"), "sha256:", "\u0130", "\u00e9", "\n", "\x00", "\ud800"]
)
near_references = st.one_of(
    st.text(),
    st.lists(REFERENCE_ALPHABET, max_size=40).map("".join),
    references().map(lambda p: p["text"]),
    st.builds(
        lambda t, i, junk: t[:i] + junk + t[i:],
        references().map(lambda p: p["text"]),
        st.integers(0, 80),
        st.text(max_size=3),
    ),
)


@given(near_references)
def test_arbitrary_text_raises_only_reference_error(text: str) -> None:
    for fn in (
        parse,
        parse_normalized_named,
        parse_any_reference,
        parse_named,
        parse_docker_ref,
        with_name,
        apply_default_image_tag,
    ):
        with contextlib.suppress(ReferenceError):
            fn(text)
    assert isinstance(repository_name(text), str)
    assert default_pull_policy(text) in (PullPolicy.ALWAYS, PullPolicy.IF_NOT_PRESENT)


@given(
    st.one_of(
        st.text(),
        st.builds(lambda a, b: f"{a}:{b}", st.text(max_size=10), st.text(max_size=130)),
        digest,
    )
)
def test_arbitrary_text_digest_raises_only_digest_error(text: str) -> None:
    try:
        d = Digest.parse(text)
    except DigestError:
        return
    assert str(d) == text
    assert Digest.parse(str(d)) == d
