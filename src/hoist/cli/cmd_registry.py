"""``hoist copy | pull | push | inspect | resolve | tags | images | login | store``"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import TYPE_CHECKING, Any

from hoist.cli.output import EXIT_FINDINGS, EXIT_OK, print_json, print_table
from hoist.errors import InputError

if TYPE_CHECKING:  # the transfer machinery loads only when a verb runs
    from hoist.transfer import CopyResult, Options

VERBS = ("copy", "pull", "push", "inspect", "resolve", "tags", "images", "login", "store")


def _common(p: argparse.ArgumentParser, *, store: bool = True, platform: bool = True,
            output: bool = False) -> None:
    p.add_argument("--authfile", metavar="FILE",
                   help="docker config.json with credentials (default: $DOCKER_CONFIG/"
                        "config.json, then ~/.docker/config.json)")
    p.add_argument("--secret", action="append", default=[], metavar="FILE",
                   help="a Kubernetes pull Secret (YAML or JSON; repeatable): choose the "
                        "credential as the kubelet's keyring does, instead of config.json")
    p.add_argument("--insecure", action="store_true",
                   help="plain HTTP to the registry (always so for localhost and 127.0.0.1)")
    p.add_argument("-v", "--verbose", action="store_true",
                   help="log each registry request (never credentials)")
    if store:
        p.add_argument("--store", metavar="DIR",
                       help="content store (default: ~/.local/share/hoist/store)")
    if platform:
        p.add_argument("--platform", metavar="OS/ARCH[/VARIANT]",
                       help="from an index, take only this platform's image")
    if output:
        p.add_argument("-o", "--output", choices=("table", "json"), default="table")


def _transfer(p: argparse.ArgumentParser) -> None:
    p.add_argument("-j", "--jobs", type=int, default=6, metavar="N",
                   help="blobs transferred at once (default 6)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bars")
    p.add_argument("--chunk-size", type=int, metavar="BYTES",
                   help="upload in PATCH chunks of this size (default: one PUT per blob)")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")


def register(sub: Any, name: str) -> None:
    if name == "copy":
        p = sub.add_parser("copy", help="copy an image between registries, OCI layouts and "
                           "the store", description="Copy an image. SRC and DST take "
                           "docker://REF, oci:DIR[:TAG] or store:REF (a bare REF is docker://).")
        p.add_argument("src", metavar="SRC")
        p.add_argument("dst", metavar="DST")
        _common(p)
        _transfer(p)
        p.set_defaults(func=run_copy)
    elif name == "pull":
        p = sub.add_parser("pull", help="pull an image into the store (copy REF store:REF)")
        p.add_argument("ref", metavar="REF")
        _common(p)
        _transfer(p)
        p.set_defaults(func=run_pull)
    elif name == "push":
        p = sub.add_parser("push", help="push an image to a registry (copy SRC docker://REF)",
                           description="Push SRC (store:REF, oci:DIR[:TAG], or a name in the "
                           "store) to the registry reference REF.")
        p.add_argument("src", metavar="SRC")
        p.add_argument("ref", metavar="REF")
        _common(p)
        _transfer(p)
        p.set_defaults(func=run_push)
    elif name == "inspect":
        p = sub.add_parser("inspect", help="an image's manifest and configuration")
        p.add_argument("ref", metavar="REF")
        g = p.add_mutually_exclusive_group()
        g.add_argument("--raw", action="store_true", help="the manifest (or index) as stored")
        g.add_argument("--config", action="store_true", help="the image configuration")
        _common(p, output=True)
        p.set_defaults(func=run_inspect)
    elif name == "resolve":
        p = sub.add_parser("resolve", help="print the digest a reference names")
        p.add_argument("ref", metavar="REF")
        _common(p, platform=False, output=True)
        p.set_defaults(func=run_resolve)
    elif name == "tags":
        p = sub.add_parser("tags", help="list a repository's tags")
        p.add_argument("repo", metavar="REPO")
        p.add_argument("--page-size", type=int, metavar="N",
                       help="ask the registry for N tags per page")
        _common(p, store=False, platform=False, output=True)
        p.set_defaults(func=run_tags)
    elif name == "images":
        p = sub.add_parser("images", help="images in the store")
        p.add_argument("--store", metavar="DIR")
        p.add_argument("-o", "--output", choices=("table", "json"), default="table")
        p.set_defaults(func=run_images)
    elif name == "login":
        p = sub.add_parser("login", help="check and save registry credentials, as docker "
                           "login does", description="Read the password from stdin, check "
                           "it against REGISTRY, and save it to config.json (or the "
                           "configured credential helper).")
        p.add_argument("registry", metavar="REGISTRY")
        p.add_argument("-u", "--username", required=True)
        p.add_argument("--password-stdin", action="store_true", default=True,
                       help="read the password from stdin (the only way; default)")
        _common(p, store=False, platform=False)
        p.set_defaults(func=run_login)
    elif name == "store":
        p = sub.add_parser("store", help="check and clean the content store")
        ss = p.add_subparsers(dest="store_command", metavar="COMMAND", required=True)
        v = ss.add_parser("verify", help="re-hash every blob and check every image")
        v.add_argument("--store", metavar="DIR")
        v.add_argument("-o", "--output", choices=("table", "json"), default="table")
        v.set_defaults(func=run_verify)
        g = ss.add_parser("gc", help="remove blobs no image references")
        g.add_argument("--store", metavar="DIR")
        g.add_argument("--dry-run", action="store_true")
        g.add_argument("-o", "--output", choices=("table", "json"), default="table")
        g.set_defaults(func=run_gc)


def _options(args: argparse.Namespace) -> Options:
    from hoist.core.platform import Platform, PlatformError
    from hoist.transfer import Options

    if getattr(args, "verbose", False):
        logging.basicConfig(format="hoist: %(message)s", stream=sys.stderr)
        logging.getLogger("hoist.registry").setLevel(logging.DEBUG)
    platform = None
    if getattr(args, "platform", None):
        try:
            platform = Platform.parse(args.platform)
        except PlatformError as e:
            raise InputError(f"--platform: {e}") from None
    progress = None
    if hasattr(args, "quiet"):
        from hoist.cli.progress import for_terminal

        progress = for_terminal(args.quiet or args.output == "json")
    jobs = getattr(args, "jobs", 6)
    if jobs < 1:
        raise InputError(f"--jobs: must be at least 1, not {jobs}")
    chunk = getattr(args, "chunk_size", None)
    if chunk is not None and chunk < 1:
        raise InputError(f"--chunk-size: must be positive, not {chunk}")
    return Options(platform=platform, jobs=jobs, insecure=getattr(args, "insecure", False),
                   authfile=getattr(args, "authfile", None), chunk_size=chunk,
                   store_root=getattr(args, "store", None), progress=progress,
                   secret_files=getattr(args, "secret", ()))


def _report_copy(args: argparse.Namespace, result: CopyResult, seconds: float) -> int:
    if args.output == "json":
        doc = result.to_json()
        doc["seconds"] = round(seconds, 3)
        print_json(doc)
        return EXIT_OK
    if result.up_to_date:
        print(f"{result.destination}: up to date ({result.digest})")
        return EXIT_OK
    counts = ", ".join(f"{n} {how}" for how, n in sorted(result.blobs.items())) or "no blobs"
    mib = result.bytes_copied / (1 << 20)
    print(f"{result.destination}: {result.digest} ({counts}; {mib:.1f} MiB in {seconds:.2f}s)")
    return EXIT_OK


def run_copy(args: argparse.Namespace) -> int:
    from hoist import transfer

    t0 = time.monotonic()
    result = transfer.copy(args.src, args.dst, _options(args))
    return _report_copy(args, result, time.monotonic() - t0)


def run_pull(args: argparse.Namespace) -> int:
    from hoist import transfer

    t0 = time.monotonic()
    result = transfer.pull(args.ref, _options(args))
    return _report_copy(args, result, time.monotonic() - t0)


def run_push(args: argparse.Namespace) -> int:
    from hoist import transfer

    t0 = time.monotonic()
    result = transfer.push(args.src, args.ref, _options(args))
    return _report_copy(args, result, time.monotonic() - t0)


def run_inspect(args: argparse.Namespace) -> int:
    from hoist.transfer import ops

    options = _options(args)
    if args.raw:
        sys.stdout.buffer.write(ops.inspect_raw(args.ref, options))
        sys.stdout.flush()
        return EXIT_OK
    info = ops.inspect(args.ref, options)
    if args.config:
        sys.stdout.buffer.write(info.config_raw)
        sys.stdout.flush()
        return EXIT_OK
    doc = info.to_json()
    if args.output == "json":
        print_json(doc)
        return EXIT_OK
    rows = [{"field": k, "value": v if not isinstance(v, (list, dict)) else
             (", ".join(map(str, v)) if isinstance(v, list) else
              ", ".join(f"{a}={b}" for a, b in v.items()))}
            for k, v in doc.items() if k != "LayersData"]
    print_table(rows, ("field", "value"))
    return EXIT_OK


def run_resolve(args: argparse.Namespace) -> int:
    from hoist.transfer import ops

    desc = ops.resolve(args.ref, _options(args))
    if args.output == "json":
        print_json({"reference": args.ref, "digest": str(desc.digest),
                    "mediaType": desc.media_type, "size": desc.size})
    else:
        print(desc.digest)
    return EXIT_OK


def run_tags(args: argparse.Namespace) -> int:
    from hoist.transfer import ops

    if args.page_size is not None and args.page_size < 1:
        raise InputError(f"--page-size: must be positive, not {args.page_size}")
    tags = ops.list_tags(args.repo, _options(args), args.page_size)
    if args.output == "json":
        print_json({"repository": args.repo, "tags": tags})
    else:
        for t in tags:
            print(t)
    return EXIT_OK


def _when(ts: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def run_images(args: argparse.Namespace) -> int:
    from hoist import api

    records = api.store_images(args.store)
    if args.output == "json":
        print_json([{"name": r.name, "digest": str(r.digest), "mediaType": r.media_type,
                     "size": r.size, "created": r.created, "lastUsed": r.last_used}
                    for r in records])
        return EXIT_OK
    rows = [{"name": r.name, "digest": r.digest.short, "size": f"{r.size / 1e6:.1f}MB",
             "last_used": _when(r.last_used)} for r in records]
    print_table(rows, ("name", "digest", "size", "last_used"))
    return EXIT_OK


def run_login(args: argparse.Namespace) -> int:
    from hoist.transfer import ops

    if sys.stdin.isatty():
        import getpass

        password = getpass.getpass("Password: ")
    else:
        password = sys.stdin.readline().rstrip("\r\n")
    where = ops.login(args.registry, args.username, password, _options(args))
    print(f"Login Succeeded ({where})")
    return EXIT_OK


def run_verify(args: argparse.Namespace) -> int:
    from hoist.store import ContentStore

    with ContentStore(args.store) as store:
        report = store.verify()
    doc = {"blobsChecked": report.blobs_checked, "bytesChecked": report.bytes_checked,
           "badBlobs": [{"digest": str(d), "actual": str(a)} for d, a in report.bad_blobs],
           "missing": [{"image": n, "digest": str(d)} for n, d in report.missing],
           "unreadable": [{"digest": str(d), "error": e}
                          for d, e in report.unreadable],
           "partialIngests": report.partial_ingests, "ok": report.ok}
    if args.output == "json":
        print_json(doc)
    else:
        print(f"{report.blobs_checked} blobs, {report.bytes_checked / (1 << 20):.1f} MiB "
              f"checked: {len(report.bad_blobs)} bad, {len(report.missing)} missing, "
              f"{report.partial_ingests} partial download(s) kept for resuming")
        for d, a in report.bad_blobs:
            print(f"bad blob {d}: content hashes to {a}")
        for n, d in report.missing:
            print(f"image {n}: blob {d} is missing")
        for d, e in report.unreadable:
            print(f"unreadable {d}: {e}")
    return EXIT_OK if report.ok else EXIT_FINDINGS


def run_gc(args: argparse.Namespace) -> int:
    from hoist.store import ContentStore

    with ContentStore(args.store) as store:
        report = store.gc(dry_run=args.dry_run)
    verb = "would remove" if args.dry_run else "removed"
    if args.output == "json":
        print_json({"dryRun": args.dry_run,
                    "removedBlobs": [str(d) for d in report.removed_blobs],
                    "removedBytes": report.removed_bytes,
                    "removedIngests": report.removed_ingests, "keptBlobs": report.kept_blobs})
    else:
        print(f"{verb} {len(report.removed_blobs)} blobs "
              f"({report.removed_bytes / (1 << 20):.1f} MiB) and {report.removed_ingests} "
              f"stale partial downloads; kept {report.kept_blobs}")
    return EXIT_OK
