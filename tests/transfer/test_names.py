"""hoist.transfer.names: image names with a transport, as skopeo spells them."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hoist.core.reference import parse_normalized_named
from hoist.errors import InputError
from hoist.transfer.names import ImageName, parse_image_name, parse_reference

DIGEST = "sha256:" + "0123456789abcdef" * 4


@pytest.mark.parametrize(
    ("text", "transport", "normalized"),
    [
        ("docker://nginx", "docker", "docker.io/library/nginx:latest"),
        ("docker://nginx:1.25", "docker", "docker.io/library/nginx:1.25"),
        ("docker://library/nginx", "docker", "docker.io/library/nginx:latest"),
        ("docker://index.docker.io/library/nginx", "docker", "docker.io/library/nginx:latest"),
        ("docker://ghcr.io/org/app:v1", "docker", "ghcr.io/org/app:v1"),
        ("docker://localhost:5000/app", "docker", "localhost:5000/app:latest"),
        ("docker://[::1]:5000/app:t", "docker", "[::1]:5000/app:t"),
        (f"docker://nginx@{DIGEST}", "docker", f"docker.io/library/nginx@{DIGEST}"),
        (f"docker://nginx:1.25@{DIGEST}", "docker", f"docker.io/library/nginx:1.25@{DIGEST}"),
        ("store:nginx", "store", "docker.io/library/nginx:latest"),
        ("store:quay.io/a/b:c", "store", "quay.io/a/b:c"),
        (f"store:app@{DIGEST}", "store", f"docker.io/library/app@{DIGEST}"),
        # bare names default to docker
        ("nginx", "docker", "docker.io/library/nginx:latest"),
        ("user/app:dev", "docker", "docker.io/user/app:dev"),
        ("localhost:5000/app", "docker", "localhost:5000/app:latest"),
        ("registry.example.com:443/team/app:1", "docker", "registry.example.com:443/team/app:1"),
    ],
)
def test_docker_and_store_names(text: str, transport: str, normalized: str) -> None:
    name = parse_image_name(text)
    assert name.transport == transport
    assert str(name.reference) == normalized
    assert name.path == "" and name.tag == ""
    sep = "://" if transport == "docker" else ":"
    assert str(name) == f"{transport}{sep}{normalized}"


def test_parts_of_a_docker_name() -> None:
    name = parse_image_name("docker://ghcr.io/org/team/app:v2")
    assert (name.registry, name.repository, name.ref) == ("ghcr.io", "org/team/app", "v2")
    assert name.store_key == "ghcr.io/org/team/app:v2"


def test_ref_prefers_the_digest() -> None:
    name = parse_image_name(f"docker://app:v1@{DIGEST}")
    assert name.ref == DIGEST
    assert parse_image_name(f"app@{DIGEST}").ref == DIGEST
    assert parse_image_name("app").ref == "latest"


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("nginx", "docker.io/library/nginx:latest"),
        ("store:nginx:1.25", "docker.io/library/nginx:1.25"),
        (f"store:app@{DIGEST}", f"docker.io/library/app@{DIGEST}"),
        # with a tag the store records name:tag (the digest is what the record holds)
        (f"app:v1@{DIGEST}", "docker.io/library/app:v1"),
        ("docker://localhost:5000/a/b", "localhost:5000/a/b:latest"),
    ],
)
def test_store_key(text: str, key: str) -> None:
    assert parse_image_name(text).store_key == key


@pytest.mark.parametrize(
    ("text", "path", "tag"),
    [
        ("oci:dir", "dir", ""),
        ("oci:dir:", "dir", ""),
        ("oci:/tmp/layout:v1", "/tmp/layout", "v1"),
        ("oci:./rel/dir:latest", "./rel/dir", "latest"),
        # the directory ends at the first colon, as containers/image splits it
        ("oci:dir:tag:with:colons", "dir", "tag:with:colons"),
        ("oci:dir:localhost:5000/app:v1", "dir", "localhost:5000/app:v1"),
    ],
)
def test_oci_names(text: str, path: str, tag: str) -> None:
    name = parse_image_name(text)
    assert name == ImageName("oci", path=path, tag=tag)
    assert name.reference is None
    assert str(name) == (f"oci:{path}:{tag}" if tag else f"oci:{path}")


@pytest.mark.parametrize("text", ["oci:", "oci::tag"])
def test_oci_without_a_directory(text: str) -> None:
    with pytest.raises(InputError) as e:
        parse_image_name(text)
    assert str(e.value) == f"{text!r}: oci: needs a directory (oci:DIR[:TAG])"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("docker://", "''"),
        ("docker://Nginx", "'Nginx'"),
        ("docker://nginx:bad tag", "'nginx:bad tag'"),
        ("docker://nginx@sha256:abc", "'nginx@sha256:abc'"),
        ("store:app/UPPER", "'app/UPPER'"),
        ("store:", "''"),
        ("-leading-dash", "'-leading-dash'"),
        ("a" * 64, "'" + "a" * 64 + "'"),
        ("nginx:", "'nginx:'"),
    ],
)
def test_invalid_references_name_the_input(text: str, shown: str) -> None:
    with pytest.raises(InputError) as e:
        parse_image_name(text)
    assert str(e.value).startswith(f"image reference {shown}: ")


@pytest.mark.parametrize("text", ["http://registry/app", "https://ghcr.io/a/b",
                                  "docker-daemon://x", "oci-archive://x.tar",
                                  "docker-archive:img.tar", "dir:/tmp/x"])
def test_unknown_transports(text: str) -> None:
    with pytest.raises(InputError) as e:
        parse_image_name(text)
    prefix = text.split(":", 1)[0]
    assert str(e.value) == (f"{text!r}: transport {prefix!r} is not supported "
                            "(use docker://, oci:DIR[:TAG] or store:)")


def test_default_transport_store() -> None:
    name = parse_image_name("app:1", default="store")
    assert name.transport == "store" and str(name) == "store:docker.io/library/app:1"
    # an explicit transport wins over the default
    assert parse_image_name("docker://app", default="store").transport == "docker"


def test_default_transport_oci_needs_a_transport() -> None:
    with pytest.raises(InputError, match=r"^'app': name a transport \(oci:DIR\[:TAG\]\)$"):
        parse_image_name("app", default="oci")
    assert parse_image_name("oci:d", default="oci").path == "d"


def test_parse_reference_what() -> None:
    with pytest.raises(InputError, match=r"^source 'Bad': "):
        parse_reference("Bad", "source")
    assert str(parse_reference("a/b")) == "docker.io/a/b:latest"


# --------------------------------------------------------------------------------------
# property: a valid normalized reference round-trips through docker:// and store:
# --------------------------------------------------------------------------------------
LOWER_ALNUM = string.ascii_lowercase + string.digits
alnum = st.text(LOWER_ALNUM, min_size=1, max_size=5)
separator = st.sampled_from([".", "_", "__", "-", "--"])
component = st.builds(lambda a, rest: a + "".join(s + b for s, b in rest), alnum,
                      st.lists(st.tuples(separator, alnum), max_size=2))
path = st.lists(component, min_size=1, max_size=3).map("/".join)
domain = st.one_of(
    st.just(""), st.just("localhost"), st.just("docker.io"), st.just("index.docker.io"),
    st.builds(lambda a, b: f"{a}.{b}", st.text(LOWER_ALNUM, min_size=1, max_size=6),
              st.sampled_from(["io", "com", "example"])),
    st.builds(lambda h, p: f"{h}:{p}", st.sampled_from(["localhost", "reg.example", "[::1]",
                                                        "10.0.0.1"]), st.integers(1, 65535)),
)
tag = st.builds(lambda a, b: a + b, st.text(string.ascii_letters + string.digits + "_",
                                            min_size=1, max_size=1),
                st.text(string.ascii_letters + string.digits + "_.-", max_size=12))
digest = st.text("0123456789abcdef", min_size=64, max_size=64).map(lambda h: f"sha256:{h}")


@st.composite
def reference_texts(draw: st.DrawFn) -> str:
    d, p = draw(domain), draw(path)
    text = f"{d}/{p}" if d else p
    t, dg = draw(st.none() | tag), draw(st.none() | digest)
    return text + (f":{t}" if t else "") + (f"@{dg}" if dg else "")


@settings(max_examples=200, deadline=None)
@given(reference_texts(), st.sampled_from(["docker", "store"]))
def test_normalized_references_round_trip(text: str, transport: str) -> None:
    ref = parse_normalized_named(text)
    prefix = "docker://" if transport == "docker" else "store:"
    name = parse_image_name(prefix + text)
    assert name.transport == transport
    assert name.reference is not None
    assert (name.reference.domain, name.reference.path) == (ref.domain, ref.path)
    assert name.reference.digest == ref.digest
    assert name.reference.tag == (ref.tag or ("" if ref.digest else "latest"))
    # the printed name parses back to itself, and is stable
    again = parse_image_name(str(name))
    assert again == name
    assert str(again) == str(name)
    if ref.tag or ref.digest:
        assert str(name) == prefix + str(ref)
    assert parse_image_name(prefix + name.store_key).store_key == name.store_key
