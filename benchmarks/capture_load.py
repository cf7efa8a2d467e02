"""Capture under load: many facilitators saving ideas and votes at once, nothing lost.

Starts the real server (``run.py`` in a subprocess, on a fresh temporary instance),
makes a facilitator account and the sample conversation with the CLI, opens a workshop
with participants who have consented, then drives concurrent clients (several client
processes, each with several threads, each thread signed in with its own session) that
save ideas and votes for a fixed time, as the capture page's script sends them (the
same form fields, answered with JSON; ``--form`` sends them as a browser without the
script does, answered with a redirect). The same client load is then pointed at a bare
waitress "hello" app with the same thread count, to see how much of the plain web
server's throughput engage keeps.

Afterwards it stops the server the hard way (SIGKILL) and checks in the database that
every acknowledged save (a JSON "saved" or a redirect, each sent only after the commit)
is there exactly once. The server runs as ``python run.py`` does by default: a process
per core and one more, up to four.

    python benchmarks/capture_load.py                 # 60 s per measurement
    python benchmarks/capture_load.py --duration 10   # a quick run
    python benchmarks/capture_load.py --form          # saves without the script

Targets on the 2-core reference laptop: p95 < 50 ms, no errors, nothing lost, and at
least 30% of the bare waitress throughput.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing as mp
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import server_support  # noqa: E402 - the tests' way of starting the real server
from server_support import engage_cli, free_port, stop, wait_until_serving  # noqa: E402
from steal import cpu_times  # noqa: E402 - beside this script
from steal import steal as host_steal  # noqa: E402

sys.path.insert(0, str(ROOT))
from engage.serve import DEFAULT_THREADS  # noqa: E402 - the threads run.py serves with

USERNAME = "fay"
PASSWORD = "benchmark password 1"
VOTES = ("agree", "disagree", "unsure")

TARGET_P95_MS = 50.0
TARGET_RATIO = 0.30

BARE_APP = textwrap.dedent(
    """
    import sys
    from waitress import serve

    def app(environ, start_response):
        if environ["REQUEST_METHOD"] == "POST":
            environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        body = b"hello"
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    print("bare: serving", flush=True)
    serve(app, host="127.0.0.1", port=int(sys.argv[1]), threads=int(sys.argv[2]),
          ident="bare")
    """
)


# --- server processes ---------------------------------------------------------------


def start_engage(instance: Path, port: int, threads: int, log: Path,
                 processes: int | None = None) -> subprocess.Popen:
    options = ["--threads", str(threads)]
    if processes:
        options += ["--processes", str(processes)]
    return server_support.start(instance, port, log, *options)


def _start_script(script: Path, port: int, *args, workdir: Path, log: Path) -> subprocess.Popen:
    """``python SCRIPT PORT ARGS...`` in ``workdir``, once it answers on ``port``."""
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, str(script), str(port), *map(str, args)],
                                cwd=workdir, stdout=out, stderr=subprocess.STDOUT)
    wait_until_serving(proc, f"http://127.0.0.1:{port}", log)
    return proc


def start_bare(workdir: Path, port: int, threads: int, log: Path) -> subprocess.Popen:
    script = workdir / "bare_app.py"
    script.write_text(BARE_APP, encoding="utf-8")
    return _start_script(script, port, threads, workdir=workdir, log=log)


def start_reference(workdir: Path, port: int, threads: int, processes: int,
                    log: Path) -> subprocess.Popen:
    """benchmarks/reference_app.py: Flask and one durable insert a request."""
    return _start_script(Path(__file__).resolve().parent / "reference_app.py", port, threads,
                         processes, workdir / "reference.db", workdir=workdir, log=log)


def reference_saved(db_path: Path, acked: list) -> tuple[int, int]:
    """(lost, doubled) among the reference app's acknowledged saves."""
    db = sqlite3.connect(db_path)
    try:
        counts = dict(db.execute("select submission_id, count(*) from saves group by 1"))
    finally:
        db.close()
    lost = sum(counts.get(submission_id, 0) == 0 for _, submission_id, _ in acked)
    doubled = sum(counts.get(submission_id, 0) > 1 for _, submission_id, _ in acked)
    return lost, doubled


