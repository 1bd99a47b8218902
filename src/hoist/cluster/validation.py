"""The API server's validation, with its message texts.

Field errors are formatted as k8s.io/apimachinery pkg/util/validation/field (errors.go):
``<path>: <Type>[: <value>][: <detail>]``; several errors of one object are aggregated as
``[a, b]`` (utilerrors.NewAggregate) inside ``The <Kind> "<name>" is invalid: …``, the
way kubectl reports an Invalid status. What is checked follows
pkg/apis/core/validation/validation.go (ValidatePodCreate, ValidateSecret,
ValidateServiceAccount, ValidateNamespace) and pkg/apis/apps/validation/validation.go
(ValidateDeployment, ValidateDeploymentUpdate) — a subset: names, containers
(name, image presence and surrounding whitespace, pull policy, termination message policy),
restartPolicy, dnsPolicy, Secret payloads. Image *names* are not validated here: the kubelet
reports an unparsable image as InvalidImageName when it tries to start the container.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from hoist.errors import InputError

# --------------------------------------------------------------------------- API errors


class ApiError(InputError):
    """An error the API server returns; ``reason`` is its StatusReason (``Invalid``,
    ``Forbidden``, ``NotFound``, ``AlreadyExists``, ``BadRequest``) and ``str()`` its
    message, word for word."""

    reason = "BadRequest"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidError(ApiError):
    reason = "Invalid"


class ForbiddenError(ApiError):
    reason = "Forbidden"


class NotFoundError(ApiError):
    reason = "NotFound"


class AlreadyExistsError(ApiError):
    reason = "AlreadyExists"


class BadRequestError(ApiError):
    reason = "BadRequest"


# --------------------------------------------------------------------------- field errors


def go_quote(s: str) -> str:
    """Go's %q for the plain strings validation messages quote."""
    return json.dumps(s, ensure_ascii=False)


class GoLiteral(str):
    """A value already spelled as Go's %#v spells it."""


def go_label_selector(selector: Mapping[str, Any]) -> GoLiteral:
    """%#v of a metav1.LabelSelector, as ``field is immutable`` errors print it."""
    labels = selector.get("matchLabels") or {}
    pairs = ", ".join(f"{go_quote(str(k))}:{go_quote(str(v))}"
                      for k, v in sorted(labels.items()))
    match_labels = f"map[string]string{{{pairs}}}" if labels else "map[string]string(nil)"
    exprs = selector.get("matchExpressions") or []
    if exprs:
        items = ", ".join(
            f"v1.LabelSelectorRequirement{{Key:{go_quote(str(e.get('key', '')))}, "
            f"Operator:{go_quote(str(e.get('operator', '')))}, Values:[]string{{"
            + ", ".join(go_quote(str(v)) for v in e.get("values") or []) + "}}"
            for e in exprs if isinstance(e, Mapping))
        match_exprs = f"[]v1.LabelSelectorRequirement{{{items}}}"
    else:
        match_exprs = "[]v1.LabelSelectorRequirement(nil)"
    return GoLiteral(f"v1.LabelSelector{{MatchLabels:{match_labels}, "
                     f"MatchExpressions:{match_exprs}}}")


def go_value(value: Any) -> str:
    """How field.Invalid prints a value: strings quoted (%q), integers bare, string maps
    as Go's %#v (``map[string]string{"a":"b"}``, keys sorted)."""
    if isinstance(value, GoLiteral):
        return str(value)
    if isinstance(value, str):
        return go_quote(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, Mapping):
        inner = ", ".join(f"{go_quote(str(k))}:{go_quote(str(v))}"
                          for k, v in sorted(value.items()))
        return f"map[string]string{{{inner}}}"
    return go_quote(str(value))


@dataclass(frozen=True, slots=True)
class FieldError:
    path: str
    type: str  # "Required value", "Invalid value", "Unsupported value", ...
    value: Any = None
    detail: str = ""
    has_value: bool = False

    def __str__(self) -> str:
        body = self.type
        if self.has_value:
            body += f": {go_value(self.value)}"
        if self.detail:
            body += f": {self.detail}"
        return f"{self.path}: {body}"


def required(path: str, detail: str = "") -> FieldError:
    return FieldError(path, "Required value", detail=detail)


def invalid(path: str, value: Any, detail: str) -> FieldError:
    return FieldError(path, "Invalid value", value, detail, has_value=True)


