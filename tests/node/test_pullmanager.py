"""KEP-2535 pulled-image records and the pull manager's decisions, on real files.

The tables follow the kubelet's own (pkg/kubelet/images/pullmanager/*_test.go): the same
record files (written here as the kubelet writes them), the same images, secrets and
service accounts, the same expected decisions. A runtime appears where the manager asks one
(``initialize``): hoist's builtin runtime over a real registry."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hoist.core.policy import (
    CredentialVerificationPolicy,
    allowlist_pattern,
    credential_verification_required,
    image_matches_allowlist,
)
from hoist.errors import InputError
from hoist.node.pullmanager import (
    WRITE_RECORD_WHILE_MATCHING_LIMIT,
    ImagePullCredentials,
    ImagePullSecret,
    ImagePullServiceAccount,
    InvalidAllowlist,
    NoopPullManager,
    PullManager,
    credential_hash,
    credentials_used,
    leftover_intents_to_records,
    merge_credentials,
    pod_credentials,
    records_dir_for,
)
from hoist.node.pullrecords import (
    FsPullRecords,
    ImagePulledRecord,
    ImagePullIntent,
    PullRecordError,
    cache_filename,
    decode_pulled_record,
    encode_intent,
    encode_pulled_record,
)
from hoist.node.runtime import AuthConfig, ImageInfo

NEVER = CredentialVerificationPolicy.NEVER_VERIFY
PRELOADED = CredentialVerificationPolicy.NEVER_VERIFY_PRELOADED
ALLOWLISTED = CredentialVerificationPolicy.NEVER_VERIFY_ALLOWLISTED
ALWAYS = CredentialVerificationPolicy.ALWAYS_VERIFY

OLD = "2024-10-21T12:26:40Z"  # the kubelet's test records' lastUpdatedTime
OLD_TS = 1729513600.0


# -- the kubelet's test records, as files ------------------------------------------------

def pulled_doc(image_ref: str, mapping: dict[str, Any] | None = None,
               api: str = "kubelet.config.k8s.io/v1alpha1") -> str:
    doc: dict[str, Any] = {"kind": "ImagePulledRecord", "apiVersion": api,
                           "lastUpdatedTime": OLD, "imageRef": image_ref}
    if mapping is not None:
        doc["credentialMapping"] = mapping
    return json.dumps(doc)


def intent_doc(image: str, api: str = "kubelet.config.k8s.io/v1alpha1") -> str:
    return json.dumps({"kind": "ImagePullIntent", "apiVersion": api, "image": image})


TEST_SECRET = {"uid": "testsecretuid", "namespace": "default", "name": "pull-secret",
               "credentialHash": "testsecrethash"}
PULLED: dict[str, str] = {
    "testimageref": pulled_doc("testimageref", {
        "docker.io/testing/test": {"kubernetesSecrets": [TEST_SECRET]}}),
    "testemptycredmapping": pulled_doc("testemptycredmapping"),
    "testimage-anonpull": pulled_doc("testimage-anonpull", {
        "docker.io/testing/test": {"nodePodsAccessible": True}},
        api="kubelet.config.k8s.io/v1beta1"),
    "test-brokenhash": pulled_doc("test-brokenhash", {
        "docker.io/testing/test": {"kubernetesSecrets": [{**TEST_SECRET, "credentialHash": ""}]}}),
    "testimageref-sa": pulled_doc("testimageref-sa", {
        "docker.io/testing/test": {"kubernetesServiceAccounts": [
            {"uid": "test-sa-uid", "namespace": "default", "name": "test-sa"}]}}),
}
PULLING: dict[str, str] = {
    "docker.io/testing/test:latest": intent_doc("docker.io/testing/test:latest",
                                                api="kubelet.config.k8s.io/v1beta1"),
    "repo.repo/test/test:v1": intent_doc("repo.repo/test/test:v1"),
    "docker.io/testing/test:something": intent_doc("docker.io/testing/test:something"),
}


def seed(records_dir: Path, pulled: Sequence[str] = (), pulling: Sequence[str] = ()) -> None:
    for sub, keys, docs in (("pulled", pulled, PULLED), ("pulling", pulling, PULLING)):
        d = records_dir / sub
        d.mkdir(parents=True, exist_ok=True)
        for key in keys:
            (d / cache_filename(key)).write_text(docs[key])


def secret(uid: str = "testsecretuid", ns: str = "default", name: str = "pull-secret",
           h: str = "testsecrethash") -> ImagePullSecret:
    return ImagePullSecret(uid, ns, name, h)


def sa(uid: str = "test-sa-uid", ns: str = "default", name: str = "test-sa",
       ) -> ImagePullServiceAccount:
    return ImagePullServiceAccount(uid, ns, name)


class CredentialsProbe:
    """The pod's credentials, and whether the manager asked for them."""

    def __init__(self, secrets: Sequence[ImagePullSecret] = (),
                 account: ImagePullServiceAccount | None = None) -> None:
        self.secrets = list(secrets)
        self.account = account
        self.calls = 0

    def __call__(self) -> tuple[list[ImagePullSecret], ImagePullServiceAccount | None]:
        self.calls += 1
        return self.secrets, self.account


@pytest.fixture
def records_dir(tmp_path: Path) -> Path:
    return records_dir_for(tmp_path / "node")


@pytest.fixture
def node_runtime(tmp_path: Path) -> Any:
    from hoist.node.builtin import BuiltinRuntime

    rt = BuiltinRuntime(tmp_path / "node-store", insecure=True)
    yield rt
    rt.close()


def make_manager(records_dir: Path, runtime: Any, policy: CredentialVerificationPolicy,
                 allowlist: Sequence[str] = (), **kw: Any) -> PullManager:
    return PullManager(records_dir, policy, allowlist, runtime, **kw)


# -- file names and formats --------------------------------------------------------------

@pytest.mark.parametrize(("key", "name"), [
    # fs_pullrecords_test / image_pull_manager_test file names.
    ("repo.repo/test/test:latest",
     "sha256-7d8c031e2f1aeaa71649ca3e0b64c9902370ed460ef57fb07582a87a5a1e1c02"),
    ("testimageref", "sha256-b3c0cc4278800b03a308ceb2611161430df571ca733122f0a40ac8b9792a9064"),
    ("docker.io/testing/test:latest",
     "sha256-aef2af226629a35d5f3ef0fdbb29fdbebf038d0acd8850590e8c48e1e283aa56"),
    ("testimageref1",
     "sha256-d77ed7480bc819274ea7a4dba5b2699b2d3f73c6e578762df42e5a8224771096"),
])
def test_cache_filename_is_the_kubelets(key: str, name: str) -> None:
    assert cache_filename(key) == name


