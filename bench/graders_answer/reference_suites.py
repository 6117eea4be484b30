#!/usr/bin/env python3
"""Agreement of reval's math grader with the public test suites of other math graders.

The suites are read from local git mirrors (fetched copies; nothing third-party is stored in this repository):
  * Math-Verify tests/          (huggingface/Math-Verify: pytest parametrize rows gold, pred, expected)
  * MATH is_equiv tests         (hendrycks/math: modeling/math_equivalence_test.py)
  * MARIO_EVAL is_equiv tests   (MARIO-Math-Reasoning/MARIO_EVAL: math_evaluation/tests/test_is_equiv.py)
  * R1-style reward tests       (huggingface/open-r1: tests/test_rewards.py accuracy_reward cases)
Each case becomes one `reval grade --grader math` input line {"response": pred, "gold": [gold]}; a `correct` verdict
counts as "equal". The script prints, per suite, agreement and the false positives (reval equal, reference not) and
false negatives, and with --show lists every disagreement.

  python3 bench/graders_answer/reference_suites.py --reval build/reval [--mirrors /work/.mirror] [--show]

Rows whose expectation needs a non-default Math-Verify option (precision, strict=False, allow_set_relation_comp)
are kept with their expected value: the acceptance counts them like every other row.
"""
import argparse
import ast
import json
import math
import os
import subprocess
import sys
import tempfile


def git_show(mirrors, repo, path):
    git_dir = os.path.join(mirrors, repo.replace("/", "+"), "repo")
    return subprocess.run(["git", "-C", git_dir, "show", "HEAD:" + path], check=True, capture_output=True,
                          text=True).stdout


def ev(node):
    return eval(compile(ast.Expression(node), "<case>", "eval"), {"math": math})


# --------------------------------------------------------------------------------------------------------------------
# Math-Verify: @pytest.mark.parametrize("gold,pred,expected[,extra]", [...]) on functions calling compare_strings or
# verify(parse(gold), parse(pred)); plus literal `assert compare_strings(a, b, ...) == N` statements.
MV_FILES = ["tests/test_all.py", "tests/test_boxed.py", "tests/test_numina_cases.py", "tests/test_open_thoughts.py",
            "tests/test_strict.py", "tests/test_yujianll.py"]


def mv_cases(mirrors):
    out = []
    for path in MV_FILES:
        tree = ast.parse(git_show(mirrors, "huggingface/Math-Verify", path))
        for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            for dec in fn.decorator_list:
                if not (isinstance(dec, ast.Call) and getattr(dec.func, "attr", "") == "parametrize"):
                    continue
                names = [s.strip() for s in ev(dec.args[0]).split(",")]
                if "gold" not in names or "pred" not in names:
                    continue
                exp_name = "expected" if "expected" in names else "result"
                for row in dec.args[1].elts:
                    vals = dict(zip(names, [ev(e) for e in row.elts]))
                    extra = {k: v for k, v in vals.items() if k not in ("gold", "pred", exp_name)}
                    out.append(dict(suite="math_verify", where=f"{path}::{fn.name}", gold=vals["gold"],
                                    pred=vals["pred"], expected=bool(vals[exp_name]), extra=extra))
            for st in ast.walk(fn):
                if isinstance(st, ast.Assert) and isinstance(st.test, ast.Compare):
                    call = st.test.left
                    if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "compare_strings":
                        try:
                            gold, pred = ev(call.args[0]), ev(call.args[1])
                            expected = bool(ev(st.test.comparators[0]))
                        except Exception:
                            continue
                        extra = {k.arg: ev(k.value) for k in call.keywords if k.arg != "match_types"}
                        out.append(dict(suite="math_verify", where=f"{path}::{fn.name}", gold=gold, pred=pred,
                                        expected=expected, extra=extra))
    return out


# --------------------------------------------------------------------------------------------------------------------
# unittest files: a tiny interpreter for `test_in = ...; test_out = ...; self.assertTrue(f(test_in, test_out))`,
# tuples lists `for test_in, test_out in test_pairs:` and `assertFalse(_test_is_not_equiv(...))` (= not equal).
def unittest_cases(source, suite, where_prefix):
    out = []
    tree = ast.parse(source)
    for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name.startswith("test")]:
        env = {}

        def run(stmts, env):
            for st in stmts:
                if isinstance(st, ast.Assign) and len(st.targets) == 1 and isinstance(st.targets[0], ast.Name):
                    try:
                        env[st.targets[0].id] = ev(st.value)
                    except Exception:
                        pass
                elif isinstance(st, ast.For) and isinstance(st.target, ast.Tuple):
                    seq = env.get(getattr(st.iter, "id", ""), [])
                    for pair in seq:
                        inner = dict(env)
                        for t, v in zip(st.target.elts, pair):
                            inner[t.id] = v
                        run(st.body, inner)
                elif isinstance(st, ast.Expr) and isinstance(st.value, ast.Call):
                    call = st.value
                    meth = getattr(call.func, "attr", "")
                    if meth not in ("assertTrue", "assertFalse") or not call.args:
                        continue
                    inner = call.args[0]
                    if not isinstance(inner, ast.Call) or len(inner.args) < 2:
                        continue

                    def val(a):
                        if isinstance(a, ast.Name):
                            return env.get(a.id)
                        return ev(a)

                    a, b = val(inner.args[0]), val(inner.args[1])
                    if a is None or b is None:
                        continue
                    expected = meth == "assertTrue"
                    out.append(dict(suite=suite, where=f"{where_prefix}::{fn.name}", gold=a, pred=b,
                                    expected=expected, extra={}))

        run(fn.body, env)
    return out