def not_supported(path: str, value: Any, supported: Sequence[str]) -> FieldError:
    detail = "supported values: " + ", ".join(go_quote(s) for s in supported)
    return FieldError(path, "Unsupported value", value, detail, has_value=True)


def duplicate(path: str, value: Any) -> FieldError:
    return FieldError(path, "Duplicate value", value, has_value=True)


def forbidden(path: str, detail: str) -> FieldError:
    return FieldError(path, "Forbidden", detail=detail)


def invalid_error(kind: str, name: str, errors: Sequence[FieldError]) -> InvalidError:
    """An Invalid status as kubectl words it (cmd/util StandardErrorMessage: ``The <Kind>
    "<name>" is invalid: …`` from the status details, whose kind has no group — the
    server's own message says ``Deployment.apps``); several field errors on one line,
    bracketed as apimachinery's aggregate prints them (kubectl would list them on lines
    of their own)."""
    texts = [str(e) for e in errors]
    body = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    return InvalidError(f"The {kind} {go_quote(name)} is invalid: {body}")


# --------------------------------------------------------------------------- names

# apimachinery pkg/util/validation/validation.go: IsDNS1123Label / IsDNS1123Subdomain.
DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_SUBDOMAIN_FMT = _LABEL_FMT + r"(\." + _LABEL_FMT + ")*"
_LABEL_RE = re.compile(_LABEL_FMT)
_SUBDOMAIN_RE = re.compile(_SUBDOMAIN_FMT)
DNS1123_LABEL_ERROR = (
    "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', "
    "and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', "
    f"regex used for validation is '{_LABEL_FMT}')"
)
DNS1123_SUBDOMAIN_ERROR = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', "
    f"regex used for validation is '{_SUBDOMAIN_FMT}')"
)