def test_intent_bytes_are_the_kubelets() -> None:
    assert encode_intent(ImagePullIntent("docker.io/testing/test:something")) == (
        b'{"kind":"ImagePullIntent","apiVersion":"kubelet.config.k8s.io/v1alpha1",'
        b'"image":"docker.io/testing/test:something"}\n')


def test_pulled_record_bytes_round_trip() -> None:
    record = ImagePulledRecord("sha256:abc", OLD_TS, {
        "docker.io/b": ImagePullCredentials(node_pod_accessible=True),
        "docker.io/a": ImagePullCredentials(
            secrets=(secret(),), service_accounts=(sa(),)),
    })
    data = encode_pulled_record(record)
    assert data == (
        b'{"kind":"ImagePulledRecord","apiVersion":"kubelet.config.k8s.io/v1alpha1",'
        b'"lastUpdatedTime":"2024-10-21T12:26:40Z","imageRef":"sha256:abc",'
        b'"credentialMapping":{"docker.io/a":{"kubernetesSecrets":[{"uid":"testsecretuid",'
        b'"namespace":"default","name":"pull-secret","credentialHash":"testsecrethash"}],'
        b'"kubernetesServiceAccounts":[{"uid":"test-sa-uid","namespace":"default",'
        b'"name":"test-sa"}]},"docker.io/b":{"nodePodsAccessible":true}}}\n')
    assert decode_pulled_record(data) == record


_text = st.text(max_size=12)
_secrets = st.builds(ImagePullSecret, _text, _text, _text, _text)
_accounts = st.builds(ImagePullServiceAccount, _text, _text, _text)
_credentials = st.one_of(
    st.just(ImagePullCredentials(node_pod_accessible=True)),
    st.builds(ImagePullCredentials, st.lists(_secrets, max_size=3).map(tuple),
              st.lists(_accounts, max_size=3).map(tuple)))


@given(ref=_text, when=st.integers(min_value=0, max_value=4102444800),
       mapping=st.dictionaries(_text, _credentials, max_size=3))
def test_pulled_record_codec_round_trips(ref: str, when: int,
                                         mapping: dict[str, ImagePullCredentials]) -> None:
    record = ImagePulledRecord(ref, float(when), mapping)
    data = encode_pulled_record(record)
    assert b"<" not in data and b">" not in data and b"&" not in data  # Go's HTML escaping
    assert decode_pulled_record(data) == record
    assert encode_pulled_record(decode_pulled_record(data)) == data


@pytest.mark.parametrize("key", sorted(PULLED))
def test_every_kubelet_test_record_reads(records_dir: Path, key: str) -> None:
    seed(records_dir, pulled=[key])
    got = FsPullRecords(records_dir).get_pulled_record(key)
    assert got is not None and got.image_ref == key and got.last_updated == OLD_TS


@pytest.mark.parametrize(("content", "problem"), [
    (b"{not json", "not an ImagePulledRecord"),
    (b"[]", "not a JSON object"),
    (intent_doc("x").encode(), "kind is 'ImagePullIntent'"),
    (pulled_doc("r").replace("v1alpha1", "v9").encode(), "unknown apiVersion"),
    (pulled_doc("r")[:-1].encode() + b',"extra":1}', 'unknown field "extra"'),
    (pulled_doc("r", {"docker.io/x": {"nodePodsAccessible": "yes"}}).encode(),
     "nodePodsAccessible must be a boolean"),
    (pulled_doc("r", {"docker.io/x": {"kubernetesSecrets": 7}}).encode(),
     "kubernetesSecrets must be a list"),
    (pulled_doc("r", {"docker.io/x": {"kubernetesServiceAccounts": [{"uid": 1}]}}).encode(),
     "uid must be a string"),
    (b"\xff\xfe", "not an ImagePulledRecord"),
    (pulled_doc("r").replace(OLD, "yesterday").encode(), "not an ImagePulledRecord"),
])
def test_corrupt_pulled_record(records_dir: Path, content: bytes, problem: str) -> None:
    records = FsPullRecords(records_dir)
    (records.pulled_dir / cache_filename("r")).write_bytes(content)
    with pytest.raises(PullRecordError) as exc:
        records.get_pulled_record("r")
    assert problem in str(exc.value) and cache_filename("r") in str(exc.value)
    listed, problems = records.list_pulled_records()
    assert listed == [] and len(problems) == 1 and problem in problems[0]


def test_listing_skips_tmp_foreign_and_directories(records_dir: Path) -> None:
    seed(records_dir, pulled=["testimageref"], pulling=["repo.repo/test/test:v1"])
    records = FsPullRecords(records_dir)
    (records.pulled_dir / (cache_filename("half") + ".tmp")).write_text("{")
    (records.pulled_dir / "README").write_text("not a record")
    (records.pulled_dir / (cache_filename("dir"))).mkdir()
    (records.pulling_dir / "sha256-bad").write_text("garbage")
    pulled, pulled_problems = records.list_pulled_records()
    assert [r.image_ref for r in pulled] == ["testimageref"] and pulled_problems == []
    intents, problems = records.list_intents()
    assert [i.image for i in intents] == ["repo.repo/test/test:v1"]
    assert len(problems) == 1 and "sha256-bad" in problems[0]


def test_record_whose_ref_differs_from_its_name_is_absent(records_dir: Path) -> None:
    records = FsPullRecords(records_dir)
    (records.pulled_dir / cache_filename("other")).write_text(PULLED["testimageref"])
    assert records.get_pulled_record("other") is None


def test_writes_are_atomic_and_private(records_dir: Path) -> None:
    records = FsPullRecords(records_dir)
    records.write_intent("repo.repo/test/test:v1")
    records.write_pulled_record(ImagePulledRecord("ref", OLD_TS, {}))
    for d in (records.pulling_dir, records.pulled_dir):
        assert stat.S_IMODE(d.stat().st_mode) == 0o700
        names = os.listdir(d)
        assert len(names) == 1 and not names[0].endswith(".tmp")
        assert stat.S_IMODE((d / names[0]).stat().st_mode) == 0o600


def test_write_failure_is_reported_and_leaves_no_tmp(records_dir: Path) -> None:
    records = FsPullRecords(records_dir)
    target = records.pulled_dir / cache_filename("ref")
    target.mkdir()  # a directory where the record goes: the rename fails
    with pytest.raises(PullRecordError) as exc:
        records.write_pulled_record(ImagePulledRecord("ref", OLD_TS, {}))
    assert str(target) in str(exc.value)
    assert sorted(os.listdir(records.pulled_dir)) == [cache_filename("ref")]


# -- credential hash ---------------------------------------------------------------------

