"""The candidate's side of a judged run (graders/code): loads the solution, then answers the judge's calls on fd 3.

Nothing here is trusted: the candidate's code runs in this process and may change any of it. This is only the honest
way to answer; the judge — another sandboxed run — accepts nothing but well-formed messages holding plain values, and
it alone decides. Messages sent: ["ready"], ["setup", "compile_error" | "runtime_error" | "time_limit", message],
then one reply per call: ["value", value, cpu_s], ["raised", exception type, message, cpu_s], ["timeout", cpu_s] or
["unsupported", type name, cpu_s]. Calls received: ["call", [args...], {kwargs}].
candidate.json: {"entry": name, "class": bool (LiveCodeBench: Solution().entry first), "call_time_limit": s (0: none)}.
"""
import json
import os
import signal
import sys
import time

import reval_rpc as rpc


class _Timeout(BaseException):
    pass


def _on_timer(signum, frame):
    raise _Timeout()


def _short(e):
    return (type(e).__name__ + ': ' + str(e))[:1000]


def main():
    with open('candidate.json') as f:
        spec = json.load(f)
    chan = rpc.Channel(3)
    limit = float(spec.get('call_time_limit') or 0)

    def arm(on):
        # CPU time per call (ITIMER_PROF), and a wall-clock backstop for calls that sleep or block.
        if limit > 0:
            signal.setitimer(signal.ITIMER_PROF, limit if on else 0)
            signal.setitimer(signal.ITIMER_REAL, 2 * limit + 1 if on else 0)

    signal.signal(signal.SIGPROF, _on_timer)
    signal.signal(signal.SIGALRM, _on_timer)
    sys.stdin = open(os.devnull)
    try:
        with open('solution.py') as f:
            code = compile(f.read(), 'solution.py', 'exec')
    except (SyntaxError, ValueError) as e:
        chan.send(['setup', 'compile_error', _short(e)])
        return
    ns = {'__name__': 'solution'}
    entry = spec['entry']
    try:
        arm(True)
        exec(code, ns)
        fn = None
        if spec.get('class') and 'Solution' in ns:
            fn = getattr(ns['Solution'](), entry, None)
        if fn is None:
            fn = ns.get(entry)
        arm(False)
    except _Timeout:
        arm(False)
        chan.send(['setup', 'time_limit', 'time limit exceeded while loading the solution'])
        return
    except BaseException as e:
        arm(False)
        chan.send(['setup', 'runtime_error', _short(e)])
        return
    if not callable(fn):
        chan.send(['setup', 'runtime_error', 'missing entry point ' + entry])
        return
    chan.send(['ready'])
    while True:
        try:
            message = chan.recv()
        except rpc.Gone:
            return
        args, kwargs = message[1], message[2]
        t0 = time.process_time()
        try:
            arm(True)
            got = fn(*args, **kwargs)
            arm(False)
        except _Timeout:
            arm(False)
            chan.send(['timeout', time.process_time() - t0])
            continue
        except BaseException as e:
            arm(False)
            chan.send(['raised', type(e).__name__, str(e)[:1000], time.process_time() - t0])
            continue
        dt = time.process_time() - t0
        try:
            value = rpc.encode(got)
        except rpc.Unsupported as e:
            chan.send(['unsupported', str(e)[:200], dt])
            continue
        chan.send(['value', value, dt])


if __name__ == '__main__':
    main()
