"""KEP-2535 pulled-image credential verification: may this pod use an image that is
already on the node, or must the node pull it again with the pod's own credentials?
(pkg/kubelet/images/pullmanager: image_pull_manager.go, image_pull_policies.go,
noop_pull_manager.go; the records live in ``hoist.node.pullrecords``.)

The image manager calls, for each container start:
  ``must_attempt_image_pull(image, image_ref, get_pod_credentials)`` when the image is
  present (``image_ref`` non-empty); the credentials callback is only called when a record
  holds Secrets or service accounts to compare with;
  ``record_pull_intent(image)`` before a pull, then exactly one of
  ``record_image_pulled(image, image_ref, credentials)`` / ``record_image_pull_failed(image)``.
The image GC calls ``prune_unknown_records(image_refs, until)`` with the images that remain.

Decisions follow the kubelet (1.33-1.35 behaviour):
- the policy (``credential_verification_required``) sees whether the kubelet pulled the
  image: a pulled record for the image ref, or an intent (in flight or left by a crash);
- a pulled record maps each image *without tag or digest* to what pulled it; no entry for
  this image → pull; node-accessible → use it; otherwise a pod Secret with the same
  credential hash, or the same uid/namespace/name (the Secret was rotated), or the pod's
  service account → use it, and a Secret matched one way but not the other is written into
  the record so the next check matches both ways (up to 100 Secrets per image);
- a record that cannot be read means pull (fail safe).

Thread-safe: per-image and per-image-ref locks (striped, as the kubelet's StripedLockSet),
and an in-memory count of pulls in flight per image so concurrent pulls of one image share
one intent file."""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Protocol

from hoist.core.policy import (
    CredentialVerificationPolicy,
    allowlist_pattern,
    credential_verification_required,
    parse_image_name,
)
from hoist.errors import InputError
from hoist.node.credentials import TrackedCredential
from hoist.node.pullrecords import (
    FsPullRecords,
    ImagePullCredentials,
    ImagePulledRecord,
    ImagePullSecret,
    ImagePullServiceAccount,
    PullRecordError,
    go_json,
    secret_sort_key,
    service_account_sort_key,
)
from hoist.node.runtime import AuthConfig, ImageInfo, ImageService, RuntimeFailure

__all__ = [
    "WRITE_RECORD_WHILE_MATCHING_LIMIT",
    "GetPodCredentials",
    "ImagePullCredentials",
    "ImagePullManager",
    "ImagePullSecret",
    "ImagePullServiceAccount",
    "InvalidAllowlist",
    "NoopPullManager",
    "PullManager",
    "credential_hash",
    "credentials_used",
    "merge_credentials",
    "pod_credentials",
    "records_dir_for",
]

log = logging.getLogger(__name__)

# image_pull_manager.go writeRecordWhileMatchingLimit: past this many Secrets for one image,
# a match found while checking is not written back (bounds writes under namespace churn).
WRITE_RECORD_WHILE_MATCHING_LIMIT = 100

DEFAULT_LOCK_STRIPES = 10

GetPodCredentials = Callable[
    [], tuple[Sequence[ImagePullSecret], ImagePullServiceAccount | None]]


class InvalidAllowlist(InputError):
    """An allowlist entry the kubelet refuses (image_pull_policies.go texts)."""


def records_dir_for(node_dir: Path) -> Path:
    """The kubelet keeps the records under ``<root dir>/image_manager``."""
    return Path(node_dir) / "image_manager"


def credential_hash(auth: AuthConfig, *, email: str = "") -> str:
    """The hash the kubelet records for a pull Secret's credential
    (pkg/credentialprovider keyring.go hashAuthConfig): hex SHA-256 of the credential as Go
    marshals credentialprovider.AuthConfig, fields in struct order, empty ones omitted.
    Keyring entries carry username, password and email (a docker config's ``auth`` is
    already split into the first two)."""
    fields = (("username", auth.username), ("password", auth.password), ("auth", auth.auth),
              ("email", email), ("serveraddress", auth.server_address),
              ("identitytoken", auth.identity_token), ("registrytoken", auth.registry_token))
    return hashlib.sha256(go_json({k: v for k, v in fields if v})).hexdigest()