def test_credential_hash_is_sha256_of_gos_json() -> None:
    auth = AuthConfig(username="alice", password="s3cret")
    expected = hashlib.sha256(b'{"username":"alice","password":"s3cret"}').hexdigest()
    assert credential_hash(auth) == expected
    assert credential_hash(auth, email="a@b.c") == hashlib.sha256(
        b'{"username":"alice","password":"s3cret","email":"a@b.c"}').hexdigest()


def test_credential_hash_escapes_as_go_does() -> None:
    auth = AuthConfig(username="<a&b>", password="p\u2028é", server_address="r.io",
                      identity_token="i", registry_token="t", auth="YTpi")
    assert credential_hash(auth) == hashlib.sha256(
        b'{"username":"\\u003ca\\u0026b\\u003e","password":"p\\u2028\xc3\xa9","auth":"YTpi",'
        b'"serveraddress":"r.io","identitytoken":"i","registrytoken":"t"}').hexdigest()


def test_credential_hash_changes_with_the_secret() -> None:
    assert credential_hash(AuthConfig("u", "p1")) != credential_hash(AuthConfig("u", "p2"))


# -- merging credentials (Test_pulledRecordMergeNewCreds) -------------------------------

def s(uid: str, ns: str, name: str, h: str) -> ImagePullSecret:
    return ImagePullSecret(uid, ns, name, h)


BASE = ImagePulledRecord("testImageRef", 1000.0, {
    "test-image1": ImagePullCredentials(secrets=(s("uid1", "namespace1", "name1", "hash1"),)),
    "test-image2": ImagePullCredentials(secrets=(s("uid1", "namespace1", "name1", "hash1"),
                                                 s("uid2", "namespace2", "name2", "hash2"))),
    "test-image-with-sa": ImagePullCredentials(
        service_accounts=(ImagePullServiceAccount("sa-uid1", "default", "sa1"),)),
    "test-image-mixed": ImagePullCredentials(
        secrets=(s("secret-uid1", "kube-system", "secret1", "secret-hash1"),),
        service_accounts=(ImagePullServiceAccount("sa-uid2", "kube-system", "sa2"),)),
    "test-nodewide": ImagePullCredentials(node_pod_accessible=True),
})
NODE = ImagePullCredentials(node_pod_accessible=True)
MERGES: list[tuple[str, str, ImagePullCredentials | None, ImagePullCredentials | None]] = [
    ("new image", "new-image",
     ImagePullCredentials(secrets=(s("newuid", "newnamespace", "newname", "newhash"),)),
     ImagePullCredentials(secrets=(s("newuid", "newnamespace", "newname", "newhash"),))),
    ("merge with an existing secret", "test-image1",
     ImagePullCredentials(secrets=(s("newuid", "newnamespace", "newname", "newhash"),)),
     ImagePullCredentials(secrets=(s("uid1", "namespace1", "name1", "hash1"),
                                   s("newuid", "newnamespace", "newname", "newhash")))),
    ("sorted by namespace, name, uid", "test-image2",
     ImagePullCredentials(secrets=(s("newuid", "namespace1", "newname", "newhash"),)),
     ImagePullCredentials(secrets=(s("uid1", "namespace1", "name1", "hash1"),
                                   s("newuid", "namespace1", "newname", "newhash"),
                                   s("uid2", "namespace2", "name2", "hash2")))),
    ("node-accessible overrides secrets", "test-image2", NODE, NODE),
    ("same coordinates, new hash", "test-image2",
     ImagePullCredentials(secrets=(s("uid2", "namespace2", "name2", "newhash"),)),
     ImagePullCredentials(secrets=(s("uid1", "namespace1", "name1", "hash1"),
                                   s("uid2", "namespace2", "name2", "newhash")))),
    ("same hash, new coordinates", "test-image2",
     ImagePullCredentials(secrets=(s("uid3", "namespace2", "name3", "hash2"),)),
     ImagePullCredentials(secrets=(s("uid1", "namespace1", "name1", "hash1"),
                                   s("uid2", "namespace2", "name2", "hash2"),
                                   s("uid3", "namespace2", "name3", "hash2")))),
    ("new image with a service account", "new-sa-image",
     ImagePullCredentials(service_accounts=(sa("new-sa-uid", "default", "new-sa"),)),
     ImagePullCredentials(service_accounts=(sa("new-sa-uid", "default", "new-sa"),))),
    ("merge a service account", "test-image-with-sa",
     ImagePullCredentials(service_accounts=(sa("new-sa-uid", "kube-system", "new-sa"),)),
     ImagePullCredentials(service_accounts=(sa("sa-uid1", "default", "sa1"),
                                            sa("new-sa-uid", "kube-system", "new-sa")))),
    ("identical service account", "test-image-with-sa",
     ImagePullCredentials(service_accounts=(sa("sa-uid1", "default", "sa1"),)), None),
    ("service account added to secrets", "test-image2",
     ImagePullCredentials(service_accounts=(sa("new-sa-uid", "default", "new-sa"),)),
     ImagePullCredentials(secrets=BASE.credential_mapping["test-image2"].secrets,
                          service_accounts=(sa("new-sa-uid", "default", "new-sa"),))),
    ("secret added to service accounts", "test-image-with-sa",
     ImagePullCredentials(secrets=(s("new-secret-uid", "default", "new-secret", "nsh"),)),
     ImagePullCredentials(secrets=(s("new-secret-uid", "default", "new-secret", "nsh"),),
                          service_accounts=(sa("sa-uid1", "default", "sa1"),))),
    ("node-accessible overrides mixed", "test-image-mixed", NODE, NODE),
    ("nothing added to node-accessible (secret)", "test-nodewide",
     ImagePullCredentials(secrets=(s("any-uid", "any-namespace", "any-name", "any-hash"),)),
     None),
    ("nothing added to node-accessible (account)", "test-nodewide",
     ImagePullCredentials(service_accounts=(sa("any-sa-uid", "any-namespace", "any-sa"),)),
     None),
    ("no credentials", "test-image1", None, None),
    ("empty credentials", "test-image1", ImagePullCredentials(), None),
    ("a new image keeps its secrets' order", "new-sorted-image",
     ImagePullCredentials(secrets=(s("uid-z", "z-namespace", "z-name", "hash-z"),
                                   s("uid-a", "a-namespace", "a-name", "hash-a"))),
     ImagePullCredentials(secrets=(s("uid-z", "z-namespace", "z-name", "hash-z"),
                                   s("uid-a", "a-namespace", "a-name", "hash-a")))),
    ("same account name, other uid", "test-image-with-sa",
     ImagePullCredentials(service_accounts=(sa("different-uid", "default", "sa1"),)),
     ImagePullCredentials(service_accounts=(sa("different-uid", "default", "sa1"),
                                            sa("sa-uid1", "default", "sa1")))),
]


