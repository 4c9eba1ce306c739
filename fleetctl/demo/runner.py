"""The demo's run: steps 2 to 7 in order (``demo``), then the summary (``write_summary``).

The steps (issue 5; ``make demo`` runs 1 and 2 through its prerequisites):

1. setup and ``make lambda`` (the Makefile);
2. synth the environment (``cdktf.out``; synthesized here only if missing);
3. start the local AWS (moto on 127.0.0.1), apply the state bootstrap stack
   (local backend, in the run directory), then ``init`` the worker stack with its
   S3 backend **in the local AWS** (``use_lockfile = true``);
4. ``apply`` the worker stack and print what was deployed, read back with boto3;
5. the loop, one tick per simulated minute: simulated workers consume the
   queues, the deployed Lambda code runs (the handler from the built zip, with
   the function's environment read back from the deployed function), and a
   target-tracking model scales AI and Messaging from the ``BacklogPerInstance``
   datapoints read back from CloudWatch;
6. the verification checks (``fleetctl verify``) and the demo's own checks;
7. ``destroy`` both stacks and stop the local AWS (skipped with ``--keep``).

Steps 2 to 4 are in ``deploy.py``, 5 in ``loop.py``, 6 in ``checks.py``; the
command line (``fleetctl demo``) is the package's ``__init__``.

moto is a control plane only (NOTES §2): schedules never fire, Lambda code does
not run and target tracking is never evaluated. Steps 5's three stand-ins are the
only simulated parts; the clock is simulated too (one tick = one minute, the last
tick at the present, so the seed's "last 30 minutes" commands find the data after
``--keep``), and it lives only in ``loop.py``: the handler gets it as a scheduled
event's ``time``.

Output: a live table on stdout, and ``out/demo-<env>.txt`` (the summary) plus
``out/report-<env>.md`` (``fleetctl report``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from fleetctl.demo.aws import aws_clients, empty_bucket
from fleetctl.demo.checks import own_checks, run_report, run_verify
from fleetctl.demo.context import RunContext
from fleetctl.demo.deploy import deploy, ensure_synthesized, print_inventory
from fleetctl.demo.loop import FleetTrace, run_loop
from fleetctl.demo.output import say
from fleetctl.local_aws import LocalAws
from worker_metrics.contract import WorkerType


@contextmanager
def _environment(values: Mapping[str, str]) -> Iterator[None]:
    """Set ``values`` in os.environ (verify builds its boto3 session from it), restore after."""
    saved = {key: os.environ.get(key) for key in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def demo(context: RunContext, out_dir: Path) -> int:
    """Steps 2-7. Returns the exit code."""
    progress = context.progress
    settings = context.settings
    progress.step(2, f"synth {settings.name}")
    workers_src, bootstrap_src = ensure_synthesized(context)

    progress.step(3, "start the local AWS, bootstrap the state bucket, init on S3")
    context.run_dir.mkdir(parents=True, exist_ok=True)
    state_file = context.run_dir / "local-aws.json"
    aws = LocalAws.start(
        region=settings.region,
        die_with_parent=not context.keep,
        log_path=context.run_dir / "local-aws.log",
    )
    say(f"  local AWS (moto) at {aws.endpoint}, pid {aws.pid}, region {aws.region}")
    destroyed = False
    try:
        if context.keep:
            aws.write_state(state_file)
        bootstrap, workers = deploy(context, aws, workers_src, bootstrap_src)
        assert context.outputs is not None
        clients = aws_clients(aws)
        print_inventory(clients, context.outputs)

        progress.step(5, f"the loop: {context.ticks} ticks of one simulated minute")
        traces = run_loop(context, aws, clients)

        progress.step(6, "verification")
        checks = own_checks(context, clients, traces)
        with _environment(aws.env()):
            verify_code = run_verify(context)
        report_code = run_report(context, out_dir)
        checks.append(("fleetctl verify", verify_code == 0, f"exit {verify_code}"))
        checks.append(("fleetctl report (no drift)", report_code == 0, f"exit {report_code}"))
        for name, ok, detail in checks:
            say(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}")

        if context.keep:
            progress.step(7, "keep: the local AWS stays up")
        else:
            progress.step(7, "destroy both stacks, stop the local AWS")
            # No refresh: the state was written by our own apply minutes ago, and the
            # only out-of-band changes (desired capacity, the Video marker tag) are on
            # resources being deleted anyway.
            destroyed_workers = workers.destroy(refresh=False)
            say(f"  {settings.stack_name} destroyed ({destroyed_workers.seconds:.1f} s)")
            removed = empty_bucket(aws_clients(aws)["s3"], settings.backend.bucket)
            say(f"  emptied the state bucket ({removed} object versions and delete markers)")
            destroyed_bootstrap = bootstrap.destroy()
            say(
                f"  {settings.bootstrap_stack_name} destroyed ({destroyed_bootstrap.seconds:.1f} s)"
            )
            destroyed = True
    finally:
        if not context.keep:
            aws.stop()
            say(f"  local AWS stopped (pid {aws.pid})" if destroyed else "  local AWS stopped")
    progress.close()
    write_summary(context, traces, checks, out_dir, state_file if context.keep else None)
    return 0 if all(ok for _, ok, _ in checks) else 1


def write_summary(
    context: RunContext,
    traces: Mapping[WorkerType, FleetTrace],
    checks: list[tuple[str, bool, str]],
    out_dir: Path,
    state_file: Path | None,
) -> None:
    """``out/demo-<env>.txt``, also printed: the result, each step's duration, each fleet's
    totals, each check, and with ``--keep`` how to reach the local AWS still running."""
    lines = [
        f"make demo ENV={context.settings.name}: "
        f"{'PASS' if all(ok for _, ok, _ in checks) else 'FAIL'} "
        f"in {context.progress.elapsed():.1f} s wall",
        "",
        "steps:",
        *(f"  {title:<62} {seconds:6.1f} s" for title, seconds in context.progress.durations),
        "",
        "fleets:",
        *(
            f"  {t.value:<9} enqueued {tr.enqueued:>4}  processed {tr.completed:>4}  "
            f"peak desired {tr.peak_desired:>2}  final {tr.final_desired}/{tr.final_in_service}"
            f"  ({tr.scale_outs} scale-outs, {tr.scale_ins} scale-ins;"
            f" {tr.killed} jobs killed by scale-in; {tr.drained} instances drained)"
            for t, tr in traces.items()
        ),
        "",
        "checks:",
        *(f"  {'PASS' if ok else 'FAIL'}  {name}: {detail}" for name, ok, detail in checks),
    ]
    if state_file is not None:
        lines += [
            "",
            "--keep: the local AWS is still running. Point the tools at it:",
            f'  eval "$(python -m fleetctl.local_aws env --state-file {state_file})"',
            f"  make plan ENV={context.settings.name}",
            f"  python -m fleetctl.local_aws stop --state-file {state_file}   # when done",
        ]
    text = "\n".join(lines) + "\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = out_dir / f"demo-{context.settings.name}.txt"
    summary.write_text(text)
    say("\n" + text + f"(summary: {summary}; report: {out_dir}/report-{context.settings.name}.md)")