def image_without_tag_digest(image: str) -> str:
    """trimImageTagDigest: the normalized repository (pkg/util/parsers.ParseImageName).
    Raises ValueError for an image that does not parse."""
    parsed = parse_image_name(image)
    if parsed.error:
        raise ValueError(parsed.error)
    return parsed.repository


def pod_credentials(tracked: Sequence[TrackedCredential],
                    ) -> tuple[list[ImagePullSecret], ImagePullServiceAccount | None]:
    """What ``must_attempt_image_pull`` compares with: the pod's credentials for the image
    that came from its Secrets, as coordinates and credential hash (image_manager.go builds
    them from the keyring's tracked credentials the same way). hoist has no credential
    provider plugins, so never a service account."""
    secrets = [ImagePullSecret(t.source.uid, t.source.namespace, t.source.name,
                               credential_hash(t.auth))
               for t in tracked if t.source is not None]
    return secrets, None


def credentials_used(tracked: TrackedCredential | None) -> ImagePullCredentials:
    """What ``record_image_pulled`` records for the credential a pull succeeded with: its
    Secret, or node-accessible for a node config file or an anonymous pull."""
    if tracked is None or tracked.source is None:
        return ImagePullCredentials(node_pod_accessible=True)
    src = tracked.source
    return ImagePullCredentials(secrets=(
        ImagePullSecret(src.uid, src.namespace, src.name, credential_hash(tracked.auth)),))


# -- merging credentials into a record (pulledRecordMergeNewCreds) ------------------------

def merge_pull_secrets(orig: Sequence[ImagePullSecret], new: Sequence[ImagePullSecret],
                       ) -> tuple[tuple[ImagePullSecret, ...], bool]:
    """Union by (uid, namespace, name); a new Secret's hash replaces an old one at the same
    coordinates. Sorted by namespace, name, uid when anything changed."""
    by_coords = {(s.uid, s.namespace, s.name): s.credential_hash for s in orig}
    changed = False
    for s in new:
        key = (s.uid, s.namespace, s.name)
        if key not in by_coords or by_coords[key] != s.credential_hash:
            by_coords[key] = s.credential_hash
            changed = True
    if not changed:
        return tuple(orig), False
    merged = [ImagePullSecret(uid, ns, name, h) for (uid, ns, name), h in by_coords.items()]
    return tuple(sorted(merged, key=secret_sort_key)), True


def merge_service_accounts(orig: Sequence[ImagePullServiceAccount],
                           new: Sequence[ImagePullServiceAccount],
                           ) -> tuple[tuple[ImagePullServiceAccount, ...], bool]:
    seen = set(orig)
    added = [a for a in dict.fromkeys(new) if a not in seen]
    if not added:
        return tuple(orig), False
    return tuple(sorted({*orig, *added}, key=service_account_sort_key)), True


def merge_credentials(record: ImagePulledRecord, image_key: str,
                      new: ImagePullCredentials | None, now: float,
                      ) -> tuple[ImagePulledRecord, bool]:
    """Fold ``new`` into the credentials recorded for ``image_key``; returns the record and
    whether it changed (then ``last_updated`` is ``now``). Node-accessible wins over and
    clears Secrets and service accounts; once node-accessible, nothing is added. New
    Secrets are merged if there are any, else new service accounts (not both at once, as
    the kubelet's switch does)."""
    if new is None or not (new.node_pod_accessible or new.secrets or new.service_accounts):
        return record, False
    current = record.credential_mapping.get(image_key)
    if current is None:
        selected = new
    elif current.node_pod_accessible:
        return record, False
    elif new.node_pod_accessible:
        selected = ImagePullCredentials(node_pod_accessible=True)
    elif new.secrets:
        secrets, changed = merge_pull_secrets(current.secrets, new.secrets)
        if not changed:
            return record, False
        selected = replace(current, secrets=secrets)
    else:
        accounts, changed = merge_service_accounts(current.service_accounts,
                                                   new.service_accounts)
        if not changed:
            return record, False
        selected = replace(current, service_accounts=accounts)
    mapping = dict(record.credential_mapping)
    mapping[image_key] = selected
    return ImagePulledRecord(record.image_ref, now, mapping), True