@pytest.mark.parametrize(("name", "image", "new", "expected"), MERGES, ids=[m[0] for m in MERGES])
def test_merge_credentials(name: str, image: str, new: ImagePullCredentials | None,
                           expected: ImagePullCredentials | None) -> None:
    got, changed = merge_credentials(BASE, image, new, now=2000.0)
    if expected is None:
        assert not changed and got is BASE
        return
    assert changed and got.last_updated == 2000.0
    assert got.credential_mapping[image] == expected
    others = {k: v for k, v in got.credential_mapping.items() if k != image}
    assert others == {k: v for k, v in BASE.credential_mapping.items() if k != image}


# -- MustAttemptImagePull (TestFileBasedImagePullManager_MustAttemptImagePull) ----------

LATEST = "docker.io/testing/test:latest"
MUST_ATTEMPT: list[tuple[str, CredentialVerificationPolicy, list[ImagePullSecret],
                         ImagePullServiceAccount | None, str, str, list[str], list[str],
                         bool, bool]] = [
    # name, policy, pod secrets, pod SA, image, image ref, pulled, pulling, want, asked
    ("recorded with the pod's exact secret", PRELOADED, [secret()], None, LATEST,
     "testimageref", ["testimageref"], [], False, True),
    ("recorded, no pod secrets", PRELOADED, [], None, LATEST,
     "testimageref", ["testimageref"], [], True, True),
    ("same secret, different hash (rotated)", PRELOADED, [secret(h="differenthash")], None,
     LATEST, "testimageref", ["testimageref"], [], False, True),
    ("different secret uid", PRELOADED, [secret(uid="different uid", h="differenthash")], None,
     LATEST, "testimageref", ["testimageref"], [], True, True),
    ("different secret namespace", PRELOADED, [secret(ns="differentns", h="differenthash")],
     None, LATEST, "testimageref", ["testimageref"], [], True, True),
    ("different secret, same hash", PRELOADED, [secret(ns="differentns")], None, LATEST,
     "testimageref", ["testimageref"], [], False, True),
    ("empty credential mapping", PRELOADED, [], None, LATEST,
     "testemptycredmapping", ["testemptycredmapping"], [], True, False),
    ("absent image", PRELOADED, [], None, LATEST, "", [], [], True, False),
    ("no records, NeverVerifyPreloadedImages", PRELOADED, [], None, LATEST,
     "testexistingref", [], [], False, False),
    ("no records, AlwaysVerify", ALWAYS, [], None, LATEST,
     "testexistingref", [], [], True, False),
    ("only a pull intent", PRELOADED, [secret()], None, LATEST,
     "testexistingref", [], [LATEST], True, False),
    ("only a pull intent, NeverVerify", NEVER, [secret()], None, LATEST,
     "testexistingref", [], [LATEST], False, False),
    ("node-accessible, no pod secrets", PRELOADED, [], None, LATEST,
     "testimage-anonpull", ["testimage-anonpull"], [], False, False),
    ("node-accessible, pod secrets", PRELOADED, [secret()], None, LATEST,
     "testimage-anonpull", ["testimage-anonpull"], [], False, False),
    ("recorded hash empty, other secret with empty hash", PRELOADED,
     [secret(ns="differentns", h="")], None, LATEST,
     "test-brokenhash", ["test-brokenhash"], [], True, True),
    ("recorded hash empty, same secret with empty hash", PRELOADED, [secret(h="")], None,
     LATEST, "test-brokenhash", ["test-brokenhash"], [], False, True),
    ("the pod's exact service account", PRELOADED, [], sa(), LATEST,
     "testimageref-sa", ["testimageref-sa"], [], False, True),
    ("no pod service account", PRELOADED, [], None, LATEST,
     "testimageref", ["testimageref"], [], True, True),
    ("service account with another uid", PRELOADED, [], sa(uid="different-sa-uid"), LATEST,
     "testimageref-sa", ["testimageref-sa"], [], True, True),
    ("service account in another namespace", PRELOADED, [], sa(ns="different-ns"), LATEST,
     "testimageref-sa", ["testimageref-sa"], [], True, True),
    ("only a pull intent, with a service account", PRELOADED, [], sa(), LATEST,
     "testexistingref", [], [LATEST], True, False),
    ("only a pull intent, with a service account, NeverVerify", NEVER, [], sa(), LATEST,
     "testexistingref", [], [LATEST], False, False),
    ("node-accessible, pod service account", PRELOADED, [], sa(), LATEST,
     "testimage-anonpull", ["testimage-anonpull"], [], False, False),
    # Released kubelets (1.33-1.35): the record is per image ref, so a name the record does
    # not mention must verify. kubernetes#138175 (open PR #139156) would treat it as
    # preloaded instead.
    ("recorded under another name, same secret", PRELOADED, [secret()], None,
     "docker.io/testing/different:latest", "testimageref", ["testimageref"], [], True, False),
    ("recorded under another name, same service account", PRELOADED, [], sa(),
     "docker.io/testing/different:latest", "testimageref-sa", ["testimageref-sa"], [],
     True, False),
]


@pytest.mark.parametrize(
    ("name", "policy", "secrets", "account", "image", "image_ref", "pulled", "pulling",
     "want", "asked"), MUST_ATTEMPT, ids=[m[0] for m in MUST_ATTEMPT])
def test_must_attempt_image_pull(
        records_dir: Path, node_runtime: Any, name: str,
        policy: CredentialVerificationPolicy, secrets: list[ImagePullSecret],
        account: ImagePullServiceAccount | None, image: str, image_ref: str,
        pulled: list[str], pulling: list[str], want: bool, asked: bool) -> None:
    seed(records_dir, pulled=pulled, pulling=pulling)
    manager = make_manager(records_dir, node_runtime, policy)
    probe = CredentialsProbe(secrets, account)
    assert manager.must_attempt_image_pull(image, image_ref, probe) is want
    assert (probe.calls > 0) is asked


@pytest.mark.parametrize(("pod_secret", "expected_secrets"), [
    # Rotated Secret: the new hash replaces the old at the same coordinates.
    (secret(h="differenthash"), [secret(h="differenthash")]),
    # Another Secret holding the same credential is added beside the first.
    (secret(ns="differentns"), [secret(), secret(ns="differentns")]),
])
def test_matching_writes_the_other_half_back(records_dir: Path, node_runtime: Any,
                                             pod_secret: ImagePullSecret,
                                             expected_secrets: list[ImagePullSecret]) -> None:
    seed(records_dir, pulled=["testimageref"])
    manager = make_manager(records_dir, node_runtime, PRELOADED)
    assert not manager.must_attempt_image_pull(LATEST, "testimageref",
                                               CredentialsProbe([pod_secret]))
    record = manager.records.get_pulled_record("testimageref")
    assert record is not None and record.last_updated > OLD_TS
    assert list(record.credential_mapping["docker.io/testing/test"].secrets) == expected_secrets


