"""The kubelet's image manager: ``EnsureImageExists`` (pkg/kubelet/images/image_manager.go).

For one container start it decides, from the pull policy and what the runtime holds,
whether to pull; it reports every step as the kubelet's events, with the kubelet's reasons
and message texts, and answers the container's waiting reason and message when the image
cannot be had. Pulls go through a puller (serial or parallel, QPS-limited) and a
per-(pod UID, image) back-off."""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from hoist.auth.keyring import Keyring
from hoist.core.policy import PullPolicy, apply_default_image_tag, go_quote
from hoist.errors import HoistError, InputError
from hoist.node import events
from hoist.node.backoff import Backoff
from hoist.node.credentials import TrackedCredential, pull_credentials
from hoist.node.events import EventRecorder, ObjectRef
from hoist.node.gofmt import go_duration_ms
from hoist.node.puller import ImagePuller
from hoist.node.pullmanager import ImagePullManager, credentials_used, pod_credentials
from hoist.node.runtime import ImageService, RuntimeFailure

# A node sees the same few images over and over: parsing and quoting them once keeps
# EnsureImageExists for a present image close to the cost of the runtime's ImageStatus
# (bench/ensure_images.py). Both are pure functions of the image string.
_default_tagged = functools.lru_cache(maxsize=4096)(apply_default_image_tag)
_q = functools.lru_cache(maxsize=4096)(go_quote)


class ImageError(StrEnum):
    """The errors EnsureImageExists returns; their text becomes the container's waiting
    reason (pkg/kubelet/images/types.go, k8s.io/cri-api/pkg/errors)."""

    PULL_BACK_OFF = "ImagePullBackOff"
    INSPECT = "ImageInspectError"
    PULL = "ErrImagePull"
    NEVER_PULL = "ErrImageNeverPull"
    INVALID_NAME = "InvalidImageName"
    REGISTRY_UNAVAILABLE = "RegistryUnavailable"
    SIGNATURE_VALIDATION_FAILED = "SignatureValidationFailed"


@dataclass(frozen=True)
class EnsureResult:
    image_ref: str = ""
    message: str = ""
    error: ImageError | str | None = None  # None: the image is there to run

    @property
    def ok(self) -> bool:
        return self.error is None


@dataclass(frozen=True)
class PodIdentity:
    uid: str
    namespace: str
    name: str


def classify_pull_error(image: str, text: str) -> tuple[str, ImageError]:
    """``evalCRIPullErr``: runtime errors that start with RegistryUnavailable or
    SignatureValidationFailed keep that reason, with a sentence of their own; every other
    failure is ErrImagePull with the runtime's text as the message."""
    for reason, what in ((ImageError.REGISTRY_UNAVAILABLE, "the registry is unavailable"),
                         (ImageError.SIGNATURE_VALIDATION_FAILED,
                          "the signature validation failed")):
        if text.startswith(reason.value):
            rest = text[len(reason.value):]
            return f"image pull failed for {image} because {what}{rest}", reason
    return text, ImageError.PULL


