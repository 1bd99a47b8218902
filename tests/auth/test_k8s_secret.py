"""`hoist secret`: the docker-registry Secret exactly as kubectl builds and prints it, and
`inspect` reading pull Secrets back without ever showing a password.

The comparisons against the real kubectl (`--dry-run=client`, no cluster needed) are the
specification; the golden strings below were captured from kubectl v1.32 and keep the
behaviour pinned where kubectl is not installed.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hoist.auth import (
    DEFAULT_DOCKER_SERVER,
    RegistryCredentialInfo,
    created_message,
    docker_config_json,
    docker_registry_secret,
    inspect_docker_config_secret,
    to_kubectl_json,
    to_kubectl_yaml,
)
from hoist.cli.main import main
from hoist.errors import InputError

requires_kubectl = pytest.mark.skipif(shutil.which("kubectl") is None,
                                      reason="kubectl not installed")

PASSWORD = "S3cr3t-PW-7f1c"  # distinctive, so "never appears" checks are meaningful


# --------------------------------------------------------------------------- kubectl


@dataclass(frozen=True)
class Case:
    id: str
    name: str = "my-secret"
    server: str | None = None  # None: kubectl's default, --docker-server not passed
    username: str = "user"
    password: str = "pass"
    email: str = ""
    namespace: str = ""

    def kubectl_args(self, output: str | None) -> list[str]:
        args = ["create", "secret", "docker-registry", self.name,
                f"--docker-username={self.username}", f"--docker-password={self.password}",
                "--dry-run=client"]
        if self.server is not None:
            args.append(f"--docker-server={self.server}")
        if self.email:
            args.append(f"--docker-email={self.email}")
        if self.namespace:
            args += ["-n", self.namespace]
        if output:
            args += ["-o", output]
        return args

    def hoist_args(self, output: str | None) -> list[str]:
        args = [a for a in self.kubectl_args(output)[3:] if a != "--dry-run=client"]
        return ["secret", "docker-registry", *args]

    def secret(self) -> dict[str, object]:
        return docker_registry_secret(
            self.name, DEFAULT_DOCKER_SERVER if self.server is None else self.server,
            self.username, self.password, email=self.email, namespace=self.namespace,
        )


LONG_NAME = "n" * 20 + " " + "n" * 30 + " " + "n" * 62 + " nnnnnn  " + "n" * 79 + " x"

CASES = [
    Case("default"),
    Case("server-with-port", server="registry.example.com:5000"),
    Case("localhost-port", server="localhost:5000"),
    Case("server-url-path", server="https://reg.example.com:8443/v2/team"),
    Case("server-html-chars", server="reg<>&.example:443"),
    Case("namespace", namespace="team-a"),
    Case("namespace-needs-quotes", namespace="on"),
    Case("namespace-date", namespace="2001-01-01"),
    Case("email", email="dev@example.com"),
    Case("email-html-chars", email='a<b>&"c"@x'),
    Case("password-specials", password='p<>&"\\x'),
    Case("password-unicode", password="pässwörd😀\u2028\u2029"),
    Case("password-colons", password="a:b::c:"),
    Case("password-controls", password="a\tb\nc\rd\x01\x08\x0c\x7f"),
    Case("username-unicode", username="ünïcødé"),
    Case("username-colon", username="robot$team:ci"),
    Case("long-values", username="u" * 200, password="p" * 300 + "<&>", email="e" * 120),
    Case("all-fields", server="quay.io", email="x@y.z", namespace="prod",
         password=PASSWORD),
    Case("name-true", name="true"),
    Case("name-number", name="123"),
    Case("name-hex", name="0x1F"),
    Case("name-float", name="1e3"),
    Case("name-date", name="2001-01-01"),
    Case("name-yes", name="y"),
    Case("name-null", name="null"),
    Case("name-base60", name="1:20"),
    Case("name-colon-space", name="a: b"),
    Case("name-hash", name="#x"),
    Case("name-merge-key", name="<<"),
    Case("name-trailing-space", name="trail "),
    Case("name-quote", name="it's"),
    Case("name-space", name="a b"),
    Case("name-unicode", name="é"),
    Case("name-emoji", name="😀x"),
    Case("name-bom", name="\ufeffx"),
    Case("name-newline", name="line\nbreak"),
    Case("name-leading-newline", name="\na"),
    Case("name-tab", name="a\tb"),
    Case("name-nel", name="a \x85 \x85 b"),
    Case("name-line-separator", name="\u2028x"),
    Case("name-html", name="n<&>"),
    Case("name-long-folded", name=LONG_NAME),
    Case("name-invalid-utf8", name="a\udcffb"),  # the byte 0xFF, as argv hands it over
    Case("name-del", name="a\x7fb"),  # kubectl -o yaml: "control characters are not allowed"
    Case("name-document-marker", name="a\x85--- b"),  # kubectl -o yaml: a YAML error too
]
OUTPUTS = ("yaml", "json", None)


@pytest.fixture(scope="session")
def kubectl_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    kubeconfig = tmp_path_factory.mktemp("kube") / "config"
    kubeconfig.write_text("")
    return {**os.environ, "KUBECONFIG": str(kubeconfig)}


def run_kubectl(args: list[str], env: dict[str, str]) -> tuple[int, bytes]:
    proc = subprocess.run(["kubectl", *args], capture_output=True, env=env, timeout=60)
    return proc.returncode, proc.stdout


@pytest.fixture(scope="session")
def kubectl_outputs(kubectl_env: dict[str, str]) -> dict[tuple[str, str | None], tuple[int, bytes]]:
    """Every (case, output) run through kubectl once, in parallel (≈50 ms a call)."""
    if shutil.which("kubectl") is None:
        pytest.skip(reason="kubectl not installed")
    jobs = [(case, out) for case in CASES for out in OUTPUTS]
    with ThreadPoolExecutor(max_workers=8) as pool:
        results = pool.map(lambda job: run_kubectl(job[0].kubectl_args(job[1]), kubectl_env),
                           jobs)
        return {(case.id, out): r for (case, out), r in zip(jobs, results, strict=True)}


def ours(case: Case, output: str | None) -> tuple[int, bytes]:
    secret = case.secret()
    try:
        if output == "yaml":
            text = to_kubectl_yaml(secret)
        elif output == "json":
            text = to_kubectl_json(secret)
        else:
            text = created_message(secret)
    except InputError:
        return 1, b""
    return 0, text.encode("utf-8", "surrogateescape")


@pytest.mark.system
@requires_kubectl
@pytest.mark.parametrize("output", OUTPUTS, ids=lambda o: o or "no-o")
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_library_matches_kubectl_byte_for_byte(
    case: Case, output: str | None, kubectl_outputs: dict[tuple[str, str | None], tuple[int, bytes]]
) -> None:
    code, expected = kubectl_outputs[(case.id, output)]
    got_code, got = ours(case, output)
    assert (got_code == 0) == (code == 0), f"kubectl exit {code}, ours {got_code}"
    assert got == expected


@pytest.mark.system
@requires_kubectl
@pytest.mark.parametrize("output", OUTPUTS, ids=lambda o: o or "no-o")
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_cli_matches_kubectl_byte_for_byte(
    case: Case, output: str | None, capsysbinary: pytest.CaptureFixture[bytes],
    kubectl_outputs: dict[tuple[str, str | None], tuple[int, bytes]],
) -> None:
    code, expected = kubectl_outputs[(case.id, output)]
    got_code = main(case.hoist_args(output))
    captured = capsysbinary.readouterr()
    if code == 0:
        assert got_code == 0
        assert captured.out == expected
    else:  # kubectl: "error: yaml: …", exit 1; hoist: bad input, exit 2, nothing on stdout
        assert got_code == 2
        assert captured.out == b""
        assert captured.err.count(b"\n") == 1
    assert case.password.encode() not in captured.err


TEXT = st.text(st.characters(exclude_characters="\x00", exclude_categories=["Cs"]),
               min_size=1, max_size=24)
TRICKY = st.lists(
    st.sampled_from([*" :#-.'\"\\<>&aZ0e_+~?,[{!|%@`\n\t\x85\u2028é😀\ufeff",
                     "true", "0x1F", "1.5", "---", "2001-01-01", "  ", "y", "null"]),
    min_size=1, max_size=10,
).map("".join)


@pytest.mark.system
@requires_kubectl
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(username=TEXT, password=TEXT, server=TEXT, email=st.one_of(st.just(""), TEXT))
def test_property_dockerconfigjson_encoder_matches_kubectl(
    username: str, password: str, server: str, email: str
) -> None:
    env = {**os.environ, "KUBECONFIG": os.devnull}
    case = Case("property", server=server, username=username, password=password, email=email)
    code, out = run_kubectl(case.kubectl_args("json"), env)
    assert code == 0
    payload = base64.b64decode(json.loads(out)["data"][".dockerconfigjson"])
    assert payload == docker_config_json(server, username, password, email).encode()
    assert out == to_kubectl_json(case.secret()).encode()


@pytest.mark.system
@requires_kubectl
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=TRICKY.filter(lambda s: not s.startswith("-")),
       namespace=st.one_of(st.just(""), TRICKY.filter(lambda s: not s.startswith("-"))))
def test_property_yaml_quoting_matches_kubectl(name: str, namespace: str) -> None:
    env = {**os.environ, "KUBECONFIG": os.devnull}
    case = Case("property", name=name, namespace=namespace)
    code, out = run_kubectl(case.kubectl_args("yaml"), env)
    assert ours(case, "yaml") == (0 if code == 0 else 1, out)


# --------------------------------------------------------------------------- golden (no kubectl)

# .dockerconfigjson payloads kubectl wrote for the golden cases
PAYLOAD_DEFAULT = (
    "eyJhdXRocyI6eyJodHRwczovL2luZGV4LmRvY2tlci5pby92MS8iOnsidXNlcm5hbWUiOiJ1IiwicGFzc3dvcmQi"
    "OiJwXHUwMDNjXHUwMDNlXHUwMDI2XCJcXHgiLCJhdXRoIjoiZFRwd1BENG1JbHg0In19fQ=="
)
PAYLOAD_LOCALHOST = (
    "eyJhdXRocyI6eyJsb2NhbGhvc3Q6NTAwMCI6eyJ1c2VybmFtZSI6InUiLCJwYXNzd29yZCI6InAiLCJlbWFpbCI6"
    "ImFcdTAwM2NiXHUwMDNlXHUwMDI2Y0B4IiwiYXV0aCI6ImRUcHcifX19"
)
PAYLOAD_HTML = (
    "eyJhdXRocyI6eyJodHRwczovL2luZGV4LmRvY2tlci5pby92MS8iOnsidXNlcm5hbWUiOiLDvCIsInBhc3N3b3Jk"
    "IjoicFx1MDAzY1x1MDAzZVx1MDAyNlwiXFw6eCIsImF1dGgiOiJ3N3c2Y0R3K0ppSmNPbmc9In19fQ=="
)
FOLDED_FIRST_LINE = " ".join(["n" * 20, "n" * 30, "n" * 62])  # go-yaml folds past column 80

GOLDEN_DEFAULT_YAML = f"""\
apiVersion: v1
data:
  .dockerconfigjson: {PAYLOAD_DEFAULT}
