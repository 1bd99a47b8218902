"""Event reasons and the recorder the image manager reports through.

Reasons are the kubelet's constants (pkg/kubelet/events/event.go); users search for them,
so they are spelled exactly as upstream spells them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

NORMAL = "Normal"
WARNING = "Warning"

# pkg/kubelet/events/event.go
PULLING_IMAGE = "Pulling"
PULLED_IMAGE = "Pulled"
FAILED_TO_PULL_IMAGE = "Failed"
FAILED_TO_INSPECT_IMAGE = "InspectFailed"
ERR_IMAGE_NEVER_PULL_POLICY = "ErrImageNeverPull"
BACK_OFF_PULL_IMAGE = "BackOff"
FAILED_TO_CREATE_CONTAINER = "Failed"
CREATED_CONTAINER = "Created"
STARTED_CONTAINER = "Started"
KILLING_CONTAINER = "Killing"
BACK_OFF_START_CONTAINER = "BackOff"
FAILED_TO_RETRIEVE_PULL_SECRET = "FailedToRetrieveImagePullSecret"
FAILED_CREATE_POD_SANDBOX = "FailedCreatePodSandBox"
FREE_DISK_SPACE_FAILED = "FreeDiskSpaceFailed"
IMAGE_GC_FAILED = "ImageGCFailed"
INVALID_DISK_CAPACITY = "InvalidDiskCapacity"


@dataclass(frozen=True)
class ObjectRef:
    """v1.ObjectReference of the container an event is about (``field_path`` is
    ``spec.containers{NAME}``, ``spec.initContainers{NAME}`` …)."""

    kind: str
    namespace: str
    name: str
    uid: str
    api_version: str = "v1"
    field_path: str = ""


class EventRecorder(Protocol):
    def event(self, ref: ObjectRef, type: str, reason: str, message: str) -> None: ...


class ListRecorder:
    """Keeps events in memory, in order (for library use and for benchmarks that measure
    the decisions without a cluster database)."""

    def __init__(self) -> None:
        self.events: list[tuple[ObjectRef, str, str, str]] = []

    def event(self, ref: ObjectRef, type: str, reason: str, message: str) -> None:
        self.events.append((ref, type, reason, message))