def hendrycks_cases(mirrors):
    return unittest_cases(git_show(mirrors, "hendrycks/math", "modeling/math_equivalence_test.py"), "math_is_equiv",
                          "math_equivalence_test.py")


def mario_cases(mirrors):
    return unittest_cases(git_show(mirrors, "MARIO-Math-Reasoning/MARIO_EVAL",
                                   "math_evaluation/tests/test_is_equiv.py"), "mario_eval", "test_is_equiv.py")


# --------------------------------------------------------------------------------------------------------------------
# open-r1: accuracy_reward(completion, solution) tests with an asserted 1.0 / 0.0 reward.
def openr1_cases(mirrors):
    out = []
    tree = ast.parse(git_show(mirrors, "huggingface/open-r1", "tests/test_rewards.py"))
    for fn in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
        env = {}
        calls = []
        for st in fn.body:
            if isinstance(st, ast.Assign) and isinstance(st.targets[0], ast.Name):
                try:
                    env[st.targets[0].id] = ev(st.value)
                except Exception:
                    pass
                v = st.value
                if isinstance(v, ast.Call) and getattr(v.func, "id", "") == "accuracy_reward":
                    calls.append((env.get(v.args[0].id), env.get(v.args[1].id)))
            elif isinstance(st, ast.Expr) and isinstance(st.value, ast.Call) and calls:
                c = st.value
                if getattr(c.func, "attr", "") != "assertEqual" or not isinstance(c.args[0], ast.Subscript):
                    continue
                idx = ev(c.args[0].slice)
                comps, sols = calls[-1]
                try:
                    want = ev(c.args[1])
                except Exception:
                    continue
                if comps is None or idx >= len(comps):
                    continue
                out.append(dict(suite="r1_reward", where=f"open-r1 tests/test_rewards.py::{fn.name}",
                                gold=sols[idx], pred=comps[idx][0]["content"], expected=want == 1.0, extra={}))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reval", default="build/reval")
    ap.add_argument("--mirrors", default="/work/.mirror")
    ap.add_argument("--show", action="store_true", help="list every disagreement")
    ap.add_argument("--suite", default="", help="only this suite")
    ap.add_argument("--dump", default="", help="write the cases as JSONL to this file")
    ap.add_argument("--grader-options", default="")
    args = ap.parse_args()

    cases = []
    for fn in (mv_cases, hendrycks_cases, mario_cases, openr1_cases):
        try:
            cases += fn(args.mirrors)
        except subprocess.CalledProcessError as e:
            print(f"skipping {fn.__name__}: {e.stderr.strip()}", file=sys.stderr)
    if args.suite:
        cases = [c for c in cases if c["suite"] == args.suite]
    if args.dump:
        with open(args.dump, "w") as f:
            for c in cases:
                f.write(json.dumps(c) + "\n")

    with tempfile.NamedTemporaryFile("w", suffix=".jsonl", delete=False) as f:
        for c in cases:
            f.write(json.dumps({"response": c["pred"], "gold": [c["gold"]]}) + "\n")
        name = f.name
    cmd = [args.reval, "grade", "--grader", "math", "--input", name, "--threads", "2"]
    if args.grader_options:
        cmd += ["--grader-options", args.grader_options]
    res = subprocess.run(cmd, capture_output=True, text=True)
    os.unlink(name)
    outs = [json.loads(l) for l in res.stdout.splitlines() if l.strip()]
    if len(outs) != len(cases):
        print(res.stderr, file=sys.stderr)
        sys.exit(f"reval returned {len(outs)} lines for {len(cases)} cases")

    per = {}
    for c, o in zip(cases, outs):
        got = o.get("verdict") == "correct"
        s = per.setdefault(c["suite"], dict(n=0, agree=0, fp=0, fn=0, rows=[]))
        s["n"] += 1
        if got == c["expected"]:
            s["agree"] += 1
        else:
            s["fp" if got else "fn"] += 1
            s["rows"].append((c, o))
    tot = dict(n=0, agree=0, fp=0, fn=0)
    print(f"{'suite':16} {'cases':>6} {'agree':>7} {'agree %':>8} {'false +':>8} {'false -':>8}")
    for name, s in per.items():
        print(f"{name:16} {s['n']:6d} {s['agree']:7d} {100.0 * s['agree'] / s['n']:7.1f}% {s['fp']:8d} {s['fn']:8d}")
        for k in tot:
            tot[k] += s[k]
    print(f"{'all':16} {tot['n']:6d} {tot['agree']:7d} {100.0 * tot['agree'] / max(tot['n'], 1):7.1f}% "
          f"{tot['fp']:8d} {tot['fn']:8d}")
    if args.show:
        for name, s in per.items():
            for c, o in s["rows"]:
                kind = "FALSE+" if o.get("verdict") == "correct" else "FALSE-"
                print(f"\n[{name}] {kind} {c['where']} extra={c['extra']}")
                print("  gold:", c["gold"][:300].replace("\n", "\\n"))
                print("  pred:", c["pred"][-300:].replace("\n", "\\n"))
                d = o.get("details", {})
                print("  verdict:", o.get("verdict"), "| extracted:", o.get("extracted"), "| method:",
                      d.get("method"), "| step:", d.get("step"), "| answer:", str(d.get("answer", ""))[:120])


if __name__ == "__main__":
    main()