class ImageManager:
    def __init__(self, runtime: ImageService, puller: ImagePuller, backoff: Backoff,
                 recorder: EventRecorder, node_keyring: Keyring | None = None,
                 pull_manager: ImagePullManager | None = None) -> None:
        self.runtime = runtime
        self.puller = puller
        self.backoff = backoff
        self.recorder = recorder
        self.node_keyring = node_keyring or Keyring(())
        # KEP-2535's pulled-image records (hoist.node.pullmanager); None: the feature off.
        self.pull_manager = pull_manager
        self._prev_pull_errors: dict[str, str] = {}
        self._lock = threading.Lock()

    # -- the decision -------------------------------------------------------------------

    def ensure_image(self, ref: ObjectRef | None, pod: PodIdentity, requested_image: str,
                     pull_secrets: Sequence[Mapping[str, Any]],
                     pull_policy: PullPolicy) -> EnsureResult:
        """EnsureImageExists for one container: ``requested_image`` as the pod spec writes
        it, ``pull_secrets`` the Secret objects the pod names (those that exist)."""
        try:
            image = _default_tagged(requested_image)
        except ValueError as e:
            msg = f"Failed to apply default image tag {_q(requested_image)}: {e}"
            self._event(ref, events.WARNING, events.FAILED_TO_INSPECT_IMAGE, msg)
            return EnsureResult("", msg, ImageError.INVALID_NAME)

        image_ref = ""
        if pull_policy is not PullPolicy.ALWAYS:  # Always skips the presence check
            try:
                info = self.runtime.image_status(image)
            except RuntimeFailure as e:
                # image_manager.go formats this with imageRef, which is still empty here.
                msg = f"Failed to inspect image {_q(image_ref)}: {e}"
                self._event(ref, events.WARNING, events.FAILED_TO_INSPECT_IMAGE, msg)
                return EnsureResult("", msg, ImageError.INSPECT)
            image_ref = info.id if info else ""
            if not image_ref and pull_policy is PullPolicy.NEVER:
                return self._never_pull(ref, requested_image)

        credentials_cache: list[list[TrackedCredential]] = []

        def lookup() -> list[TrackedCredential]:
            if not credentials_cache:
                credentials_cache.append(
                    pull_credentials(image, pull_secrets, self.node_keyring))
            return credentials_cache[0]

        if image_ref:
            if self.pull_manager is None:
                msg = f"Container image {_q(requested_image)} already present on machine"
                self._event(ref, events.NORMAL, events.PULLED_IMAGE, msg)
                return EnsureResult(image_ref, msg)
            try:
                must_pull = self.pull_manager.must_attempt_image_pull(
                    requested_image, image_ref,
                    lambda: pod_credentials(lookup()))
            except HoistError as e:  # a Secret that does not decode, an unwritable record
                return EnsureResult("", str(e), ImageError.PULL)
            if not must_pull:
                msg = (f"Container image {_q(requested_image)} already present on machine "
                       "and can be accessed by the pod")
                self._event(ref, events.NORMAL, events.PULLED_IMAGE, msg)
                return EnsureResult(image_ref, msg)

        if pull_policy is PullPolicy.NEVER:
            # Present but not accessible with this pod's credentials: the same failure as
            # absent, so a pod cannot learn what the node holds.
            return self._never_pull(ref, requested_image)

        try:
            credentials = lookup()
        except InputError as e:
            return EnsureResult("", str(e), ImageError.PULL)
        return self._pull(ref, pod, requested_image, image, credentials)

    def _never_pull(self, ref: ObjectRef | None, requested_image: str) -> EnsureResult:
        msg = f"Container image {_q(requested_image)} is not present with pull policy of Never"
        self._event(ref, events.WARNING, events.ERR_IMAGE_NEVER_PULL_POLICY, msg)
        return EnsureResult("", msg, ImageError.NEVER_PULL)

    def _pull(self, ref: ObjectRef | None, pod: PodIdentity, requested_image: str,
              image: str, credentials: Sequence[TrackedCredential]) -> EnsureResult:
        succeeded = False
        used: TrackedCredential | None = None
        image_ref = ""
        if self.pull_manager is not None:
            self.pull_manager.record_pull_intent(requested_image)
        try:
            key = f"{pod.uid}_{requested_image}"
            if self.backoff.is_in_backoff_since_update(key):
                msg = f"Back-off pulling image {_q(requested_image)}"
                self._event(ref, events.NORMAL, events.BACK_OFF_PULL_IMAGE, msg)
                with self._lock:
                    prev = self._prev_pull_errors.get(key)
                if prev is not None:
                    # PR #127918: the waiting message carries the error that started it.
                    msg = f"{msg}: {prev}"
                return EnsureResult("", msg, ImageError.PULL_BACK_OFF)
            with self._lock:
                self._prev_pull_errors.pop(key, None)

            self._event(ref, events.NORMAL, events.PULLING_IMAGE,
                        f"Pulling image {_q(requested_image)}")
            start = time.monotonic()
            result = self.puller.pull(image, credentials).result()
            if result.error is not None:
                text = str(result.error)
                self._event(ref, events.WARNING, events.FAILED_TO_PULL_IMAGE,
                            f"Failed to pull image {_q(requested_image)}: {text}")
                self.backoff.next(key)
                msg, reason = classify_pull_error(requested_image, text)
                with self._lock:
                    self._prev_pull_errors[key] = f"{reason}: {msg}"
                return EnsureResult("", msg, reason)
            waited = time.monotonic() - start
            self._event(
                ref, events.NORMAL, events.PULLED_IMAGE,
                f"Successfully pulled image {_q(requested_image)} in "
                f"{go_duration_ms(result.pull_duration)} "
                f"({go_duration_ms(waited)} including waiting). "
                f"Image size: {result.image_size} bytes.")
            self.backoff.gc()
            succeeded, used, image_ref = True, result.credentials_used, result.image_ref
            return EnsureResult(result.image_ref, "")
        finally:
            if self.pull_manager is not None:
                if succeeded:
                    self.pull_manager.record_image_pulled(requested_image, image_ref,
                                                          credentials_used(used))
                else:
                    self.pull_manager.record_image_pull_failed(requested_image)

    def _event(self, ref: ObjectRef | None, type: str, reason: str, message: str) -> None:
        if ref is not None:
            self.recorder.event(ref, type, reason, message)