def leftover_intents_to_records(intent_images: Iterable[str], images: Iterable[ImageInfo],
                                ) -> list[tuple[str, str]]:
    """initialize's matching: for every runtime image, the intents (by repo digest or repo
    tag) it satisfies, as (image as the intent wrote it, image ref)."""
    pending = set(intent_images)
    found: list[tuple[str, str]] = []
    for info in images:
        names = dict.fromkeys([*info.repo_digests, *info.repo_tags])
        found.extend((name, info.id) for name in names if name in pending)
    return found


# -- locks -------------------------------------------------------------------------------

class StripedLocks:
    """A fixed set of locks a key hashes onto (locks.go StripedLockSet): bounded memory
    however many images pass through, at the price of unrelated keys sometimes waiting."""

    def __init__(self, stripes: int = DEFAULT_LOCK_STRIPES) -> None:
        self._locks = [threading.Lock() for _ in range(max(1, stripes))]

    def _lock(self, key: str) -> threading.Lock:
        return self._locks[zlib.crc32(key.encode()) % len(self._locks)]

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        with self._lock(key):
            yield

    @contextmanager
    def hold_all(self) -> Iterator[None]:
        for lock in self._locks:  # always in the same order: no deadlock between two callers
            lock.acquire()
        try:
            yield
        finally:
            for lock in reversed(self._locks):
                lock.release()


# -- the managers ------------------------------------------------------------------------

class ImagePullManager(Protocol):
    def record_pull_intent(self, image: str) -> None: ...

    def record_image_pulled(self, image: str, image_ref: str,
                            credentials: ImagePullCredentials | None) -> None: ...

    def record_image_pull_failed(self, image: str) -> None: ...

    def must_attempt_image_pull(self, image: str, image_ref: str,
                                get_pod_credentials: GetPodCredentials) -> bool: ...

    def prune_unknown_records(self, image_refs: Iterable[str],
                              until: float | None = None) -> None: ...


class NoopPullManager:
    """The feature gate off (noop_pull_manager.go): nothing recorded, never a re-pull."""

    def initialize(self, images: Sequence[ImageInfo] | None = None) -> None:
        return None

    def record_pull_intent(self, image: str) -> None:
        return None

    def record_image_pulled(self, image: str, image_ref: str,
                            credentials: ImagePullCredentials | None) -> None:
        return None

    def record_image_pull_failed(self, image: str) -> None:
        return None

    def must_attempt_image_pull(self, image: str, image_ref: str,
                                get_pod_credentials: GetPodCredentials) -> bool:
        return False

    def prune_unknown_records(self, image_refs: Iterable[str],
                              until: float | None = None) -> None:
        return None