def dns1123_label_errors(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_LABEL_MAX:
        errs.append(f"must be no more than {DNS1123_LABEL_MAX} characters")
    if not _LABEL_RE.fullmatch(value):
        errs.append(DNS1123_LABEL_ERROR)
    return errs


def dns1123_subdomain_errors(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_SUBDOMAIN_MAX:
        errs.append(f"must be no more than {DNS1123_SUBDOMAIN_MAX} characters")
    if not _SUBDOMAIN_RE.fullmatch(value):
        errs.append(DNS1123_SUBDOMAIN_ERROR)
    return errs


def validate_object_meta(meta: Mapping[str, Any], namespaced: bool,
                         name_is_label: bool = False) -> list[FieldError]:
    """ValidateObjectMeta: name (or generateName) present and well-formed; namespace a
    DNS-1123 label when the kind is namespaced."""
    errs: list[FieldError] = []
    name = meta.get("name") or ""
    check = dns1123_label_errors if name_is_label else dns1123_subdomain_errors
    if not name and not meta.get("generateName"):
        errs.append(required("metadata.name", "name or generateName is required"))
    elif name:
        errs += [invalid("metadata.name", name, msg) for msg in check(str(name))]
    if namespaced:
        ns = meta.get("namespace") or ""
        if ns:
            errs += [invalid("metadata.namespace", ns, msg)
                     for msg in dns1123_label_errors(str(ns))]
    return errs


# --------------------------------------------------------------------------- pods

PULL_POLICIES = ("Always", "IfNotPresent", "Never")
RESTART_POLICIES = ("Always", "OnFailure", "Never")
DNS_POLICIES = ("ClusterFirstWithHostNet", "ClusterFirst", "Default", "None")
TERMINATION_MESSAGE_POLICIES = ("File", "FallbackToLogsOnError")


def _validate_container(c: Any, path: str, names: set[str]) -> list[FieldError]:
    errs: list[FieldError] = []
    if not isinstance(c, Mapping):
        return [invalid(path, str(c), "must be an object")]
    name = c.get("name") or ""
    if not name:
        errs.append(required(f"{path}.name"))
    else:
        errs += [invalid(f"{path}.name", name, msg) for msg in dns1123_label_errors(str(name))]
        if name in names:
            errs.append(duplicate(f"{path}.name", name))
        names.add(str(name))
    image = c.get("image")
    if not image:
        errs.append(required(f"{path}.image"))
    elif not isinstance(image, str):
        errs.append(invalid(f"{path}.image", str(image), "must be a string"))
    elif image != image.strip():
        errs.append(invalid(f"{path}.image", image,
                            "must not have leading or trailing whitespace"))
    policy = c.get("imagePullPolicy") or ""
    if not policy:
        errs.append(required(f"{path}.imagePullPolicy"))
    elif policy not in PULL_POLICIES:
        errs.append(not_supported(f"{path}.imagePullPolicy", policy, PULL_POLICIES))
    tmp = c.get("terminationMessagePolicy")
    if tmp and tmp not in TERMINATION_MESSAGE_POLICIES:
        errs.append(not_supported(f"{path}.terminationMessagePolicy", tmp,
                                  TERMINATION_MESSAGE_POLICIES))
    return errs


def validate_pod_spec(spec: Any, path: str = "spec",
                      restart_policies: Sequence[str] = RESTART_POLICIES) -> list[FieldError]:
    """ValidatePodSpec, the parts above: regular containers first, then init and
    ephemeral ones (container names unique across all of them), restartPolicy, dnsPolicy."""
    if not isinstance(spec, Mapping):
        return [required(path)]
    errs: list[FieldError] = []
    names: set[str] = set()
    containers = spec.get("containers") or []
    if not containers:
        errs.append(required(f"{path}.containers"))
    for key in ("containers", "initContainers", "ephemeralContainers"):
        for i, c in enumerate(spec.get(key) or []):
            errs += _validate_container(c, f"{path}.{key}[{i}]", names)
    restart = spec.get("restartPolicy") or ""
    if restart not in restart_policies:
        errs.append(not_supported(f"{path}.restartPolicy", restart, restart_policies))
    dns = spec.get("dnsPolicy") or ""
    if dns not in DNS_POLICIES:
        errs.append(not_supported(f"{path}.dnsPolicy", dns, DNS_POLICIES))
    for i, ref in enumerate(spec.get("imagePullSecrets") or []):
        if not isinstance(ref, Mapping):
            errs.append(invalid(f"{path}.imagePullSecrets[{i}]", str(ref), "must be an object"))
    return errs


def validate_pod(pod: Mapping[str, Any]) -> None:
    meta = pod.get("metadata") or {}
    errs = validate_object_meta(meta, namespaced=True)
    errs += validate_pod_spec(pod.get("spec"))
    if errs:
        raise invalid_error("Pod", str(meta.get("name") or meta.get("generateName") or ""),
                            errs)


# Which spec fields a pod update may change (ValidatePodUpdate).
POD_UPDATE_FORBIDDEN = (
    "pod updates may not change fields other than `spec.containers[*].image`,"
    "`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` "
    "(only additions to existing tolerations),`spec.terminationGracePeriodSeconds` "
    "(allow it to be set to 1 if it was previously negative)"
)


def validate_pod_update(old_spec: Mapping[str, Any], new_spec: Mapping[str, Any],
                        name: str) -> None:
    """A pod's spec is immutable but for images and a few fields; anything else is the
    API server's Forbidden field error (without the diff it appends)."""
    def masked(spec: Mapping[str, Any]) -> dict[str, Any]:
        out = json.loads(json.dumps(spec))
        for key in ("containers", "initContainers"):
            for c in out.get(key) or []:
                if isinstance(c, dict):
                    c.pop("image", None)
        for key in ("activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds",
                    "nodeName"):
            out.pop(key, None)
        return dict(out)

    if masked(old_spec) != masked(new_spec):
        raise invalid_error("Pod", name, [forbidden("spec", POD_UPDATE_FORBIDDEN)])


# --------------------------------------------------------------------------- deployments


def validate_deployment(dep: Mapping[str, Any]) -> None:
    meta = dep.get("metadata") or {}
    name = str(meta.get("name") or meta.get("generateName") or "")
    errs = validate_object_meta(meta, namespaced=True)
    spec = dep.get("spec")
    if not isinstance(spec, Mapping):
        raise invalid_error("Deployment", name, [*errs, required("spec")])
    replicas = spec.get("replicas")
    if isinstance(replicas, int) and replicas < 0:
        errs.append(invalid("spec.replicas", replicas,
                            "must be greater than or equal to 0"))
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels") or {}
    match = (selector or {}).get("matchLabels") or {} if isinstance(selector, Mapping) else {}
    if not selector:
        errs.append(required("spec.selector"))
    elif not match and not selector.get("matchExpressions"):
        errs.append(invalid("spec.selector", "", "empty selector is invalid for deployment"))
    elif any(labels.get(k) != v for k, v in match.items()):
        errs.append(invalid("spec.template.metadata.labels", labels,
                            "`selector` does not match template `labels`"))
    # apps validation: a Deployment's pods must restart (ValidatePodTemplateSpecForReplicaSet).
    errs += validate_pod_spec(template.get("spec"), "spec.template.spec", ("Always",))
    strategy = (spec.get("strategy") or {}).get("type")
    if strategy and strategy not in ("Recreate", "RollingUpdate"):
        errs.append(not_supported("spec.strategy.type", strategy, ("Recreate", "RollingUpdate")))
    if errs:
        raise invalid_error("Deployment", name, errs)


def validate_deployment_update(old: Mapping[str, Any], new: Mapping[str, Any]) -> None:
    """apps/v1 makes a Deployment's selector immutable (ValidateDeploymentUpdate)."""
    old_selector = (old.get("spec") or {}).get("selector") or {}
    new_selector = (new.get("spec") or {}).get("selector") or {}
    if old_selector != new_selector:
        name = str((old.get("metadata") or {}).get("name", ""))
        raise invalid_error("Deployment", name, [
            invalid("spec.selector", go_label_selector(new_selector), "field is immutable")])


# --------------------------------------------------------------------------- secrets etc.

SECRET_KEY_RE = re.compile(r"[-._a-zA-Z0-9]+")
_SECRET_KEY_ERROR = (
    "a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
    "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
    "'[-._a-zA-Z0-9]+')"
)


def _go_json_error(raw: bytes) -> str | None:
    """Go's encoding/json error for the common ways a payload fails, else None."""
    text = raw.decode("utf-8", "replace")
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        if e.pos >= len(text.rstrip()):
            return "unexpected end of JSON input"
        ch = text[e.pos]
        where = "looking for beginning of value" if e.msg.startswith("Expecting value") else (
            "after object key" if "':'" in e.msg else "looking for beginning of object key "
            "string" if "property name" in e.msg else "after object key:value pair")
        return f"invalid character {ch!r} {where}"
    if not isinstance(value, dict):
        kind = {list: "array", str: "string", bool: "bool", type(None): "null"}.get(
            type(value), "number")
        if value is None:
            return None  # null unmarshals into a map as an empty map
        return f"json: cannot unmarshal {kind} into Go value of type map[string]interface {{}}"
    return None


def validate_secret(secret: Mapping[str, Any], decoded: Mapping[str, bytes]) -> None:
    """ValidateSecret over the decoded ``data`` (stringData already merged)."""
    meta = secret.get("metadata") or {}
    name = str(meta.get("name") or meta.get("generateName") or "")
    errs = validate_object_meta(meta, namespaced=True)
    for key in decoded:
        if not SECRET_KEY_RE.fullmatch(key):
            errs.append(invalid(f"data[{key}]", key, _SECRET_KEY_ERROR))
    stype = secret.get("type") or "Opaque"
    if stype == "kubernetes.io/dockerconfigjson":
        key = ".dockerconfigjson"
        if key not in decoded:
            errs.append(required(f"data[{key}]"))
        else:
            problem = _go_json_error(decoded[key])
            if problem:
                # The value itself is never echoed (validation.go redacts it too).
                errs.append(invalid(f"data[{key}]", "<secret contents redacted>", problem))
    elif stype == "kubernetes.io/dockercfg":
        key = ".dockercfg"
        if key not in decoded:
            errs.append(required(f"data[{key}]"))
        else:
            problem = _go_json_error(decoded[key])
            if problem:
                errs.append(invalid(f"data[{key}]", "<secret contents redacted>", problem))
    if errs:
        raise invalid_error("Secret", name, errs)


def validate_service_account(sa: Mapping[str, Any]) -> None:
    meta = sa.get("metadata") or {}
    errs = validate_object_meta(meta, namespaced=True)
    for i, ref in enumerate(sa.get("imagePullSecrets") or []):
        if not isinstance(ref, Mapping):
            errs.append(invalid(f"imagePullSecrets[{i}]", str(ref), "must be an object"))
    if errs:
        raise invalid_error("ServiceAccount", str(meta.get("name") or ""), errs)


def validate_namespace(ns: Mapping[str, Any]) -> None:
    meta = ns.get("metadata") or {}
    errs = validate_object_meta(meta, namespaced=False, name_is_label=True)
    if errs:
        raise invalid_error("Namespace", str(meta.get("name") or ""), errs)
