"""``hoist deploy | run | dev | delete``: the dev loop's verbs."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from hoist.cli.output import EXIT_OK, print_json, print_table

VERBS = ("deploy", "run", "dev", "delete")


class StepLog:
    """Progress on stderr, one line per step, with the seconds since the command began."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.start = time.monotonic()

    def __call__(self, line: str) -> None:
        sys.stderr.write(f"[{self.prefix}] {time.monotonic() - self.start:6.1f}s {line}\n")
        sys.stderr.flush()


def _target_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", choices=("auto", "embedded", "kube"), default="auto",
                   help="embedded: hoist's own registry and cluster (started in the "
                        "background when not running); kube: kubectl; auto (default): kube "
                        "when a kube context is configured, else embedded")
    p.add_argument("--kube-context", metavar="NAME", help="kubeconfig context (implies kube)")
    p.add_argument("--kubeconfig", metavar="FILE", help="kubeconfig file for kubectl")
    p.add_argument("--namespace", "-n", metavar="NS",
                   help="namespace for resources that name none (default: the config's "
                        "defaultNamespace, else the context's)")
    p.add_argument("--runtime", choices=("auto", "cri", "builtin"), default="auto",
                   help="embedded node runtime when hoist starts it (auto: containerd when "
                        "it can run here, else builtin)")
    p.add_argument("--time-scale", type=float, default=1.0, metavar="F",
                   help=argparse.SUPPRESS)
    p.add_argument("--status-check", choices=("true", "false"), default="true",
                   help="wait for the deployed workloads to be ready (default true)")
    p.add_argument("--status-check-deadline", type=float, metavar="SECONDS",
                   help="give up waiting after this long (default 600, or a Deployment's "
                        "progressDeadlineSeconds when smaller)")
    p.add_argument("--verify", choices=("true", "false"), default="true",
                   help="check that every container runs the digest hoist built")
    p.add_argument("--warm-node", choices=("true", "false"), default="true",
                   help="embedded node with containerd: fetch the built images while the "
                        "old pods go (the kubelet still makes its own pull); default true")
    p.add_argument("--run-id", metavar="ID", help="label resources with this run id "
                   "(default: a new one)")
    p.add_argument("-o", "--output", choices=("table", "json"), default="table")


def _build_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--builder", choices=("auto", "native", "buildah", "podman", "docker"),
                   help="one builder for every artifact (default: the config's, else auto)")
    p.add_argument("--tag", "-t", metavar="TAG", help="this tag for every artifact")
    p.add_argument("--force-tag", action="store_true",
                   help="allow a push to move an existing tag to another digest")
    p.add_argument("--cache-artifacts", choices=("true", "false"), default="true",
                   help="reuse images whose inputs did not change (default true)")
    p.add_argument("--insecure-registry", action="append", default=[], metavar="HOST",
                   help="reach this registry over plain HTTP")
    p.add_argument("--store", metavar="DIR", help="the content store (default "
                   "~/.local/share/hoist/store)")
    p.add_argument("--authfile", metavar="FILE", help="docker config.json for credentials")
    p.add_argument("--file-output", metavar="FILE",
                   help="write what was built as Skaffold's build.json here")


def register(sub: Any, name: str) -> None:
    from hoist.cli.cmd_build import add_config_arguments

    if name == "deploy":
        p = sub.add_parser(
            "deploy", help="render and apply the config's manifests, wait, verify",
            description="Render the config's manifests with the built references (from "
            "--build-artifacts, else building first), let each artifact's pull policy shape "
            "the deploy (Always: the registry must serve the digest; Never: the image is "
            "loaded into the node first), apply to the target, wait until the workloads are "
            "ready (stopping at the first image pull failure with the kubelet's message), "
            "and check that every container runs the digest that was built.")
        add_config_arguments(p)
        p.add_argument("--build-artifacts", "-a", metavar="FILE",
                       help="build.json from `hoist build --file-output`")
        _target_arguments(p)
        _build_arguments(p)
        p.set_defaults(func=run_deploy)
    elif name == "run":
        p = sub.add_parser(
            "run", help="build, push or load, deploy, wait, verify: once",
            description="One pass of the loop: build every artifact, push it (or load it "
            "into the node for Never), deploy, wait for readiness, verify the running "
            "digests; then exit and leave it running (`hoist delete` removes it).")
        add_config_arguments(p)
        _target_arguments(p)
        _build_arguments(p)
        p.set_defaults(func=run_run)
    elif name == "dev":
        p = sub.add_parser(
            "dev", help="run, then again on every change; Ctrl-C cleans up",
            description="Run once, then watch the artifacts' contexts, the manifests and "
            "the config: rebuild only what changed (and what requires it), redeploy, wait, "
            "verify, and print one line per cycle with its timings. Ctrl-C deletes what it "
            "deployed unless --cleanup=false.")
        add_config_arguments(p)
        _target_arguments(p)
        _build_arguments(p)
        p.add_argument("--cleanup", choices=("true", "false"), default="true",
                       help="delete what was deployed on exit (default true)")
        p.add_argument("--watch-poller", choices=("auto", "notify", "polling"),
                       default="auto", help="file notifications (auto falls back to "
                       "polling where none work)")
        p.add_argument("--debounce", type=int, metavar="MS", default=50,
                       help="changes arriving together make one cycle: it starts once 2 ms "
                       "pass without another change, and at most MS after the first "
                       "(default 50)")
        p.set_defaults(func=run_dev)
    else:
        p = sub.add_parser(
            "delete", help="delete what a run deployed",
            description="Delete the resources a hoist run, deploy or dev applied (the last "
            "one unless --run-id), and only those still labelled with its run id.")
        p.add_argument("--run-id", metavar="ID", help="the run to delete (default: the last)")
        p.add_argument("--all", action="store_true", help="every recorded run")
        p.add_argument("--kubectl", default="kubectl", help=argparse.SUPPRESS)
        p.add_argument("-o", "--output", choices=("table", "json"), default="table")
        p.set_defaults(func=run_delete)


