"""The judge of a call-based code problem (graders/code): HumanEval's check() or LiveCodeBench functional tests.

It runs in a sandboxed run of its own and calls the candidate — another run — through a proxy over fd 3; the tests,
the expected values and this process's stdout (where the report goes) are out of the candidate's reach. Every answer
is decoded into plain builtins (reval_rpc), so a candidate can only ever send values. What the candidate sends that
is not a well-formed answer is the candidate's failure; only this judge can report a harness error (judge_error).

judge.json: {"mode": "humaneval" | "functional", "entry": name, "stop_at_first_failure": bool,
             "call_wall_s": s (0: no per-call wall clock), "max_reply_bytes": n, "max_total_bytes": n,
             "tests": [{"input": str, "output": str}] (functional)}; humaneval reads prompt.py and test.py.
Report (one JSON line on the original stdout): {"setup": null | {"outcome", "message"}, "tests": [{"i", "outcome",
"message", "wall_s", "cpu_s"}], "judge_error": null | str}. Outcomes: passed, failed, raised, timeout, unsupported,
gone, bad_reply, too_large (and, for setup, the candidate's compile_error | runtime_error | time_limit).
"""
import builtins
import fcntl
import json
import os
import sys
import time
import traceback

import reval_rpc as rpc

_TERMINAL = ('gone', 'bad_reply', 'too_large', 'timeout')


class CandidateFailed(BaseException):
    """The candidate can no longer answer: the test stops (a BaseException, so `except Exception` in tests can't hide it)."""


class CandidateRaised(Exception):
    """The candidate's function raised; re-raised here as the same builtin exception type where there is one."""


_raised_types = {}


def candidate_exception(name, message):
    base = getattr(builtins, name, None)
    if not (isinstance(base, type) and issubclass(base, Exception)):
        base = Exception
    cls = _raised_types.get(base)
    if cls is None:
        try:
            cls = type('Candidate' + base.__name__, (CandidateRaised, base), {})
        except TypeError:
            cls = CandidateRaised
        _raised_types[base] = cls
    try:
        e = cls(message)
    except Exception:
        e = CandidateRaised(message)
    e.candidate_type = name
    return e


def short(v, n=300):
    s = repr(v)
    return s if len(s) <= n else s[:n] + '...'


class Candidate:
    def __init__(self, spec):
        self.chan = rpc.Channel(3, spec['max_reply_bytes'], spec['max_total_bytes'])
        self.call_wall = spec.get('call_wall_s') or None
        self.failure = None  # (outcome, message) once the candidate can no longer answer

    def _recv(self, timeout):
        try:
            return self.chan.recv(timeout)
        except rpc.Gone as e:
            self.failure = ('gone', 'the candidate ended before answering (%s)' % e)
        except rpc.TooLarge as e:
            self.failure = ('too_large', 'the candidate sent %s' % e)
        except rpc.BadMessage as e:
            self.failure = ('bad_reply', 'the candidate sent a malformed message: %s' % e)
        except rpc.Timeout:
            self.failure = ('timeout', 'no answer within %.1f s of wall time' % (timeout or 0))
        return None

    def hello(self):
        """None when ready, else the setup outcome {"outcome", "message"}."""
        m = self._recv(None)
        if m is None:
            return {'outcome': self.failure[0], 'message': self.failure[1]}
        if m == ['ready']:
            return None
        if type(m) is list and len(m) == 3 and m[0] == 'setup' and m[1] in ('compile_error', 'runtime_error', 'time_limit') \
                and type(m[2]) is str:
            self.failure = (m[1], m[2][:2000])
            return {'outcome': m[1], 'message': m[2][:2000]}
        self.failure = ('bad_reply', 'the candidate sent a malformed hello: ' + short(m))
        return {'outcome': 'bad_reply', 'message': self.failure[1]}

    def call(self, args, kwargs):
        """('value', v, cpu) | ('raised', type, message, cpu) | ('timeout', cpu) | ('unsupported', type, cpu), or a
        terminal (outcome, message) with self.failure set."""
        if self.failure:
            return self.failure
        try:
            request = ['call', rpc.encode(list(args)), {'$dict': [[k, rpc.encode(v)] for k, v in kwargs.items()]}]
        except rpc.Unsupported as e:
            raise RuntimeError('the test passes a value the judge cannot send: %s' % e)
        try:
            self.chan.send(request)
        except rpc.Gone as e:
            self.failure = ('gone', 'the candidate ended before answering (%s)' % e)
            return self.failure
        m = self._recv(self.call_wall)
        if m is None:
            return self.failure
        cpu = lambda x: x if type(x) in (int, float) else None
        if type(m) is list:
            if len(m) == 3 and m[0] == 'value':
                return ('value', m[1], cpu(m[2]))
            if len(m) == 4 and m[0] == 'raised' and type(m[1]) is str and type(m[2]) is str:
                return ('raised', m[1][:100], m[2][:1000], cpu(m[3]))
            if len(m) == 2 and m[0] == 'timeout':
                return ('timeout', cpu(m[1]))
            if len(m) == 3 and m[0] == 'unsupported' and type(m[1]) is str:
                return ('unsupported', m[1][:200], cpu(m[2]))
        self.failure = ('bad_reply', 'the candidate sent a malformed answer: ' + short(m))
        return self.failure


