"""volley on Ray Data (issue 16): one file job of 20 000 prompts over 4 actors vs the same job in one
process, same fake server and limits.

Run by hand (needs the ``ray`` and ``redis`` extras and redis-server on the PATH)::

    .venv/bin/python bench/ray_jobs.py                          # 20 000 prompts, 4 actors
    .venv/bin/python bench/ray_jobs.py -n 5000 --json /tmp/ray.json

The fake server runs in a process of its own (50 ms latency, 24 000 RPM enforced: 400 per 1 s window),
so its CPU counts in neither run. Both runs pace to the same ``rpm=24000`` with ``max_workers=100``:

- ``one_process``: ``volley.batch_completion`` over the prompts in one process.
- ``ray``: ``volley.ray.run(INPUT.jsonl, OUT/, concurrency=4, limits_url=<Redis>)`` on a local Ray
  (``ray.init(num_cpus=2)``, actors of 0.5 CPU): the limits shared by the 4 actors through Redis.

Figures: wall time of the job (Ray's start-up apart), answers per second, CPU seconds per request (the
process, or the driver and every Ray process under it: GCS, raylet, workers), requests the server
answered 429 (from the rows' attempts), and whether both give the same answers in the same order by id.
Ray's overhead = its CPU per request minus one process's, and its wall time over one process's.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SRC = str(Path(__file__).parents[1] / "src")
KEY = "sk-bench-ray-0123456789"
RPM = 24_000
WORKERS = 100


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int) -> None:
    for _ in range(400):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


def _tree(pid: int) -> dict[int, float]:
    """CPU seconds (user + system) of ``pid`` and of every running process under it, by pid."""
    tick = os.sysconf("SC_CLK_TCK")
    parents: dict[int, int] = {}
    cpu: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        parents[int(entry)] = int(fields[1])
        cpu[int(entry)] = (int(fields[11]) + int(fields[12])) / tick
    out: dict[int, float] = {}
    todo = [pid]
    while todo:
        p = todo.pop()
        if p not in out:
            out[p] = cpu.get(p, 0.0)
            todo += [c for c, parent in parents.items() if parent == p]
    return out


class TreeCPU:
    """CPU used by a process tree while it runs, processes that end meanwhile included (Ray Data stops
    its actors when a dataset is done): samples every ``every`` seconds, keeps each pid's last figure."""

    def __init__(self, pid: int, every: float = 0.2) -> None:
        import threading

        self.pid, self.every = pid, every
        self.start = _tree(pid)
        self.last = dict(self.start)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every):
            self.last.update(_tree(self.pid))

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        self.last.update(_tree(self.pid))
        return sum(v - self.start.get(p, 0.0) for p, v in self.last.items())


# ---------------------------------------------------------------------------- the two runs (child processes)


def one_process(args: argparse.Namespace) -> None:
    import volley
    from volley.ray import read_jsonl

    rows = read_jsonl(args.input)
    prompts = [json.loads(r["messages"]) for r in rows]
    params = {"api_base": args.base, "api_key": KEY, "rpm": RPM, "limits_url": False}
    volley.batch_completion("gpt-4o-mini", prompts[:200], max_workers=20, **{**params, "rpm": None})  # warm
    cpu, t0 = time.process_time(), time.perf_counter()
    out = volley.batch_completion("gpt-4o-mini", prompts, max_workers=WORKERS, **params)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu
    answers = [r.choices[0].message.content if isinstance(r, volley.ModelResponse) else None for r in out]
    Path(args.answers).write_text(json.dumps(list(zip([r["id"] for r in rows], answers))))
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "errors": sum(a is None for a in answers)}), flush=True)