def test_exact_match_writes_nothing(records_dir: Path, node_runtime: Any) -> None:
    seed(records_dir, pulled=["testimageref"])
    path = records_dir / "pulled" / cache_filename("testimageref")
    before = path.read_bytes()
    manager = make_manager(records_dir, node_runtime, PRELOADED)
    assert not manager.must_attempt_image_pull(LATEST, "testimageref",
                                               CredentialsProbe([secret()]))
    assert path.read_bytes() == before


def test_no_write_back_past_the_limit(records_dir: Path, node_runtime: Any) -> None:
    many = tuple(secret(uid=f"u{i}", name=f"n{i}", h=f"h{i}")
                 for i in range(WRITE_RECORD_WHILE_MATCHING_LIMIT))
    records = FsPullRecords(records_dir)
    records.write_pulled_record(ImagePulledRecord("ref", OLD_TS, {
        "docker.io/testing/test": ImagePullCredentials(secrets=many)}))
    manager = make_manager(records_dir, node_runtime, PRELOADED)
    rotated = secret(uid="u7", name="n7", h="new")
    assert not manager.must_attempt_image_pull(LATEST, "ref", CredentialsProbe([rotated]))
    record = records.get_pulled_record("ref")
    assert record is not None and record.last_updated == OLD_TS


def test_corrupt_pulled_record_means_pull(records_dir: Path, node_runtime: Any) -> None:
    records = FsPullRecords(records_dir)
    (records.pulled_dir / cache_filename("ref")).write_text("{broken")
    for policy in CredentialVerificationPolicy:
        manager = make_manager(records_dir, node_runtime, policy)
        assert manager.must_attempt_image_pull(LATEST, "ref", CredentialsProbe())
    # The next successful pull replaces the broken record.
    manager = make_manager(records_dir, node_runtime, PRELOADED)
    manager.record_pull_intent(LATEST)
    manager.record_image_pulled(LATEST, "ref", ImagePullCredentials(secrets=(secret(),)))
    assert not manager.must_attempt_image_pull(LATEST, "ref", CredentialsProbe([secret()]))


def test_corrupt_intent_means_pull(records_dir: Path, node_runtime: Any) -> None:
    records = FsPullRecords(records_dir)
    (records.pulling_dir / cache_filename(LATEST)).write_text("{broken")
    manager = make_manager(records_dir, node_runtime, PRELOADED, initialize_now=False)
    assert manager.must_attempt_image_pull(LATEST, "ref", CredentialsProbe())


def test_unparsable_image_with_a_record_verifies(records_dir: Path, node_runtime: Any) -> None:
    seed(records_dir, pulled=["testimage-anonpull"])
    manager = make_manager(records_dir, node_runtime, PRELOADED)
    assert manager.must_attempt_image_pull("Not/A:Valid:Name", "testimage-anonpull",
                                           CredentialsProbe())


# -- policies ----------------------------------------------------------------------------

@pytest.mark.parametrize(("policy", "pulled_by_node", "want"), [
    (NEVER, False, False), (NEVER, True, False),
    (PRELOADED, False, False), (PRELOADED, True, True),
    (ALWAYS, False, True), (ALWAYS, True, True),
])
def test_policy_without_allowlist(policy: CredentialVerificationPolicy, pulled_by_node: bool,
                                  want: bool) -> None:
    assert credential_verification_required(policy, "test-image:sometag", pulled_by_node) is want


ALLOWLIST_CASES: list[tuple[list[str], bool, int, int]] = [
    # TestNewNeverVerifyAllowListedPullPolicy, image "test.io/test/test-image:tag".
    (["test.io/test/image1", "test.io/test/image2", "test.io/test/image3"], True, 3, 0),
    (["test.io/test/image1", "test.io/test/image3", "test.io/test/image2",
      "test.io/test/image3"], True, 3, 0),
    (["test.io/test/image1", "test.io/test/image2", "test.io/test/test-image",
      "test.io/test/image3"], False, 4, 0),
    (["test.io/test/image1", "test.io/test/image2", "different.repo/test/*"], True, 2, 1),
    (["test.io/test/image1", "test.io/test/image2", "test.io/test/*"], False, 2, 1),
    (["test.io/test/image1", "test.io/test/image2", "test.io/*"], False, 2, 1),
]


@pytest.mark.parametrize(("allowlist", "want", "exact", "prefixes"), ALLOWLIST_CASES)
@pytest.mark.parametrize("pulled_by_node", [False, True])
def test_allowlist_policy(allowlist: list[str], want: bool, exact: int, prefixes: int,
                          pulled_by_node: bool) -> None:
    patterns = [allowlist_pattern(p) for p in allowlist]
    assert len({p for p, wild in patterns if not wild}) == exact
    assert sum(1 for _, wild in patterns if wild) == prefixes
    assert credential_verification_required(
        ALLOWLISTED, "test.io/test/test-image:tag", pulled_by_node, allowlist) is want


@pytest.mark.parametrize(("pattern", "message"), [
    ("image.repo/pokus*/imagename", "not a valid wildcard pattern, only patterns ending with "
                                    "'/*' are allowed: image.repo/pokus*/imagename"),
    ("image.repo/pokus*", "not a valid wildcard pattern"),
    ("image.repo/*/imagename", "not a valid wildcard pattern"),
    ("/*", "at least registry hostname is required"),
    ("image.repo/", "failed to parse as an image name: "),
    ("", "the supplied pattern is too short: "),
    ("*", "not a valid wildcard pattern"),
    ("test.io/test/image1:tagged",
     "neither tag nor digest is accepted in an image reference: test.io/test/image1:tagged"),
    ("test.io/test/image1@sha256:38a8906435c4dd5f4258899d46621bfd8eea3ad6ff494ee3c2f17ef0321625bd",
     "neither tag nor digest is accepted"),
    ("test.io/test/image1 ", "leading/trailing spaces are not allowed: test.io/test/image1 "),
    ("nginx", "neither tag nor digest is accepted"),  # must be written normalized
])
def test_invalid_allowlist_patterns(records_dir: Path, node_runtime: Any, pattern: str,
                                    message: str) -> None:
    with pytest.raises(ValueError) as exc:
        allowlist_pattern(pattern)
    assert str(exc.value).startswith(message)
    with pytest.raises(InvalidAllowlist) as err:
        make_manager(records_dir, node_runtime, ALLOWLISTED, [pattern])
    assert isinstance(err.value, InputError) and message in str(err.value)
    # Other policies do not read the allowlist.
    make_manager(records_dir, node_runtime, PRELOADED, [pattern])