def run_humaneval(spec, cand, report):
    entry = spec['entry']
    g = {'__name__': '__main__'}
    with open('prompt.py') as f:
        prompt = f.read()
    try:
        code = compile(prompt, 'prompt.py', 'exec')
    except SyntaxError:
        code = compile(prompt + '\n    pass\n', 'prompt.py', 'exec')  # a prompt that ends at the signature
    exec(code, g)  # the prompt's imports and helpers (trusted problem text), as the tests may use them

    def proxy(*args, **kwargs):
        r = cand.call(args, kwargs)
        if r[0] == 'value':
            return r[1]
        if r[0] == 'raised':
            raise candidate_exception(r[1], r[2])
        if r[0] in ('timeout', 'unsupported') and not cand.failure:
            cand.failure = (r[0], 'time limit exceeded in a call' if r[0] == 'timeout'
                            else 'the function returned a value of a type the judge does not accept (%s)' % r[1])
        raise CandidateFailed()

    proxy.__name__ = entry
    g[entry] = proxy  # tests that call the entry point by name reach the candidate too
    with open('test.py') as f:
        exec(compile(f.read(), 'test.py', 'exec'), g)
    if not callable(g.get('check')):
        raise RuntimeError('the test code defines no check()')
    setup = cand.hello()
    if setup:
        report['setup'] = setup
        return
    rec = {'i': 0}
    t0 = time.monotonic()
    try:
        g['check'](proxy)
        rec['outcome'] = 'passed'
    except CandidateFailed:
        pass
    except AssertionError as e:
        rec['outcome'] = 'failed'
        rec['message'] = ('assertion failed: ' + str(e))[:500] if str(e) else 'assertion failed'
    except CandidateRaised as e:
        rec['outcome'] = 'raised'
        rec['message'] = (getattr(e, 'candidate_type', 'Exception') + ': ' + str(e))[:500]
    except BaseException as e:
        # The test itself choked on what the candidate returned (e.g. len(None)): a failed test.
        rec['outcome'] = 'failed'
        rec['message'] = ('the test raised %s: %s' % (type(e).__name__, e))[:500]
    if cand.failure:  # whatever the test did with it, a candidate that stopped answering failed
        rec['outcome'], rec['message'] = cand.failure[0], cand.failure[1]
    if rec['outcome'] == 'unsupported':
        rec['outcome'] = 'failed'
    rec['wall_s'] = time.monotonic() - t0
    report['tests'].append(rec)


def run_functional(spec, cand, report):
    setup = cand.hello()
    if setup:
        report['setup'] = setup
        return
    for i, t in enumerate(spec['tests']):
        args = [json.loads(line) for line in t['input'].split('\n') if line.strip()]
        expected = json.loads(t['output'])
        t0 = time.monotonic()
        r = cand.call(args, {})
        rec = {'i': i, 'wall_s': time.monotonic() - t0}
        if r[0] == 'value':
            got = list(r[1]) if type(r[1]) is tuple else r[1]  # LiveCodeBench: a tuple answers a list
            try:
                same = got == expected
            except RecursionError:
                same = False
            rec['outcome'] = 'passed' if same else 'failed'
            if not same:
                rec['message'] = 'got %s, expected %s' % (short(got), short(expected))
            rec['cpu_s'] = r[2]
        elif r[0] == 'raised':
            rec.update(outcome='raised', message=(r[1] + ': ' + r[2])[:500], cpu_s=r[3])
        elif r[0] == 'timeout' and len(r) == 2 and not cand.failure:
            rec.update(outcome='timeout', message='time limit exceeded', cpu_s=r[1])
        elif r[0] == 'unsupported':
            rec.update(outcome='failed', message='returned a value of a type the judge does not accept (%s)' % r[1])
        else:
            rec.update(outcome=r[0], message=r[1])
        report['tests'].append(rec)
        if cand.failure:
            break
        if rec['outcome'] != 'passed' and spec['stop_at_first_failure']:
            break


def main():
    report_fd = fcntl.fcntl(1, fcntl.F_DUPFD_CLOEXEC, 10)
    os.dup2(2, 1)  # whatever the test code prints goes to stderr; the report has fd `report_fd` to itself
    report = {'setup': None, 'tests': [], 'judge_error': None}
    cand = None
    try:
        with open('judge.json') as f:
            spec = json.load(f)
        cand = Candidate(spec)
        if spec['mode'] == 'humaneval':
            run_humaneval(spec, cand, report)
        else:
            run_functional(spec, cand, report)
    except BaseException:
        report['judge_error'] = traceback.format_exc()[-3000:]
    if cand is not None:
        cand.chan.close()
    os.write(report_fd, (json.dumps(report) + '\n').encode('utf-8'))


if __name__ == '__main__':
    main()