def on_ray(args: argparse.Namespace) -> None:
    import ray

    import volley.ray as vray

    t0 = time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    ray.data.DataContext.get_current().enable_progress_bars = False
    init = time.perf_counter() - t0
    meter, t1 = TreeCPU(os.getpid()), time.perf_counter()
    summary = vray.run(args.input, args.output, "gpt-4o-mini", concurrency=4, batch_size=500, limits_url=args.url,
                       api_base=args.base, api_key=KEY, rpm=RPM, max_workers=WORKERS)  # fmt: skip
    wall = time.perf_counter() - t1
    cpu = meter.stop()
    results = vray.read_results(args.output)
    Path(args.answers).write_text(json.dumps([(r["id"], r["answer"]) for r in results]))
    retried = sum(int(r["attempts"] or 1) - 1 for r in results)
    ray.shutdown()
    print(json.dumps({"wall_s": wall, "cpu_s": cpu, "init_s": init, "summary": summary, "retried": retried}),
          flush=True)  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("-n", type=int, default=20_000)
    p.add_argument("--json", help="also write the figures here")
    p.add_argument("--child", choices=("one", "ray"), help=argparse.SUPPRESS)
    for name in ("--input", "--output", "--answers", "--base", "--url"):
        p.add_argument(name, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        (one_process if args.child == "one" else on_ray)(args)
        return
    work = Path(tempfile.mkdtemp(prefix="volley-ray-bench-"))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")])}
    env.pop("VOLLEY_REDIS_URL", None)
    port, rport = free_port(), free_port()
    fake = subprocess.Popen([sys.executable, "-c", "import sys; from volley.testing._cli import main; "
                             "sys.exit(main(sys.argv[1:]))", "--port", str(port), "--latency", "0.05", "--rpm",
                             str(RPM)], stdout=subprocess.DEVNULL, env=env)  # fmt: skip
    redis = subprocess.Popen([shutil.which("redis-server") or "redis-server", "--port", str(rport), "--bind",
                              "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", str(work)],
                             stdout=subprocess.DEVNULL)  # fmt: skip
    try:
        wait_port(port)
        wait_port(rport)
        source = work / "in.jsonl"
        source.write_text("".join(json.dumps({"custom_id": f"q{i:05d}", "prompt": f"prompt {i}"}) + "\n"
                                  for i in range(args.n)))  # fmt: skip
        cpu = next((ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines()
                    if ln.startswith("model name")), platform.processor())  # fmt: skip
        import ray

        info = {"cpu": cpu, "cores": os.cpu_count(), "python": platform.python_version(), "ray": ray.__version__,
                "date": time.strftime("%Y-%m-%d"), "load_avg_at_start": os.getloadavg()[0],
                "prompts": args.n}  # fmt: skip
        print(json.dumps(info), flush=True)
        common = ["--input", str(source), "--base", f"http://127.0.0.1:{port}/v1"]
        runs = {}
        for name, extra in (("one_process", ["--child", "one"]),
                            ("ray", ["--child", "ray", "--output", str(work / "out"),
                                     "--url", f"redis://127.0.0.1:{rport}/0"])):  # fmt: skip
            answers = work / f"{name}.json"
            out = subprocess.run([sys.executable, __file__, *extra, *common, "--answers", str(answers)],
                                 capture_output=True, text=True, env=env)  # fmt: skip
            if out.returncode:
                sys.exit(f"{name} failed:\n{out.stderr[-4000:]}")
            runs[name] = json.loads(out.stdout.strip().splitlines()[-1])
            runs[name]["answers"] = json.loads(answers.read_text())
            print(name, json.dumps({k: v for k, v in runs[name].items() if k != "answers"}), flush=True)
        one, dist = runs["one_process"], runs["ray"]
        same = one["answers"] == dist["answers"]
        n = args.n
        figures = {
            "machine": info,
            "one_process": {"wall_s": round(one["wall_s"], 2), "answers_per_s": round(n / one["wall_s"]),
                            "cpu_ms_per_request": round(one["cpu_s"] / n * 1e3, 3), "errors": one["errors"]},
            "ray_4_actors": {"wall_s": round(dist["wall_s"], 2), "answers_per_s": round(n / dist["wall_s"]),
                             "cpu_ms_per_request": round(dist["cpu_s"] / n * 1e3, 3),
                             "ray_init_s": round(dist["init_s"], 2), "retried_429": dist["retried"],
                             "summary": dist["summary"]},
            "same_answers_same_order_by_id": same,
            "wall_ratio_ray_over_one": round(dist["wall_s"] / one["wall_s"], 3),
            "ray_overhead_cpu_ms_per_request": round((dist["cpu_s"] - one["cpu_s"]) / n * 1e3, 3),
        }  # fmt: skip
        print(json.dumps({k: v for k, v in figures.items() if k != "machine"}, indent=2), flush=True)
        if args.json:
            Path(args.json).write_text(json.dumps(figures, indent=2))
    finally:
        fake.kill()
        redis.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
