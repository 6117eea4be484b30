#!/usr/bin/env python3
"""Reward throughput (issue 16's benchmark): prints one table.

  math / Python batch   reval.rewards.score_batch on MATH-500-shaped items (the gold answers of MATH-500, each
                        answered once right and once wrong, \\boxed{}), with 1 worker (= per core) and with all
  math / HTTP           `reval serve-reward` (OpenRLHF's POST /) with C concurrent clients sending B items each
  code / HumanEval      the 164 canonical solutions through the reward API (sandboxed, judged), runs/s per core
  bare python3          `python3 -c pass` started N times one after another (the floor any code reward pays), and
                        each HumanEval solution+test run by bare python3 with no sandbox

Run from the checkout after building reval and reval_python:
  python3 bench/rewards/rewards_bench.py --build build [--shared /work/shared] [--quick]
Goals (issue 16): >= 50k math rewards/s per core through the batch API, >= 20k/s over HTTP on 2 cores. Numbers
depend on the machine and its load; say which when quoting them.
"""
import argparse
import gzip
import http.client
import json
import os
import re
import subprocess
import sys
import threading
import time


def math_items(shared, n):
    golds = []
    path = os.path.join(shared, "data", "math500", "test.jsonl")
    with open(path, encoding="utf-8") as f:
        for line in f:
            golds.append(json.loads(line)["answer"])
    responses, answers = [], []
    i = 0
    while len(responses) < n:
        g = golds[i % len(golds)]
        if i % 2 == 0:
            responses.append(f"<think>Let me work it out.</think>The answer is $\\boxed{{{g}}}$.")
        else:
            responses.append(f"<think>Let me work it out.</think>The answer is $\\boxed{{{i}}}$.")
        answers.append(g)
        i += 1
    return responses, answers


def bench_python_batch(responses, golds, workers, repeat):
    from reval import rewards
    scorer = rewards.Scorer(None, workers)
    scorer.score_batch("math", responses[:2000], golds[:2000], None, None, None, None, None, False, False)  # warm
    best = 0.0
    stats = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = scorer.score_batch("math", responses, golds, None, None, None, None, None, False, False)
        dt = time.perf_counter() - t0
        best = max(best, len(responses) / dt)
        stats = out["stats"]
    return best, stats


def bench_python_threads(responses, golds, threads, workers):
    """T Python threads each calling score_batch on its share at once (the GIL is released while grading)."""
    from reval import rewards
    scorer = rewards.Scorer(None, workers)
    scorer.score_batch("math", responses[:2000], golds[:2000], None, None, None, None, None, False, False)  # warm
    shares = [(responses[i::threads], golds[i::threads]) for i in range(threads)]
    barrier = threading.Barrier(threads + 1)

    def run(r, g):
        barrier.wait()
        scorer.score_batch("math", r, g, None, None, None, None, None, False, False)

    ts = [threading.Thread(target=run, args=s) for s in shares]
    for t in ts:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    return len(responses) / (time.perf_counter() - t0), scorer.max_concurrent_batches