_label = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=1, max_size=6)
_repo = st.lists(_label, min_size=1, max_size=3).map("/".join)
_host = st.sampled_from(["test.io", "registry.k8s.io", "reg.example:5000", "docker.io"])
_tail = st.sampled_from(["", ":v1", ":latest", "@sha256:" + "a" * 64, ":v1@sha256:" + "b" * 64])


def _normalized(host: str, repo: str) -> str:
    # Docker Hub's single-segment names live under library/.
    return f"docker.io/library/{repo}" if host == "docker.io" and "/" not in repo \
        else f"{host}/{repo}"


@given(host=_host, repo=_repo, tail=_tail, cut=st.integers(min_value=0, max_value=3))
def test_allowlist_prefix_matches_repository_prefix(host: str, repo: str, tail: str,
                                                    cut: int) -> None:
    """A ``/*`` entry matches exactly the images whose normalized repository starts with
    the entry's prefix, slash included; tags and digests never matter."""
    segments = f"{host}/{repo}".split("/")
    prefix = "/".join(segments[:max(1, len(segments) - cut)]) + "/"
    entry, wild = allowlist_pattern(prefix + "*")
    assert wild and entry == prefix
    expected = _normalized(host, repo).startswith(prefix)
    assert image_matches_allowlist(f"{host}/{repo}{tail}", [prefix + "*"]) is expected
    assert credential_verification_required(
        ALLOWLISTED, f"{host}/{repo}{tail}", True, [prefix + "*"]) is not expected


@given(host=_host, repo=_repo, other=_repo, tail=_tail)
def test_allowlist_exact_matches_only_that_repository(host: str, repo: str, other: str,
                                                      tail: str) -> None:
    entry = _normalized(host, repo)
    assert allowlist_pattern(entry) == (entry, False)
    assert image_matches_allowlist(f"{host}/{repo}{tail}", [entry])
    assert image_matches_allowlist(f"{host}/{other}{tail}", [entry]) is (
        _normalized(host, other) == entry)


# -- intents and pulled records (RecordPullIntent / RecordImagePulled) -------------------

def test_record_pull_intent_counts(records_dir: Path, node_runtime: Any) -> None:
    manager = make_manager(records_dir, node_runtime, PRELOADED)
    image = "repo.repo/test/test:latest"
    path = records_dir / "pulling" / \
        "sha256-7d8c031e2f1aeaa71649ca3e0b64c9902370ed460ef57fb07582a87a5a1e1c02"
    manager.record_pull_intent(image)
    assert path.is_file() and manager.pulls_in_flight(image) == 1
    assert json.loads(path.read_text())["image"] == image
    manager.record_pull_intent(image)
    assert manager.pulls_in_flight(image) == 2
    manager.record_image_pull_failed(image)
    assert path.is_file() and manager.pulls_in_flight(image) == 1
    manager.record_image_pull_failed(image)
    assert not path.exists() and manager.pulls_in_flight(image) == 0


RECORD_PULLED: list[tuple[str, str, str, ImagePullCredentials | None, list[str], int,
                          dict[str, ImagePullCredentials], bool]] = [
    # name, image, image ref, credentials, existing pulled, pulls in flight,
    # expected mapping, updated
    ("new record", "repo.repo/test/test:v1", "testimageref", NODE, [], 1,
     {"repo.repo/test/test": NODE}, True),
    ("None is node-accessible", "repo.repo/test/test:v1", "testimageref", None, [], 1,
     {"repo.repo/test/test": NODE}, True),
    ("merge into an existing record", "repo.repo/test/test:v1", "testimageref", NODE,
     ["testimageref", "testimage-anonpull", "testemptycredmapping"], 1,
     {"repo.repo/test/test": NODE,
      "docker.io/testing/test": ImagePullCredentials(secrets=(secret(),))}, True),
    ("merge a secret under an existing key", "docker.io/testing/test:something",
     "testimageref", ImagePullCredentials(secrets=(secret("newuid", "newns", "newname",
                                                          "somehash"),)),
     ["testimageref"], 1,
     {"docker.io/testing/test": ImagePullCredentials(
         secrets=(secret(), secret("newuid", "newns", "newname", "somehash")))}, True),
    ("unchanged record", "docker.io/testing/test:something", "testimageref",
     ImagePullCredentials(secrets=(secret(),)), ["testimageref"], 1,
     {"docker.io/testing/test": ImagePullCredentials(secrets=(secret(),))}, False),
    ("service account", "docker.io/sa-test/app:v1", "sa-testimageref",
     ImagePullCredentials(service_accounts=(sa("sa-uid-123", "default", "test-sa"),)), [], 1,
     {"docker.io/sa-test/app": ImagePullCredentials(
         service_accounts=(sa("sa-uid-123", "default", "test-sa"),))}, True),
    ("service account beside secrets", "docker.io/testing/test:something", "testimageref",
     ImagePullCredentials(service_accounts=(sa("sa-uid-456", "kube-system", "system-sa"),)),
     ["testimageref"], 1,
     {"docker.io/testing/test": ImagePullCredentials(
         secrets=(secret(),), service_accounts=(sa("sa-uid-456", "kube-system", "system-sa"),))},
     True),
    ("second service account, sorted", "docker.io/testing/test:something", "testimageref-sa",
     ImagePullCredentials(service_accounts=(sa("sa-uid-789", "app-ns", "app-sa"),)),
     ["testimageref-sa"], 1,
     {"docker.io/testing/test": ImagePullCredentials(
         service_accounts=(sa("sa-uid-789", "app-ns", "app-sa"), sa()))}, True),
    ("duplicate service account", "docker.io/testing/test:something", "testimageref-sa",
     ImagePullCredentials(service_accounts=(sa(),)), ["testimageref-sa"], 1,
     {"docker.io/testing/test": ImagePullCredentials(service_accounts=(sa(),))}, False),
    ("a familiar name is recorded normalized", "secretorg/myimage:customtag", "familiar",
     ImagePullCredentials(service_accounts=(sa(),)), [], 1,
     {"docker.io/secretorg/myimage": ImagePullCredentials(service_accounts=(sa(),))}, True),
]


@pytest.mark.parametrize(
    ("name", "image", "image_ref", "creds", "existing", "in_flight", "mapping", "updated"),
    RECORD_PULLED, ids=[r[0] for r in RECORD_PULLED])
