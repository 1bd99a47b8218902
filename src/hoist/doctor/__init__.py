"""``hoist doctor``: try each container's pull as its node would, and say why it fails.

:func:`diagnose` (files or a pod of the embedded cluster) gives a :class:`DoctorReport`;
:func:`classify` is the pure decision from what one pull attempt observed."""

from hoist.doctor.classify import (
    Failure,
    FailureKind,
    Observation,
    Outcome,
    Verdict,
    classify,
    connection_failure,
    rate_limit_text,
)
from hoist.doctor.diagnose import (
    COLUMNS,
    ContainerDiagnosis,
    DoctorReport,
    NodeView,
    diagnose,
    diagnose_container,
    diagnose_paths,
    diagnose_pod,
    diagnose_targets,
)
from hoist.doctor.targets import ContainerTarget

__all__ = [
    "COLUMNS",
    "ContainerDiagnosis",
    "ContainerTarget",
    "DoctorReport",
    "Failure",
    "FailureKind",
    "NodeView",
    "Observation",
    "Outcome",
    "Verdict",
    "classify",
    "connection_failure",
    "diagnose",
    "diagnose_container",
    "diagnose_paths",
    "diagnose_pod",
    "diagnose_targets",
    "rate_limit_text",
]