def _deploy_options(args: argparse.Namespace, log: StepLog) -> Any:
    from hoist.deploy.deployer import DeployOptions

    return DeployOptions(
        target="kube" if args.kube_context and args.target == "auto" else args.target,
        kube_context=args.kube_context, kubeconfig=args.kubeconfig,
        namespace=args.namespace, run_id=args.run_id,
        status_check=args.status_check == "true",
        status_deadline=args.status_check_deadline, verify=args.verify == "true",
        runtime=args.runtime, time_scale=args.time_scale,
        warm_node=args.warm_node == "true",
        store_root=Path(args.store) if getattr(args, "store", None) else None, log=log)


def _session(args: argparse.Namespace, command: str, log: StepLog) -> Any:
    from hoist.cli.cmd_build import load, options_from_args
    from hoist.dev.loop import Session

    config = load(args)
    return Session(Path(config.path), tuple(args.profiles), options_from_args(args),
                   _deploy_options(args, log), command=command, config=config)


def _print_report(args: argparse.Namespace, report: Any, builds: Any = ()) -> None:
    if args.output == "json":
        print_json({**report.to_json(), "builds": [b.to_json() for b in builds]})
        return
    print(f"run {report.run_id} on {report.description}")
    rows = [{"resource": f"{r.kind}/{r.name}", "namespace": r.namespace, "outcome": o}
            for r, o in report.resources]
    print_table(rows, ["resource", "namespace", "outcome"])
    if report.running:
        print_table([{"pod": pod, "running": ", ".join(ids)}
                     for pod, ids in sorted(report.running.items())], ["pod", "running"])


def run_deploy(args: argparse.Namespace) -> int:
    from hoist.build.runner import read_build_json
    from hoist.cli.cmd_build import load

    log = StepLog("deploy")
    if args.build_artifacts:
        from hoist.deploy.deployer import deploy

        config = load(args)
        report = deploy(config, read_build_json(args.build_artifacts),
                        _deploy_options(args, log))
        _print_report(args, report)
        return EXIT_OK
    from hoist.dev.loop import run_once

    log("no --build-artifacts: building first")
    session = _session(args, "deploy", log)
    result = run_once(session)
    _write_build_json(args, session)
    _print_report(args, result.deploy, result.built)
    return EXIT_OK


def _write_build_json(args: argparse.Namespace, session: Any) -> None:
    if getattr(args, "file_output", None):
        from hoist.build.runner import write_build_json

        write_build_json(list(session.builds.values()), args.file_output)


def run_run(args: argparse.Namespace) -> int:
    from hoist.dev.loop import run_once

    log = StepLog("run")
    session = _session(args, "run", log)
    result = run_once(session)
    log(result.line())
    _write_build_json(args, session)
    _print_report(args, result.deploy, result.built)
    return EXIT_OK


def run_dev(args: argparse.Namespace) -> int:
    import signal
    import threading

    from hoist.dev.loop import dev

    log = StepLog("dev")
    stop = threading.Event()

    def on_term(signum: int, frame: object) -> None:
        del signum, frame
        stop.set()
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    polling = {"auto": None, "notify": False, "polling": True}[args.watch_poller]
    return dev(_session(args, "dev", log), log=log, stop=stop,
               cleanup=args.cleanup == "true", polling=polling, debounce_ms=args.debounce)


def run_delete(args: argparse.Namespace) -> int:
    from hoist.deploy.deployer import DeployOptions, delete_run

    log = StepLog("delete")
    gone = delete_run(args.run_id, options=DeployOptions(kubectl=args.kubectl, log=log),
                      all_runs=args.all)
    if args.output == "json":
        print_json({"deleted": gone})
    elif not gone:
        print("nothing to delete")
    for name in gone if args.output != "json" else ():
        print(f"{name} deleted")
    return EXIT_OK