class PullManager:
    """The file-backed pull manager. ``records_dir`` holds ``pulling/`` and ``pulled/``
    (``records_dir_for(node_dir)``). Construction runs ``initialize()`` as the kubelet's
    NewImagePullManager does, unless ``initialize_now=False``."""

    def __init__(self, records_dir: Path, policy: CredentialVerificationPolicy,
                 allowlist: Sequence[str], runtime: ImageService, *,
                 clock: Callable[[], float] = time.time,
                 lock_stripes: int = DEFAULT_LOCK_STRIPES,
                 initialize_now: bool = True) -> None:
        self.policy = CredentialVerificationPolicy(policy)
        self.allowlist: list[str] = []
        if self.policy is CredentialVerificationPolicy.NEVER_VERIFY_ALLOWLISTED:
            for entry in allowlist:
                try:
                    allowlist_pattern(entry)
                except ValueError as e:
                    raise InvalidAllowlist(f"preloadedImagesVerificationAllowlist: {e}") from None
                self.allowlist.append(entry)
        self.records = FsPullRecords(records_dir)
        self.runtime = runtime
        self.clock = clock
        self._intent_locks = StripedLocks(lock_stripes)  # image → lock
        self._pulled_locks = StripedLocks(lock_stripes)  # image ref → lock
        self._counts_lock = threading.Lock()
        self._intent_counts: dict[str, int] = {}  # image → pulls in flight
        if initialize_now:
            self.initialize()

    # -- start ---------------------------------------------------------------------------

    def initialize(self, images: Sequence[ImageInfo] | None = None) -> None:
        """Intents left by a previous run whose image the runtime now has become pulled
        records without credentials (so the next use verifies), and the intents go.
        Intents whose image is absent stay: the image still counts as pulled by the node.
        ``images`` defaults to the runtime's list. Call once, before any pull starts."""
        intents, problems = self.records.list_intents()
        for p in problems:
            log.error("incomplete list of image pull intents: %s", p)
        if not intents:
            return
        if images is None:
            try:
                images = self.runtime.list_images()
            except RuntimeFailure as e:
                log.error("cannot list images: %s", e)
                images = []
        for image, image_ref in leftover_intents_to_records(
                (i.image for i in intents), images):
            try:
                self._write_pulled_record_if_changed(image, image_ref, None)
            except (PullRecordError, ValueError) as e:
                log.error("cannot write the pulled record for %s: %s", image_ref, e)
                continue
            try:
                self.records.delete_intent(image)
            except PullRecordError as e:
                log.info("cannot remove the pull intent for %s: %s", image, e)

    # -- pulls ---------------------------------------------------------------------------

    def record_pull_intent(self, image: str) -> None:
        """Before pulling ``image`` (the pod's ``image`` field). Raises PullRecordError
        when the intent cannot be written."""
        with self._intent_locks.hold(image):
            self.records.write_intent(image)
            with self._counts_lock:
                self._intent_counts[image] = self._intent_counts.get(image, 0) + 1

    def record_image_pulled(self, image: str, image_ref: str,
                            credentials: ImagePullCredentials | None) -> None:
        """After a successful pull. ``credentials`` None means the pull used credentials
        every pod on the node has (node config files, or anonymous): recorded as
        node-accessible. A record that cannot be written is logged and the intent kept, so
        the image still counts as pulled by the node and a restart finishes the job."""
        if credentials is None:
            credentials = ImagePullCredentials(node_pod_accessible=True)
        try:
            self._write_pulled_record_if_changed(image, image_ref, credentials)
        except (PullRecordError, ValueError) as e:
            log.error("cannot write the pulled record for %s: %s", image_ref, e)
            return
        self._release_intent(image)

    def record_image_pull_failed(self, image: str) -> None:
        self._release_intent(image)

    def _release_intent(self, image: str) -> None:
        """One pull of ``image`` ended: the last one in flight removes the intent file."""
        with self._intent_locks.hold(image):
            with self._counts_lock:
                count = self._intent_counts.get(image, 0)
            if count <= 1:
                try:
                    self.records.delete_intent(image)
                except PullRecordError as e:
                    log.error("cannot remove the pull intent for %s: %s", image, e)
                    return
                with self._counts_lock:
                    self._intent_counts.pop(image, None)
                return
            with self._counts_lock:
                self._intent_counts[image] = count - 1

    def pulls_in_flight(self, image: str) -> int:
        with self._counts_lock:
            return self._intent_counts.get(image, 0)

    def _write_pulled_record_if_changed(self, image: str, image_ref: str,
                                        credentials: ImagePullCredentials | None) -> None:
        """Create or extend the record for ``image_ref``. ``credentials`` None (only from
        ``initialize``): the image was pulled under unknown circumstances, so the record
        exists without credentials and the next use must verify. An unreadable record is
        replaced. Raises ValueError for an image that does not parse."""
        with self._pulled_locks.hold(image_ref):
            try:
                image_key = image_without_tag_digest(image)
            except ValueError as e:
                raise ValueError(f"invalid image name {image!r}: {e}") from None
            try:
                record = self.records.get_pulled_record(image_ref)
            except PullRecordError as e:
                log.info("replacing an unreadable pulled record: %s", e)
                record = None
            now = self.clock()
            if record is None:
                mapping = {image_key: credentials} if credentials is not None else {}
                record = ImagePulledRecord(image_ref, now, mapping)
            else:
                record, changed = merge_credentials(record, image_key, credentials, now)
                if not changed:
                    return
            self.records.write_pulled_record(record)

    # -- the decision --------------------------------------------------------------------

    def must_attempt_image_pull(self, image: str, image_ref: str,
                                get_pod_credentials: GetPodCredentials) -> bool:
        """Must the node pull ``image`` (present as ``image_ref``) before this pod may use
        it? ``get_pod_credentials`` is called only when a record lists Secrets or service
        accounts; what it raises propagates."""
        if not image_ref:
            return True
        record: ImagePulledRecord | None = None
        try:
            with self._pulled_locks.hold(image_ref), self._intent_locks.hold(image):
                record = self.records.get_pulled_record(image_ref)
                pulled_by_node = record is not None
                if not pulled_by_node:
                    # The count is only a shortcut: after a restart it is zero while the
                    # intent file is still there.
                    pulled_by_node = (self.pulls_in_flight(image) > 0
                                      or self.records.intent_exists(image))
        except PullRecordError as e:
            log.error("cannot read the records of image pulls: %s", e)
            return True

        if not credential_verification_required(self.policy, image, pulled_by_node,
                                                self.allowlist):
            return False
        if record is None:
            return True
        try:
            image_key = image_without_tag_digest(image)
        except ValueError as e:
            log.error("cannot parse the image name, verifying credentials: %s", e)
            return True
        cached = record.credential_mapping.get(image_key)
        if cached is None:
            return True
        if cached.node_pod_accessible:
            return False
        if not cached.secrets and not cached.service_accounts:
            return True

        pod_secrets, pod_service_account = get_pod_credentials()
        for pod_secret in pod_secrets:
            for recorded in cached.secrets:
                # An empty recorded hash means hashing failed when it was recorded.
                hashes_match = (bool(recorded.credential_hash)
                                and pod_secret.credential_hash == recorded.credential_hash)
                same_secret = (pod_secret.uid == recorded.uid
                               and pod_secret.namespace == recorded.namespace
                               and pod_secret.name == recorded.name)
                if hashes_match:
                    if not same_secret:
                        self._remember_secret(image, image_ref, pod_secret, len(cached.secrets))
                    return False
                if same_secret:
                    # Same Secret, new content (rotated): it still grants this pod access.
                    self._remember_secret(image, image_ref, pod_secret, len(cached.secrets))
                    return False
        return not (pod_service_account is not None
                    and pod_service_account in cached.service_accounts)

    def _remember_secret(self, image: str, image_ref: str, secret: ImagePullSecret,
                         recorded: int) -> None:
        if recorded >= WRITE_RECORD_WHILE_MATCHING_LIMIT:
            return
        try:
            self._write_pulled_record_if_changed(
                image, image_ref, ImagePullCredentials(secrets=(secret,)))
        except (PullRecordError, ValueError) as e:
            log.error("cannot update the pulled record for %s: %s", image_ref, e)

    # -- garbage collection --------------------------------------------------------------

    def prune_unknown_records(self, image_refs: Iterable[str],
                              until: float | None = None) -> None:
        """Remove the pulled records of image refs not in ``image_refs`` (the images the
        runtime still has) that were last updated before ``until`` (unix seconds; taken
        before the image list was read, so a record written meanwhile stays). Default:
        now."""
        cutoff = self.clock() if until is None else until
        keep = set(image_refs)
        with self._pulled_locks.hold_all():
            records, problems = self.records.list_pulled_records()
            for p in problems:
                log.error("pruning with an incomplete list of pulled records: %s", p)
            for record in records:
                if not record.last_updated < cutoff or record.image_ref in keep:
                    continue
                try:
                    self.records.delete_pulled_record(record.image_ref)
                except PullRecordError as e:
                    log.error("cannot remove a pulled record: %s", e)
