"""Platforms (os/architecture/variant) normalized as containerd's ``platforms`` package does."""

from __future__ import annotations

import re
from dataclasses import dataclass

# containerd platforms.go: each specifier part is [A-Za-z0-9_.-]+.
_SPECIFIER_PART = re.compile(r"[A-Za-z0-9_.-]+")


class PlatformError(ValueError):
    pass


def _normalize_arch(arch: str, variant: str) -> tuple[str, str]:
    # containerd platforms/database.go normalizeArch.
    arch, variant = arch.lower(), variant.lower()
    if arch == "i386":
        return "386", ""
    if arch in ("x86_64", "x86-64", "amd64"):
        return "amd64", "" if variant == "v1" else variant
    if arch in ("aarch64", "arm64"):
        return "arm64", "" if variant in ("8", "v8", "v8.0") else variant
    if arch == "armhf":
        return "arm", "v7"
    if arch == "armel":
        return "arm", "v6"
    if arch == "arm":
        if variant in ("", "7"):
            return "arm", "v7"
        if variant in ("5", "6", "8"):
            return "arm", "v" + variant
        return "arm", variant
    return arch, variant


def _normalize_os(os_name: str) -> str:
    os_name = os_name.lower()
    return "darwin" if os_name == "macos" else os_name


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, spec: str) -> Platform:
        """``os/arch[/variant]`` (``linux/arm64/v8``); an empty part is an error."""
        parts = spec.split("/")
        if not 2 <= len(parts) <= 3 or not all(_SPECIFIER_PART.fullmatch(p) for p in parts):
            raise PlatformError(f"invalid platform {spec!r}: want os/arch[/variant] of "
                                "letters, digits, '_', '.' and '-'")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "").normalized()

    def normalized(self) -> Platform:
        arch, variant = _normalize_arch(self.architecture, self.variant)
        return Platform(_normalize_os(self.os), arch, variant)

    def matches(self, other: Platform) -> bool:
        """Whether an index entry for ``other`` serves this platform (both normalized)."""
        return self.normalized() == other.normalized()

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


def host_platform() -> Platform:
    """The platform this machine runs (what a node pulls and a build targets)."""
    import os

    uname = os.uname()  # what platform.machine()/system() read, without importing them
    return Platform(uname.sysname.lower() or "linux", uname.machine or "amd64").normalized()