def bench_python_single(responses, golds, threads, n):
    """T Python threads calling score() one item at a time (graded on the calling thread, GIL released)."""
    from reval import rewards
    scorer = rewards.Scorer(None, 1)
    scorer.score("math", responses[0], golds[0])
    barrier = threading.Barrier(threads + 1)

    def run(k):
        barrier.wait()
        for i in range(k, n, threads):
            scorer.score("math", responses[i], golds[i])

    ts = [threading.Thread(target=run, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in ts:
        t.join()
    return n / (time.perf_counter() - t0)


def bench_http(build, responses, golds, clients, batch, workers, seconds):
    proc = subprocess.Popen([os.path.join(build, "reval"), "serve-reward", "--port", "0", "--workers", str(workers)],
                            stderr=subprocess.PIPE, text=True)
    try:
        port = None
        for line in proc.stderr:
            m = re.search(r"serving rewards on http://127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
                break
        if port is None:
            raise RuntimeError("reval serve-reward did not start")
        prompt = "<|user|>Solve the problem.<|assistant|>"
        bodies = []
        for start in range(0, len(responses) - batch + 1, batch):
            bodies.append(json.dumps({"query": [prompt + r for r in responses[start:start + batch]],
                                      "prompts": [prompt] * batch,
                                      "labels": golds[start:start + batch]}).encode())
        done = [0] * clients
        errors = []
        stop = time.perf_counter() + seconds

        def client(k):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
            j = k
            while time.perf_counter() < stop:
                conn.request("POST", "/", body=bodies[j % len(bodies)], headers={"Content-Type": "application/json"})
                resp = conn.getresponse()
                data = resp.read()
                if resp.status != 200:
                    errors.append(resp.status)
                    time.sleep(0.01)
                    continue
                done[k] += batch
                j += clients
            conn.close()

        # warm-up request
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
        c.request("POST", "/", body=bodies[0], headers={"Content-Type": "application/json"})
        first = json.loads(c.getresponse().read())
        c.close()
        ts = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
        t0 = time.perf_counter()
        for t in ts:
            t.start()
        for t in ts:
            t.join()
        dt = time.perf_counter() - t0
        return sum(done) / dt, len(errors), first["stats"]
    finally:
        proc.terminate()
        proc.wait(timeout=60)


def humaneval(shared):
    with gzip.open(os.path.join(shared, "data", "humaneval", "HumanEval.jsonl.gz"), "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def bench_code(problems, workers):
    from reval import rewards
    scorer = rewards.Scorer(None, workers)
    responses = [p["canonical_solution"] for p in problems]
    fields = [{"prompt": p["prompt"], "test": p["test"], "entry_point": p["entry_point"]} for p in problems]
    scorer.score_batch("code", responses[:4], None, fields[:4], None, None, None, None, False, False)  # warm
    t0 = time.perf_counter()
    out = scorer.score_batch("code", responses, None, fields, None, None, None, None, False, False)
    dt = time.perf_counter() - t0
    return len(problems) / dt, out["stats"]


def bench_bare_python(n):
    t0 = time.perf_counter()
    for _ in range(n):
        subprocess.run([sys.executable, "-c", "pass"], check=True)
    return n / (time.perf_counter() - t0)


def bench_bare_humaneval(problems):
    t0 = time.perf_counter()
    ok = 0
    for p in problems:
        src = p["prompt"] + p["canonical_solution"] + "\n" + p["test"] + f"\ncheck({p['entry_point']})\n"
        ok += subprocess.run([sys.executable, "-c", src], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             timeout=60).returncode == 0
    return len(problems) / (time.perf_counter() - t0), ok


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--build", default="build")
    ap.add_argument("--shared", default=os.environ.get("REVAL_SHARED", "/work/shared"))
    ap.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    ap.add_argument("--skip-code", action="store_true")
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(args.build, "python"))
    import reval
    cores = os.cpu_count() or 1
    n = 20000 if args.quick else 200000
    responses, golds = math_items(args.shared, n)
    print(f"reval {reval.__version__}; {cores} cores; load average {os.getloadavg()[0]:.1f} at start")
    rows = []
    r1, st = bench_python_batch(responses, golds, 1, 3)
    rows.append(("math", "Python score_batch, 1 worker", f"{r1:,.0f} rewards/s", f"{n} items, {st['verdicts']}"))
    ra, _ = bench_python_batch(responses, golds, cores, 3)
    rows.append(("math", f"Python score_batch, {cores} workers", f"{ra:,.0f} rewards/s", f"{n} items"))
    rt, conc = bench_python_threads(responses, golds, 4, cores)
    rows.append(("math", f"4 Python threads x score_batch, {cores} workers", f"{rt:,.0f} rewards/s",
                 f"max concurrent batches {conc}"))
    for threads in (1, cores):
        rs = bench_python_single(responses, golds, threads, min(n, 50000))
        rows.append(("math", f"{threads} Python thread(s) x score(), one item per call", f"{rs:,.0f} rewards/s",
                     "GIL released while grading"))
    for clients, batch in ((4, 1000), (8, 256)):
        rh, errs, _ = bench_http(args.build, responses, golds, clients, batch, cores, 3 if args.quick else 8)
        rows.append(("math", f"HTTP POST /, {clients} clients x {batch} items, {cores} workers",
                     f"{rh:,.0f} rewards/s", f"{errs} non-200"))
    if not args.skip_code:
        problems = humaneval(args.shared)
        if args.quick:
            problems = problems[:40]
        c1, cst = bench_code(problems, 1)
        rows.append(("code", "HumanEval canonical, reward API, 1 worker", f"{c1:,.1f} runs/s",
                     f"{len(problems)} problems, {cst['verdicts']}"))
        ca, _ = bench_code(problems, cores)
        rows.append(("code", f"HumanEval canonical, reward API, {cores} workers", f"{ca:,.1f} runs/s", ""))
        b = bench_bare_python(50 if args.quick else 200)
        rows.append(("code", "bare `python3 -c pass`, sequential", f"{b:,.1f} starts/s", "no sandbox"))
        bh, ok = bench_bare_humaneval(problems)
        rows.append(("code", "bare python3 solution+test, sequential", f"{bh:,.1f} runs/s",
                     f"{ok}/{len(problems)} pass, no sandbox"))
    w = [max(len(r[i]) for r in rows) for i in range(4)]
    for r in rows:
        print("  ".join(r[i].ljust(w[i]) for i in range(4)).rstrip())
    print(f"load average {os.getloadavg()[0]:.1f} at end")


if __name__ == "__main__":
    main()