kind: Secret
metadata:
  creationTimestamp: null
  name: my-secret
type: kubernetes.io/dockerconfigjson
"""

GOLDEN_FOLDED_YAML = f"""\
apiVersion: v1
data:
  .dockerconfigjson: {PAYLOAD_LOCALHOST}
kind: Secret
metadata:
  creationTimestamp: null
  name: {FOLDED_FIRST_LINE}
    x
  namespace: "on"
type: kubernetes.io/dockerconfigjson
"""

GOLDEN_JSON = f"""\
{{
    "kind": "Secret",
    "apiVersion": "v1",
    "metadata": {{
        "name": "n\\u003c\\u0026\\u003e",
        "creationTimestamp": null
    }},
    "data": {{
        ".dockerconfigjson": "{PAYLOAD_HTML}"
    }},
    "type": "kubernetes.io/dockerconfigjson"
}}
"""


def test_golden_default_yaml() -> None:
    secret = docker_registry_secret("my-secret", DEFAULT_DOCKER_SERVER, "u", 'p<>&"\\x')
    assert to_kubectl_yaml(secret) == GOLDEN_DEFAULT_YAML


def test_golden_folded_name_and_quoted_namespace() -> None:
    name = "n" * 20 + " " + "n" * 30 + " " + "n" * 62 + " x"
    secret = docker_registry_secret(name, "localhost:5000", "u", "p", email="a<b>&c@x",
                                    namespace="on")
    assert to_kubectl_yaml(secret) == GOLDEN_FOLDED_YAML


def test_golden_json_escapes_html() -> None:
    secret = docker_registry_secret("n<&>", DEFAULT_DOCKER_SERVER, "ü", 'p<>&"\\:x')
    assert to_kubectl_json(secret) == GOLDEN_JSON


def test_nel_in_a_name_folds_like_kubectl() -> None:
    yaml_text = to_kubectl_yaml(docker_registry_secret("a\x85b", "s", "u", "p",
                                                       namespace="2001-01-01"))
    assert "  name: a b\n  namespace: \"2001-01-01\"\n" in yaml_text


@pytest.mark.parametrize("name", ["a\x7fb", "a\x85--- b", "\x80", "\ufffe"])
def test_names_kubectl_cannot_print_as_yaml(name: str) -> None:
    secret = docker_registry_secret(name, "s", "u", PASSWORD)
    with pytest.raises(InputError, match="cannot print the Secret as YAML") as info:
        to_kubectl_yaml(secret)
    assert PASSWORD not in str(info.value)
    to_kubectl_json(secret)  # JSON has no such limit


# --------------------------------------------------------------------------- build


def decoded_config(secret: dict[str, object]) -> dict[str, object]:
    data = secret["data"]
    assert isinstance(data, dict)
    loaded = json.loads(base64.b64decode(data[".dockerconfigjson"]))
    assert isinstance(loaded, dict)
    return loaded


def test_secret_shape_and_field_order() -> None:
    secret = docker_registry_secret("s", "reg:5000", "u", "p", email="e@x", namespace="ns")
    assert list(secret) == ["kind", "apiVersion", "metadata", "data", "type"]
    assert secret["metadata"] == {"name": "s", "namespace": "ns", "creationTimestamp": None}
    assert list(secret["metadata"]) == ["name", "namespace", "creationTimestamp"]
    assert secret["type"] == "kubernetes.io/dockerconfigjson"
    entry = decoded_config(secret)["auths"]["reg:5000"]  # type: ignore[index]
    assert list(entry) == ["username", "password", "email", "auth"]
    assert entry["auth"] == base64.b64encode(b"u:p").decode()


def test_email_and_namespace_omitted_when_empty() -> None:
    secret = docker_registry_secret("s", DEFAULT_DOCKER_SERVER, "u", "p")
    assert "namespace" not in secret["metadata"]
    assert decoded_config(secret) == {
        "auths": {DEFAULT_DOCKER_SERVER: {"username": "u", "password": "p", "auth": "dTpw"}}
    }
    assert docker_config_json("s", "u", "p") == \
        '{"auths":{"s":{"username":"u","password":"p","auth":"dTpw"}}}'


def test_dockerconfigjson_is_go_escaped() -> None:
    text = docker_config_json("r", "u", "<>&\u2028\u2029\x08\x0c\x01\x7f")
    assert '"password":"\\u003c\\u003e\\u0026\\u2028\\u2029\\b\\f\\u0001\x7f"' in text


def test_invalid_utf8_bytes_become_replacement_escapes() -> None:
    # Go's json writes each bad byte as \ufffd; auth keeps the raw bytes.
    text = docker_config_json("r", "u", "a\udcff\udcfeb")
    assert '"password":"a\\ufffd\\ufffdb"' in text
    assert base64.b64encode(b"u:a\xff\xfeb").decode() in text


@pytest.mark.parametrize(
    ("kwargs", "flag"),
    [({"username": ""}, "--docker-username"), ({"password": ""}, "--docker-password"),
     ({"server": ""}, "--docker-server")],
)
def test_empty_required_fields_are_refused(kwargs: dict[str, str], flag: str) -> None:
    args = {"name": "s", "server": "r", "username": "u", "password": PASSWORD} | kwargs
    with pytest.raises(InputError, match=flag) as info:
        docker_registry_secret(**args)
    assert PASSWORD not in str(info.value)


def test_empty_name_is_refused() -> None:
    with pytest.raises(InputError, match="name"):
        docker_registry_secret("", "r", "u", "p")


def test_to_kubectl_json_puts_fields_in_go_order_whatever_the_dict_order() -> None:
    secret = docker_registry_secret("s", "r", "u", "p", namespace="n")
    shuffled = {"type": secret["type"], "data": secret["data"],
                "metadata": {"creationTimestamp": None, "namespace": "n", "name": "s"},
                "apiVersion": "v1", "kind": "Secret"}
    assert to_kubectl_json(shuffled) == to_kubectl_json(secret)
    assert to_kubectl_yaml(shuffled) == to_kubectl_yaml(secret)


def test_cli_default_server_is_docker_hub(capsys: pytest.CaptureFixture[str]) -> None:
    from hoist.cli.main import main

    assert main(["secret", "docker-registry", "s", "--docker-username", "u",
                 "--docker-password", "p", "-o", "json"]) == 0
    secret = json.loads(capsys.readouterr().out)
    config = json.loads(base64.b64decode(secret["data"][".dockerconfigjson"]))
    assert list(config["auths"]) == [DEFAULT_DOCKER_SERVER] == ["https://index.docker.io/v1/"]


def test_created_message() -> None:
    assert created_message(docker_registry_secret("x", "r", "u", "p")) == \
        "secret/x created (dry run)\n"


# --------------------------------------------------------------------------- inspect


def secret_yaml(**entries: dict[str, str]) -> str:
    config = json.dumps({"auths": entries}).encode()
    return ("apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n"
            "type: kubernetes.io/dockerconfigjson\n"
            f"data:\n  .dockerconfigjson: {base64.b64encode(config).decode()}\n")


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def test_inspect_round_trip_yaml_json_and_object() -> None:
    secret = docker_registry_secret("s", "reg:5000", "robot", PASSWORD, email="e@x")
    want = [RegistryCredentialInfo("reg:5000", "robot")]
    assert inspect_docker_config_secret(secret) == want
    assert inspect_docker_config_secret(to_kubectl_yaml(secret)) == want
    assert inspect_docker_config_secret(to_kubectl_json(secret)) == want
    assert inspect_docker_config_secret(to_kubectl_json(secret).encode()) == want


@settings(max_examples=200, deadline=None)
@given(server=TEXT, username=TEXT.filter(lambda s: ":" not in s), password=TEXT,
       email=st.one_of(st.just(""), TEXT))
def test_property_inspect_gives_back_server_and_username(
    server: str, username: str, password: str, email: str
) -> None:
    secret = docker_registry_secret("s", server, username, password, email=email)
    for form in (secret, to_kubectl_json(secret), to_kubectl_yaml(secret)):
        infos = inspect_docker_config_secret(form)
        assert infos == [RegistryCredentialInfo(server, username)]
        assert all("password" not in vars(i) for i in infos)


def test_username_with_colon_reads_back_as_the_kubelet_reads_it() -> None:
    # kubectl writes auth=base64("a:b:pw"); the kubelet splits at the first colon.
    secret = docker_registry_secret("s", "r", "a:b", PASSWORD)
    assert inspect_docker_config_secret(secret) == [RegistryCredentialInfo("r", "a")]


def test_inspect_auth_overrides_username_and_unpadded_auth_is_accepted() -> None:
    text = secret_yaml(**{
        "one.example": {"username": "ignored", "password": "x", "auth": b64("real:pw")},
        "two.example": {"auth": b64("bob:pw").rstrip("=")},
        "three.example": {"username": "carol", "password": "pw"},
    })
    assert inspect_docker_config_secret(text) == [
        RegistryCredentialInfo("one.example", "real"),
        RegistryCredentialInfo("two.example", "bob"),
        RegistryCredentialInfo("three.example", "carol"),
    ]


def test_inspect_legacy_dockercfg_and_string_data() -> None:
    legacy = {"kind": "Secret", "type": "kubernetes.io/dockercfg",
              "data": {".dockercfg": b64(json.dumps({"old.example": {"auth": b64("u:p")}}))}}
    assert inspect_docker_config_secret(legacy) == [RegistryCredentialInfo("old.example", "u")]
    string_data = ("kind: Secret\ntype: kubernetes.io/dockerconfigjson\nstringData:\n"
                   "  .dockerconfigjson: '{\"auths\": {\"r\": {\"username\": \"sd\"}}}'\n"
                   "data:\n  .dockerconfigjson: " + b64('{"auths": {"r": {"username": "d"}}}')
                   + "\n")
    assert inspect_docker_config_secret(string_data) == [RegistryCredentialInfo("r", "sd")]


@pytest.mark.system
@requires_kubectl
def test_inspect_reads_kubectl_output(kubectl_env: dict[str, str]) -> None:
    case = Case("inspect", server="reg.example:5000", username="robot", password=PASSWORD)
    for output in ("yaml", "json"):
        code, out = run_kubectl(case.kubectl_args(output), kubectl_env)
        assert code == 0
        assert inspect_docker_config_secret(out) == [
            RegistryCredentialInfo("reg.example:5000", "robot")]


def bad_config(config: str, key: str = ".dockerconfigjson",
               stype: str = "kubernetes.io/dockerconfigjson") -> str:
    return json.dumps({"kind": "Secret", "type": stype, "data": {key: b64(config)}})


MALFORMED = [
    ("not-yaml", f"password: {PASSWORD}\n  - [\n\t{PASSWORD}", "not valid YAML or JSON"),
    ("not-json", '{"kind": "Secret", "data": {"x": "' + PASSWORD + '"', "not valid YAML"),
    ("not-a-mapping", f"- {PASSWORD}\n", "expected a mapping"),
    ("two-documents", "kind: Secret\n---\nkind: Secret\n", "found 2 documents"),
    ("configmap", json.dumps({"kind": "ConfigMap", "data": {"p": PASSWORD}}), "not a Secret"),
    ("opaque", json.dumps({"kind": "Secret", "data": {"p": b64(PASSWORD)}}), "Opaque"),
    ("missing-key", json.dumps({"kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                                "data": {"other": b64(PASSWORD)}}), "no .dockerconfigjson"),
    ("data-not-mapping", json.dumps({"kind": "Secret", "type": "kubernetes.io/dockercfg",
                                     "data": [PASSWORD]}), "data is not a mapping"),
    ("bad-base64", json.dumps({"kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
                               "data": {".dockerconfigjson": PASSWORD + "!"}}),
     "not valid base64"),
    ("payload-not-json", bad_config('{"auths": {"r": {"password": "' + PASSWORD + '"'),
     "is not valid JSON"),
    ("payload-not-object", bad_config(json.dumps([PASSWORD])), "not a JSON object"),
    ("bare-map-in-dockerconfigjson",
     bad_config(json.dumps({"r": {"username": "u", "password": PASSWORD}})),
     'no "auths" object'),
    ("auths-not-object", bad_config(json.dumps({"auths": [PASSWORD]})), '"auths" is not'),
    ("entry-not-object", bad_config(json.dumps({"auths": {"r": PASSWORD}})),
     "entry #1 is not a JSON object"),
    ("field-not-string", bad_config(json.dumps({"auths": {"r": {"password": 1,
                                                                  "username": ["u"]}}})),
     "field username is not a string"),
    ("auth-bad-base64", bad_config(json.dumps({"auths": {"r": {"auth": PASSWORD + "="}}})),
     "auth is not valid base64"),
    ("auth-without-colon", bad_config(json.dumps({"auths": {"r": {"auth": b64(PASSWORD)}}})),
     r"auth is not base64\(username:password\)"),
    ("dockercfg-entry-bad", bad_config(json.dumps({"r": {"auth": b64(PASSWORD)}}),
                                       ".dockercfg", "kubernetes.io/dockercfg"),
     "registry map entry #1"),
]


@pytest.mark.parametrize(("text", "message"), [m[1:] for m in MALFORMED],
                         ids=[m[0] for m in MALFORMED])
def test_malformed_secrets_give_one_line_errors_without_content(text: str, message: str) -> None:
    with pytest.raises(InputError, match=message) as info:
        inspect_docker_config_secret(text, source="pull.yaml")
    text_of_error = str(info.value)
    assert text_of_error.startswith("pull.yaml: ")
    assert "\n" not in text_of_error
    assert PASSWORD not in text_of_error
    assert b64(PASSWORD) not in text_of_error


def test_non_utf8_input_is_refused() -> None:
    with pytest.raises(InputError, match=r"f\.yaml: not UTF-8"):
        inspect_docker_config_secret(b"\xff\xfe", source="f.yaml")


# --------------------------------------------------------------------------- CLI


@pytest.fixture
def secret_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "pull.yaml"
    path.write_text(to_kubectl_yaml(docker_registry_secret(
        "s", "reg.example:5000", "robot", PASSWORD, email="ci@example.com")))
    yield path


def test_cli_inspect_table_and_json(secret_file: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["secret", "inspect", str(secret_file)]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["REGISTRY          USERNAME", "reg.example:5000  robot"]
    assert main(["secret", "inspect", "-o", "json", str(secret_file)]) == 0
    out2, err2 = capsys.readouterr()
    assert json.loads(out2) == [{"registry": "reg.example:5000", "username": "robot"}]
    for text in (out, err, out2, err2):
        assert PASSWORD not in text
        assert b64(PASSWORD) not in text


def test_cli_inspect_stdin(secret_file: Path, monkeypatch: pytest.MonkeyPatch,
                           capsys: pytest.CaptureFixture[str]) -> None:
    import io

    stdin = io.TextIOWrapper(io.BytesIO(secret_file.read_bytes()))
    monkeypatch.setattr("sys.stdin", stdin)
    assert main(["secret", "inspect", "-"]) == 0
    assert "reg.example:5000  robot" in capsys.readouterr().out


def test_cli_inspect_errors_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(bad_config(json.dumps({"auths": {"r": {"auth": b64(PASSWORD)}}})))
    assert main(["secret", "inspect", str(bad)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"hoist: {bad}: ") and err.count("\n") == 1
    assert PASSWORD not in err
    assert main(["secret", "inspect", str(tmp_path / "missing.yaml")]) == 2
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["s", f"--docker-password={PASSWORD}"],  # no username
        ["s", "--docker-username=u"],  # no password
        ["s", "--docker-username=u", f"--docker-password={PASSWORD}", "--docker-server="],
        ["--docker-username=u", f"--docker-password={PASSWORD}"],  # no NAME
        ["s", "--docker-username", "u", "--docker-password", "S3cr3t-PW", "7f1c"],  # split pw
        ["s", "--docker-username=u", f"--docker={PASSWORD}"],  # would be an ambiguous prefix
        ["s", "--docker-username=u", f"--docker-password={PASSWORD}", "-o", "xml"],
    ],
)
def test_cli_usage_errors_exit_2_with_one_line_and_no_password(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        code = main(["secret", "docker-registry", *argv])
        raise SystemExit(code)
    assert info.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith("hoist: ") and err.count("\n") == 1
    assert PASSWORD not in err and "7f1c" not in err and "S3cr3t" not in err


def test_cli_without_output_prints_created_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["secret", "docker-registry", "x", "--docker-username=u",
                 "--docker-password=p", "-n", "ns"]) == 0
    assert capsys.readouterr().out == "secret/x created (dry run)\n"
    # kubectl's own flag is accepted, so a kubectl command line works as it is
    assert main(["secret", "docker-registry", "x", "--docker-username=u",
                 "--docker-password=p", "--dry-run=client", "-o", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["metadata"]["name"] == "x"