def test_record_image_pulled(records_dir: Path, node_runtime: Any, name: str, image: str,
                             image_ref: str, creds: ImagePullCredentials | None,
                             existing: list[str], in_flight: int,
                             mapping: dict[str, ImagePullCredentials], updated: bool) -> None:
    seed(records_dir, pulled=existing)
    manager = make_manager(records_dir, node_runtime, PRELOADED)
    for _ in range(in_flight):
        manager.record_pull_intent(image)
    before = time.time() - 1
    manager.record_image_pulled(image, image_ref, creds)
    assert manager.pulls_in_flight(image) == in_flight - 1
    assert not (records_dir / "pulling" / cache_filename(image)).exists()
    for ref in existing:  # other records untouched
        assert (records_dir / "pulled" / cache_filename(ref)).is_file()
    record = manager.records.get_pulled_record(image_ref)
    assert record is not None and dict(record.credential_mapping) == mapping
    assert (record.last_updated >= int(before)) is updated


def test_intent_stays_while_other_pulls_are_in_flight(records_dir: Path,
                                                      node_runtime: Any) -> None:
    manager = make_manager(records_dir, node_runtime, PRELOADED)
    image = "repo.repo/test/test:v1"
    manager.record_pull_intent(image)
    manager.record_pull_intent(image)
    manager.record_image_pulled(image, "testimageref", NODE)
    assert (records_dir / "pulling" / cache_filename(image)).is_file()
    assert manager.pulls_in_flight(image) == 1


def test_secrets_are_stored_as_hashes_only(records_dir: Path, node_runtime: Any) -> None:
    password = "correct-horse-battery-staple"
    auth = AuthConfig(username="alice", password=password)
    pod_secret = ImagePullSecret("uid-1", "team", "regcred", credential_hash(auth))
    manager = make_manager(records_dir, node_runtime, ALWAYS)
    image = "reg.example:5000/team/app:v1"
    manager.record_pull_intent(image)
    manager.record_image_pulled(image, "sha256:" + "1" * 64,
                                ImagePullCredentials(secrets=(pod_secret,)))
    for path in records_dir.rglob("*"):
        if path.is_file():
            assert password.encode() not in path.read_bytes()
    assert password not in repr(pod_secret) and password not in repr(auth)
    same = ImagePullSecret("uid-2", "other", "copy", credential_hash(auth))
    assert not manager.must_attempt_image_pull(image, "sha256:" + "1" * 64,
                                               CredentialsProbe([same]))


# -- restarts and initialize (TestFileBasedImagePullManager_initialize) -------------------

INIT_IMAGES = [
    ImageInfo("testimageref1", repo_tags=("repo.repo/test/test:docker",
                                          "docker.io/testing/test:something")),
    ImageInfo("testimageref2", repo_tags=("repo.repo/test/test:v2", "repo.repo/test/test:test2"),
              repo_digests=("repo.repo/test/test@dgst2",)),
    ImageInfo("testimageref", repo_tags=("repo.repo/test/test:v1", "repo.repo/test/test:test1"),
              repo_digests=("repo.repo/test/test@dgst1",)),
    ImageInfo("testimageref3", repo_tags=("repo.repo/test/test:v3", "repo.repo/test/test:test3")),
    ImageInfo("testimageref4", repo_digests=("repo.repo/test/test@dgst4",
                                             "repo.repo/test/notatest@dgst44")),
]
EXISTING = ["testimage-anonpull", "testimageref", "testemptycredmapping"]


@pytest.mark.parametrize(("intents", "pulled", "expected_pulled"), [
    ([], [], []),
    ([], EXISTING, EXISTING),
    (["docker.io/testing/test:something"], EXISTING, [*EXISTING, "testimageref1"]),
    (["repo.repo/test/test:v1"], EXISTING, EXISTING),
    (["repo.repo/test/test:v1", "docker.io/testing/test:something"], EXISTING,
     [*EXISTING, "testimageref1"]),
])
def test_initialize(records_dir: Path, node_runtime: Any, intents: list[str],
                    pulled: list[str], expected_pulled: list[str]) -> None:
    seed(records_dir, pulled=pulled, pulling=intents)
    manager = make_manager(records_dir, node_runtime, PRELOADED, initialize_now=False)
    manager.initialize(INIT_IMAGES)
    assert os.listdir(records_dir / "pulling") == []
    assert sorted(os.listdir(records_dir / "pulled")) == sorted(
        cache_filename(r) for r in expected_pulled)
    if "testimageref1" in expected_pulled:
        # Pulled under unknown circumstances: recorded without credentials, so it verifies.
        record = manager.records.get_pulled_record("testimageref1")
        assert record is not None and record.credential_mapping == {}
        assert manager.must_attempt_image_pull("docker.io/testing/test:something",
                                               "testimageref1", CredentialsProbe([secret()]))
    if "repo.repo/test/test:v1" in intents:  # an existing record is left as it was
        record = manager.records.get_pulled_record("testimageref")
        assert record is not None and "repo.repo/test/test" not in record.credential_mapping


def test_leftover_intent_without_image_stays(records_dir: Path, node_runtime: Any) -> None:
    seed(records_dir, pulling=[LATEST])
    manager = make_manager(records_dir, node_runtime, PRELOADED)  # empty runtime
    assert (records_dir / "pulling" / cache_filename(LATEST)).is_file()
    # The image counts as pulled by the node: under NeverVerifyPreloadedImages it verifies.
    assert manager.must_attempt_image_pull(LATEST, "ref", CredentialsProbe())


def test_leftover_matching_searches_tags_and_digests() -> None:
    assert sorted(leftover_intents_to_records(
        ["repo.repo/test/test@dgst4", "repo.repo/test/test:v3", "nope:v1"], INIT_IMAGES)) == [
        ("repo.repo/test/test:v3", "testimageref3"),
        ("repo.repo/test/test@dgst4", "testimageref4")]


def test_records_survive_a_restart(records_dir: Path, node_runtime: Any) -> None:
    image, ref = "reg.example:5000/team/app:v1", "sha256:" + "2" * 64
    first = make_manager(records_dir, node_runtime, PRELOADED)
    first.record_pull_intent(image)
    first.record_image_pulled(image, ref, ImagePullCredentials(secrets=(secret(),)))
    first.record_pull_intent("reg.example:5000/team/other:v1")  # a pull cut short by a crash
    del first
    again = make_manager(records_dir, node_runtime, PRELOADED)
    assert not again.must_attempt_image_pull(image, ref, CredentialsProbe([secret()]))
    assert again.must_attempt_image_pull(image, ref, CredentialsProbe([secret(ns="x", h="y")]))
    assert again.pulls_in_flight("reg.example:5000/team/other:v1") == 0
    assert again.must_attempt_image_pull("reg.example:5000/team/other:v1", "sha256:" + "3" * 64,
                                         CredentialsProbe())