def cpu_seconds(pid: int) -> tuple[float, float] | None:
    """User and system CPU time a server has used so far, with its worker processes
    (Linux only; None elsewhere). System time is mostly the kernel's side of sockets and
    of flushing the log to disk."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return None
    tick = os.sysconf("SC_CLK_TCK")
    user, system = int(fields[11]) / tick, int(fields[12]) / tick
    for child in children:
        more = cpu_seconds(int(child)) or (0.0, 0.0)
        user, system = user + more[0], system + more[1]
    return user, system


# --- a signed-in client -------------------------------------------------------------

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def sign_in(base: str) -> tuple[requests.Session, str]:
    """A session signed in as the facilitator, and a CSRF token for its forms."""
    sess = requests.Session()
    page = sess.get(f"{base}/login", timeout=30)
    token = _CSRF.search(page.text).group(1)
    done = sess.post(
        f"{base}/login",
        data={"csrf_token": token, "username": USERNAME, "password": PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    if done.status_code != 302:
        raise RuntimeError(f"sign in failed: {done.status_code}")
    # Signing in starts a new session, so take the token from a page of the new one.
    page = sess.get(f"{base}/workshops/", timeout=30)
    return sess, _CSRF.search(page.text).group(1)


def prepare_workshop(base: str, instance: Path, participants: int) -> dict:
    """Create a workshop run by the facilitator, with consenting participants."""
    ids = json.loads(engage_cli(instance, "demo", "load", "--json"))
    sess, token = sign_in(base)
    made = sess.post(
        f"{base}/workshops/new",
        data={
            "csrf_token": token,
            "conversation_id": ids["conversation_id"],
            "title": "Load test workshop",
            "date": "2026-03-14",
            "postcode_district": "LS6",
            "languages": "en",
            "submission_id": str(uuid.uuid4()),
        },
        allow_redirects=False,
        timeout=30,
    )
    assert made.status_code == 302, made.status_code
    workshop_id = made.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    people = []
    for _ in range(participants):
        added = sess.post(
            f"{base}/workshops/{workshop_id}/participants",
            data={"csrf_token": token, "language": "en", "submission_id": str(uuid.uuid4())},
            allow_redirects=False,
            timeout=30,
        )
        assert added.status_code == 302, added.status_code
        person = added.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        agreed = sess.post(
            f"{base}/workshops/{workshop_id}/participants/{person}/consent",
            data={"csrf_token": token, "consent": "yes", "submission_id": str(uuid.uuid4())},
            allow_redirects=False,
            timeout=30,
        )
        assert agreed.status_code == 302, agreed.status_code
        people.append(person)
    with sqlite3.connect(instance / "engage.db") as db:
        ideas = [
            r[0]
            for r in db.execute(
                "select i.id from ideas i join workshops w on w.conversation_id ="
                " i.conversation_id where w.id = ? order by i.position",
                [workshop_id],
            )
        ]
    return {"workshop_id": workshop_id, "participants": people, "ideas": ideas}


# --- the load generator -------------------------------------------------------------


def _client_thread(n: int, job: dict, signed_in: threading.Barrier, go, out: list) -> None:
    base, mode = job["base"], job["mode"]
    rng = random.Random(f"{job['seed']}-{n}")
    latencies: list[float] = []
    acked: list[tuple[str, str, str | None]] = []  # (kind, submission_id, text)
    errors: dict[str, int] = {}
    sent = 0
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    if not job["form"]:
        # As the capture page's script sends it: the answer is JSON, sent after the commit.
        headers["Accept"] = "application/json"
    if mode == "engage":
        login, token = sign_in(base)
        # Keep the signed-in cookie fixed: a save's redirect is not followed here, so the
        # cookie it sets (which collects the flash messages) is not sent back.
        headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in login.cookies.items())
        login.close()
        workshop_id = job["workshop"]["workshop_id"]
        people = job["workshop"]["participants"]
        ideas = job["workshop"]["ideas"]
        person = people[(job["client_offset"] + n) % len(people)]
        page = f"/workshops/{workshop_id}/participants/{person}"
    # The timed loop uses http.client on a kept-alive connection: requests costs about
    # seven times as much CPU per request, enough to make the clients the bottleneck.
    host, port = urlsplit(base).hostname, urlsplit(base).port
    conn = http.client.HTTPConnection(host, port, timeout=30)
    signed_in.wait()
    go.wait()
    end = time.perf_counter() + job["duration"]
    interval = 1.0 / job["pace"] if job["pace"] else 0.0
    next_at = time.perf_counter() + rng.random() * interval  # spread the clients out
    while time.perf_counter() < end:
        if interval:
            time.sleep(max(0.0, next_at - time.perf_counter()))
            next_at += interval
        submission_id = str(uuid.uuid4())
        if mode == "bare":
            path, data, kind, words = "/", {}, "bare", None
            expected = 200
        elif mode == "reference":  # the body of an idea's save, to a bare durable insert
            kind, words = "reference", f"load test idea {submission_id}"
            path, data = "/", {"csrf_token": "-", "text": words, "language": "en"}
            expected = 200
        elif rng.random() < 0.5:
            kind = "idea"
            words = f"load test idea {submission_id}"
            path = f"{page}/ideas"
            data = {"csrf_token": token, "text": words, "language": "en"}
            expected = 302 if job["form"] else 200
        else:
            kind, words = "vote", None
            path = f"{page}/ideas/{rng.choice(ideas)}/vote"
            data = {"csrf_token": token, "vote": rng.choice(VOTES)}
            expected = 302 if job["form"] else 200
        data["submission_id"] = submission_id
        body = urlencode(data)
        started = time.perf_counter()
        try:
            conn.request("POST", path, body=body, headers=headers)
            answer = conn.getresponse()
            content = answer.read()
            status = answer.status
            if mode != "bare" and status == 200 and b'"saved":true' not in content:
                status = "not saved"
            if answer.will_close:
                conn.close()
        except (OSError, http.client.HTTPException) as error:
            status = type(error).__name__
            conn.close()
        latencies.append(time.perf_counter() - started)
        sent += 1
        if status == expected:
            acked.append((kind, submission_id, words))
        else:
            errors[str(status)] = errors.get(str(status), 0) + 1
    conn.close()
    out.append({"latencies": latencies, "acked": acked, "errors": errors, "sent": sent})


def _client_process(job: dict, ready, results) -> None:
    """One client process: ``job['threads']`` threads, each its own signed-in facilitator."""
    signed_in = threading.Barrier(job["threads"] + 1)
    go = threading.Event()
    out: list = []
    threads = [
        threading.Thread(target=_client_thread, args=(n, job, signed_in, go, out), daemon=True)
        for n in range(job["threads"])
    ]
    for t in threads:
        t.start()
    signed_in.wait(timeout=300)  # this process's clients are signed in...
    ready.wait(timeout=300)  # ...and so are every other process's: go
    cpu0, wall0 = time.process_time(), time.perf_counter()
    go.set()
    for t in threads:
        t.join(timeout=job["duration"] + 120)
    cpu = time.process_time() - cpu0
    wall = time.perf_counter() - wall0
    results.put({"threads": out, "cpu": cpu, "wall": wall})


def drive(base: str, mode: str, args, workshop: dict | None, server_pid: int) -> dict:
    """Run the client load against ``base``; gather latencies, errors, acknowledged saves."""
    ctx = mp.get_context("spawn")
    ready = ctx.Barrier(args.processes + 1)
    results = ctx.Queue()
    per_process = [args.clients // args.processes] * args.processes
    for i in range(args.clients % args.processes):
        per_process[i] += 1
    procs = []
    offset = 0
    for threads in per_process:
        job = {
            "base": base,
            "mode": mode,
            "threads": threads,
            "duration": args.duration,
            "workshop": workshop,
            "client_offset": offset,
            "seed": args.seed,
            "pace": args.pace,
            "form": args.form,
        }
        offset += threads
        p = ctx.Process(target=_client_process, args=(job, ready, results))
        p.start()
        procs.append(p)
    ready.wait(timeout=300)
    started = time.perf_counter()
    cpu_before = cpu_seconds(server_pid)
    machine_before = cpu_times()
    gathered = [results.get(timeout=args.duration + 300) for _ in procs]
    wall = time.perf_counter() - started
    cpu_after = cpu_seconds(server_pid)
    machine_after = cpu_times()
    steal = host_steal(machine_before, machine_after)
    for p in procs:
        p.join(timeout=60)
    threads = [t for g in gathered for t in g["threads"]]
    latencies = sorted(x for t in threads for x in t["latencies"])
    errors: dict[str, int] = {}
    for t in threads:
        for k, v in t["errors"].items():
            errors[k] = errors.get(k, 0) + v
    sent = sum(t["sent"] for t in threads)
    return {
        "mode": mode,
        "sent": sent,
        "rps": sent / args.duration,
        "wall": wall,
        "latencies": latencies,
        "errors": errors,
        "acked": [a for t in threads for a in t["acked"]],
        "client_cpu": [g["cpu"] / g["wall"] for g in gathered],
        "client_threads": len(threads),
        "server_cpu": None if cpu_before is None else sum(cpu_after) - sum(cpu_before),
        "server_sys": None if cpu_before is None else cpu_after[1] - cpu_before[1],
        "steal": steal,
    }


def percentile(sorted_values: list[float], p: float) -> float:
    if not sorted_values:
        return float("nan")
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def describe(result: dict) -> str:
    lat = result["latencies"]
    ms = 1000
    return (
        f"  requests:   {result['sent']} in {result['wall']:.1f} s from "
        f"{result['client_threads']} clients\n"
        f"  throughput: {result['rps']:.1f} requests/s\n"
        f"  latency:    p50 {percentile(lat, 50) * ms:.1f} ms, p95 {percentile(lat, 95) * ms:.1f}"
        f" ms, p99 {percentile(lat, 99) * ms:.1f} ms, mean "
        f"{(statistics.fmean(lat) if lat else 0) * ms:.1f} ms, max "
        f"{(lat[-1] if lat else 0) * ms:.1f} ms\n"
        f"  errors:     {sum(result['errors'].values())} {result['errors'] or ''}\n"
        f"  client CPU: {', '.join(f'{c:.0%}' for c in result['client_cpu'])} of one core per "
        f"client process"
        + (
            f"\n  server CPU: {result['server_cpu'] / result['wall']:.0%} of one core,"
            f" {result['server_cpu'] / max(result['sent'], 1) * 1000:.2f} ms per request"
            f" ({result['server_sys'] / max(result['sent'], 1) * 1000:.2f} ms of it in the"
            f" kernel)"
            if result["server_cpu"] is not None
            else ""
        )
        + f"\n  machine:    load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        + (f"; the host took {result['steal']:.0%} of the CPU time (steal)"
           if result.get("steal") is not None else "")
        if hasattr(os, "getloadavg")
        else ""
    )


# --- the durability check -----------------------------------------------------------


def check_saved(db_path: Path, acked: list) -> dict:
    """Every acknowledged save is in the database exactly once."""
    db = sqlite3.connect(db_path)
    try:
        by_submission = dict(
            db.execute(
                "select submission_id, count(*) from contributions"
                " where submission_id is not null group by submission_id"
            ).fetchall()
        )
        idea_texts = dict(
            db.execute(
                "select text, count(*) from contributions where kind = 'idea'"
                " and text like 'load test idea %' group by text"
            ).fetchall()
        )
        total_rows = db.execute(
            "select count(*) from contributions where submission_id is not null"
        ).fetchone()[0]
    finally:
        db.close()
    lost = doubled = 0
    for kind, submission_id, words in acked:
        counts = [by_submission.get(submission_id, 0)]
        if kind == "idea":
            counts.append(idea_texts.get(words, 0))
        lost += min(counts) == 0
        doubled += max(counts) > 1
    acked_ids = {a[1] for a in acked}
    return {
        "acknowledged": len(acked),
        "acknowledged_ideas": sum(a[0] == "idea" for a in acked),
        "acknowledged_votes": sum(a[0] == "vote" for a in acked),
        "rows_with_submission_id": total_rows,
        "saved_not_acknowledged": sum(1 for s in by_submission if s not in acked_ids),
        "lost": lost,
        "doubled": doubled,
    }


# --- main ---------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds per measurement")
    parser.add_argument("--clients", type=int, default=20, help="concurrent clients")
    parser.add_argument("--processes", type=int, default=2, help="client processes")
    parser.add_argument("--threads", type=int, default=DEFAULT_THREADS,
                        help="server threads per process (both servers; default as run.py)")
    parser.add_argument("--participants", type=int, default=20, help="participants")
    parser.add_argument("--server-processes", type=int,
                        help="engage's server processes (default: run.py's)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--skip-bare", action="store_true", help="do not measure bare waitress")
    parser.add_argument(
        "--reference",
        action="store_true",
        help="also measure Flask with one durable insert a request, served like engage"
        " (benchmarks/reference_app.py)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temporary instance")
    parser.add_argument(
        "--pace",
        type=float,
        default=0.0,
        help="saves per second per client (default 0: each client saves as fast as it can)",
    )
    parser.add_argument(
        "--form",
        action="store_true",
        help="save as a browser without the capture script does (form post, redirect)",
    )
    args = parser.parse_args(argv)

    workdir = Path(tempfile.mkdtemp(prefix="engage-bench-"))
    instance = workdir / "instance"
    log = workdir / "server.log"
    pace = f"{args.pace:g} saves/s each" if args.pace else "each as fast as it can"
    print(f"capture_load: {args.clients} clients ({args.processes} processes, {pace}), "
          f"{args.threads} server threads, {args.duration:g} s; work dir {workdir}", flush=True)

    engage_cli(instance, "users", "add", USERNAME, "--role", "facilitator", stdin=PASSWORD + "\n")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = start_engage(instance, port, args.threads, log, args.server_processes)
    try:
        workshop = prepare_workshop(base, instance, args.participants)
        engage = drive(base, "engage", args, workshop, server.pid)
    finally:
        stop(server, hard=True)  # a hard stop: only what was committed may count
    print("\nengage (save an idea or a vote):")
    print(describe(engage))

    ratio = None
    if not args.skip_bare:
        port = free_port()
        bare_server = start_bare(workdir, port, args.threads, workdir / "bare.log")
        try:
            bare = drive(f"http://127.0.0.1:{port}", "bare", args, None, bare_server.pid)
        finally:
            stop(bare_server)
        print("\nbare waitress (hello):")
        print(describe(bare))
        ratio = engage["rps"] / bare["rps"] if bare["rps"] else 0.0
        print(f"\nengage / bare waitress throughput: {ratio:.1%}")

    if args.reference:
        from engage.serve import default_processes

        port = free_port()
        processes = args.server_processes or default_processes()
        reference_server = start_reference(workdir, port, args.threads, processes,
                                           workdir / "reference.log")
        try:
            reference = drive(f"http://127.0.0.1:{port}", "reference", args, None,
                              reference_server.pid)
        finally:
            stop(reference_server)
        lost, doubled = reference_saved(workdir / "reference.db", reference["acked"])
        print(f"\nreference: Flask and one durable insert a request ({processes} processes):")
        print(describe(reference))
        print(f"  lost: {lost}, doubled: {doubled}")
        if reference["rps"]:
            print(f"\nengage / reference throughput: {engage['rps'] / reference['rps']:.1%}")
        if not args.skip_bare and bare["rps"]:
            print(f"reference / bare waitress throughput: {reference['rps'] / bare['rps']:.1%}")

    saved = check_saved(instance / "engage.db", engage["acked"])
    print(
        f"\nsaves acknowledged: {saved['acknowledged']} ({saved['acknowledged_ideas']} ideas,"
        f" {saved['acknowledged_votes']} votes); rows with a submission id:"
        f" {saved['rows_with_submission_id']}"
    )
    print(f"  lost: {saved['lost']}, doubled: {saved['doubled']}, committed but not"
          f" acknowledged (in flight at the end): {saved['saved_not_acknowledged']}")

    p95 = percentile(engage["latencies"], 95) * 1000
    errors = sum(engage["errors"].values())
    checks = [
        (f"p95 < {TARGET_P95_MS:g} ms", p95 < TARGET_P95_MS, f"{p95:.1f} ms"),
        ("zero errors", errors == 0, str(errors)),
        ("zero lost", saved["lost"] == 0 and saved["doubled"] == 0,
         f"{saved['lost']} lost, {saved['doubled']} doubled"),
    ]
    if ratio is not None and args.pace:
        print("\n(a paced run: both servers get the same fixed load, so the throughput ratio"
              " says nothing and is not a target here)")
    elif ratio is not None:
        checks.append((f"throughput >= {TARGET_RATIO:.0%} of bare waitress",
                       ratio >= TARGET_RATIO, f"{ratio:.1%}"))
    print("\ntargets:")
    for name, met, value in checks:
        print(f"  [{'met' if met else 'MISSED'}] {name}: {value}")
    if not args.keep:
        import shutil

        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if all(met for _, met, _ in checks) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