def test_initialize_with_a_real_runtime(records_dir: Path, node_runtime: Any,
                                        distribution_open: Any, image_factory: Any) -> None:
    """A pull cut short after the runtime had the image: the next start records it without
    credentials and drops the intent."""
    from tests.support.registry_http import push_blob, request

    built = image_factory.make_image("init")
    repo = f"pullmanager/init-{os.getpid()}-{time.time_ns()}"
    for blob in built.blobs:
        push_blob(distribution_open.url, repo, blob.path.read_bytes())
    put = request(f"{distribution_open.url}/v2/{repo}/manifests/v1", "PUT",
                  headers={"Content-Type": built.media_type}, body=built.manifest)
    assert put.status == 201
    image = f"{distribution_open.host}/{repo}:v1"
    image_ref = node_runtime.pull_image(image)
    FsPullRecords(records_dir).write_intent(image)

    manager = make_manager(records_dir, node_runtime, PRELOADED)
    assert os.listdir(records_dir / "pulling") == []
    record = manager.records.get_pulled_record(image_ref)
    assert record is not None and record.credential_mapping == {}
    assert manager.must_attempt_image_pull(image, image_ref, CredentialsProbe())
    manager.record_pull_intent(image)
    manager.record_image_pulled(image, image_ref, None)
    assert not manager.must_attempt_image_pull(image, image_ref, CredentialsProbe())


# -- pruning (TestFileBasedImagePullManager_PruneUnknownRecords) --------------------------

GC_START = 1735084860.0  # 2024-12-25T00:01:00Z


@pytest.mark.parametrize(("image_refs", "kept"), [
    (["testimage-anonpull", "testimageref", "testemptycredmapping"], EXISTING),
    ([], []),
    (["untracked1", "different-untracked"], []),
    (["testimage-anonpull", "untracked1", "testimageref", "different-untracked"],
     ["testimage-anonpull", "testimageref"]),
])
def test_prune_unknown_records(records_dir: Path, node_runtime: Any, image_refs: list[str],
                               kept: list[str]) -> None:
    seed(records_dir, pulled=EXISTING)
    manager = make_manager(records_dir, node_runtime, PRELOADED)
    manager.prune_unknown_records(image_refs, GC_START)
    assert sorted(os.listdir(records_dir / "pulled")) == sorted(cache_filename(r) for r in kept)


def test_prune_keeps_records_updated_after_the_gc_began(records_dir: Path,
                                                        node_runtime: Any) -> None:
    seed(records_dir, pulled=EXISTING)
    manager = make_manager(records_dir, node_runtime, PRELOADED)
    manager.prune_unknown_records([], until=OLD_TS)  # not before: kept
    assert len(os.listdir(records_dir / "pulled")) == 3
    manager.prune_unknown_records([], until=OLD_TS + 1)
    assert os.listdir(records_dir / "pulled") == []


# -- the no-op manager and concurrency ---------------------------------------------------

def test_noop_manager_never_pulls_and_writes_nothing(tmp_path: Path) -> None:
    noop = NoopPullManager()
    probe = CredentialsProbe()
    noop.record_pull_intent(LATEST)
    noop.record_image_pulled(LATEST, "ref", None)
    noop.record_image_pull_failed(LATEST)
    noop.prune_unknown_records([])
    assert noop.must_attempt_image_pull(LATEST, "ref", probe) is False and probe.calls == 0
    assert list(tmp_path.iterdir()) == []


def test_concurrent_pulls_of_one_image(records_dir: Path, node_runtime: Any) -> None:
    manager = make_manager(records_dir, node_runtime, PRELOADED, lock_stripes=2)
    image, ref, workers = "reg.example:5000/team/app:v1", "sha256:" + "4" * 64, 16
    barrier = threading.Barrier(workers)
    errors: list[BaseException] = []

    def pull(i: int) -> None:
        try:
            barrier.wait()
            manager.record_pull_intent(image)
            manager.must_attempt_image_pull(image, ref, CredentialsProbe())
            manager.record_image_pulled(image, ref, ImagePullCredentials(
                secrets=(secret(uid=f"u{i}", name=f"s{i}", h=f"h{i}"),)))
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=pull, args=(i,)) for i in range(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert manager.pulls_in_flight(image) == 0
    assert os.listdir(records_dir / "pulling") == []
    record = manager.records.get_pulled_record(ref)
    assert record is not None
    assert len(record.credential_mapping["reg.example:5000/team/app"].secrets) == workers


def test_get_pod_credentials_errors_propagate(records_dir: Path, node_runtime: Any) -> None:
    seed(records_dir, pulled=["testimageref"])
    manager = make_manager(records_dir, node_runtime, PRELOADED)

    def broken() -> tuple[list[ImagePullSecret], None]:
        raise InputError("secret default/pull-secret: bad .dockerconfigjson")

    with pytest.raises(InputError):
        manager.must_attempt_image_pull(LATEST, "testimageref", broken)



def test_converters_from_tracked_credentials(records_dir: Path, node_runtime: Any) -> None:
    """The image manager's tracked credentials, turned into what the records hold."""
    import base64

    from hoist.auth.keyring import Keyring
    from hoist.node.credentials import pull_credentials

    password = "hunter2-pw"
    config = {"auths": {"reg.example:5000": {"username": "alice", "password": password}}}
    pull_secret = {
        "apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
        "metadata": {"namespace": "team", "name": "regcred", "uid": "uid-7"},
        "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()},
    }
    image = "reg.example:5000/team/app:v1"
    tracked = pull_credentials(image, [pull_secret], Keyring(()))
    assert len(tracked) == 1
    expected = ImagePullSecret("uid-7", "team", "regcred", credential_hash(
        AuthConfig(username="alice", password=password)))
    assert pod_credentials(tracked) == ([expected], None)
    assert credentials_used(tracked[0]) == ImagePullCredentials(secrets=(expected,))
    assert credentials_used(None) == NODE

    manager = make_manager(records_dir, node_runtime, ALWAYS)
    manager.record_pull_intent(image)
    manager.record_image_pulled(image, "sha256:" + "5" * 64, credentials_used(tracked[0]))
    assert not manager.must_attempt_image_pull(image, "sha256:" + "5" * 64,
                                               lambda: pod_credentials(tracked))
    assert manager.must_attempt_image_pull(image, "sha256:" + "5" * 64,
                                           lambda: pod_credentials([]))
