"""reval.rewards from the build tree: verl's compute_score (routing by data source, missing rewards as NaN), TRL
reward callables (plain and conversational completions, the gold from a dataset column, format and language
rewards), the batch API (columns, missing rewards as None, options), concurrency (N Python threads calling
score_batch at once are inside the C++ core together: the GIL is released), and the same verdicts as the CLI
`reval grade` on tests/graders/data/reward_equivalence.jsonl. Run by ctest (python_rewards_test), which sets
PYTHONPATH to <build>/python, REVAL_BINARY and REVAL_VERSION."""
import json
import math
import os
import subprocess
import tempfile
import threading
import unittest

import reval
from reval import rewards

SOURCE_DIR = os.environ.get("REVAL_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
EQUIVALENCE = os.path.join(SOURCE_DIR, "tests", "graders", "data", "reward_equivalence.jsonl")

rewards.configure(workers=2)


class Module(unittest.TestCase):
    def test_version_is_revals(self):
        self.assertEqual(reval.__version__, os.environ.get("REVAL_VERSION", reval.__version__))
        self.assertRegex(reval.__version__, r"^\d+\.\d+\.\d+$")

    def test_routes(self):
        self.assertEqual(rewards.route("HuggingFaceH4/MATH-500")["grader"], "math")
        self.assertEqual(rewards.route("aime24")["grader"], "math")
        self.assertEqual(rewards.route("gpqa_diamond")["grader"], "choice")
        self.assertEqual(rewards.route("livecodebench")["grader"], "code")
        with self.assertRaisesRegex(ValueError, "no_such_source"):
            rewards.route("no_such_source")


class Verl(unittest.TestCase):
    def test_math_sources(self):
        for source in ("HuggingFaceH4/MATH-500", "aime24", "openai/gsm8k", "math"):
            r = rewards.compute_score(source, "<think>3*4</think> so \\boxed{12}", "12")
            self.assertEqual(r["score"], 1.0, source)
            self.assertEqual(r["acc"], 1.0)
            self.assertEqual(r["pred"], "12")
            self.assertEqual(r["verdict"], "correct")
            self.assertFalse(r["missing"])
            w = rewards.compute_score(source, "\\boxed{13}", "12")
            self.assertEqual(w["score"], 0.0, source)
            self.assertEqual(w["verdict"], "wrong")

    def test_gsm8k_ground_truth_and_numbers(self):
        self.assertEqual(rewards.compute_score("openai/gsm8k", "Answer: 1,000", 1000)["score"], 1.0)

    def test_choice_source(self):
        self.assertEqual(rewards.compute_score("gpqa_diamond", "Answer: C", "C")["score"], 1.0)
        self.assertEqual(rewards.compute_score("gpqa_diamond", "Answer: A", "C")["score"], 0.0)

    def test_code_source_with_apps_style_tests(self):
        gt = json.dumps({"inputs": ["1 2\n", "3 4\n"], "outputs": ["3\n", "7\n"]})
        good = "```python\na, b = map(int, input().split())\nprint(a + b)\n```"
        bad = "```python\na, b = map(int, input().split())\nprint(a * b)\n```"
        self.assertEqual(rewards.compute_score("livecodebench", good, gt)["score"], 1.0)
        self.assertEqual(rewards.compute_score("livecodebench", bad, gt)["score"], 0.0)

    def test_unknown_source_is_a_clear_error(self):
        with self.assertRaisesRegex(ValueError, "my/dataset"):
            rewards.compute_score("my/dataset", "\\boxed{1}", "1")

    def test_composite_reward_components(self):
        r = rewards.compute_score("math", "<think>easy</think>\\boxed{2}", "2", format_weight=0.5)
        self.assertEqual(r["format"], 1.0)
        self.assertEqual(r["score"], 1.5)
        r = rewards.compute_score("math", "no think \\boxed{2}", "2", format_weight=0.5)
        self.assertEqual(r["format"], 0.0)
        self.assertEqual(r["score"], 1.0)

    def test_unreadable_ground_truth_in_a_batch_is_missing_not_zero(self):
        out = rewards.compute_score_batch(["math", "livecodebench"], ["\\boxed{1}", "print(1)"],
                                          ["1", {"not": "tests"}])
        self.assertEqual(out[0]["score"], 1.0)
        self.assertTrue(math.isnan(out[1]["score"]))
        self.assertTrue(out[1]["missing"])
        self.assertEqual(out[1]["missing_reason"], "infra_error")
        self.assertIn("tests", out[1]["error"])

    def test_loaded_by_file_path_as_verl_does(self):
        # verl's custom_reward_function loads a file with spec_from_file_location, outside any package.
        import importlib.util
        spec = importlib.util.spec_from_file_location("custom_module", rewards.__file__)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        self.assertEqual(module.compute_score("aime24", "\\boxed{7}", "7")["score"], 1.0)

    def test_missing_score_can_be_chosen(self):
        out = rewards.compute_score_batch(["livecodebench"], ["print(1)"], [{"not": "tests"}], missing_score=-1.0)
        self.assertEqual(out[0]["score"], -1.0)


class Trl(unittest.TestCase):
    def test_math_reward_plain_and_conversational(self):
        plain = rewards.math_reward(prompts=["What is 1+1?", "What is 2+2?"],
                                    completions=["\\boxed{2}", "\\boxed{5}"], solution=["2", "4"])
        self.assertEqual(plain, [1.0, 0.0])
        conv = rewards.math_reward(
            prompts=[[{"role": "user", "content": "1+1?"}]] * 2,
            completions=[[{"role": "assistant", "content": "<think>x</think>\\boxed{2}"}],
                         [{"role": "assistant", "content": [{"type": "text", "text": "\\boxed{3}"}]}]],
            answer=["2", "2"])
        self.assertEqual(conv, [1.0, 0.0])

    def test_gold_column_by_name_and_missing_column(self):
        f = rewards.make_reward("math", column="target")
        self.assertEqual(f(completions=["\\boxed{7}"], target=["7"], answer=["8"]), [1.0])
        with self.assertRaisesRegex(ValueError, "gold column"):
            rewards.math_reward(completions=["\\boxed{7}"], other=["7"])

    def test_missing_reward_is_none(self):
        f = rewards.make_reward("livecodebench")
        self.assertEqual(f(completions=["print(1)"], ground_truth=[{"bogus": 1}]), [None])

    def test_format_and_language_rewards(self):
        comps = ["<think>reasoning</think>\\boxed{1}", "\\boxed{1}", "reasoning</think>Answer: 1"]
        self.assertEqual(rewards.format_reward(completions=comps), [1.0, 0.0, 1.0])
        # A prompt that prefilled <think>: the completion holds only the closing tag.
        self.assertEqual(rewards.format_reward(prompts=["Q <think>\n"], completions=["r</think>\\boxed{1}"]), [1.0])
        lang = rewards.language_reward(completions=["<think>we add the numbers</think>\\boxed{2}",
                                                    "<think>我们把数字相加</think>\\boxed{2}"], language="en")
        self.assertEqual(lang[0], 1.0)
        self.assertEqual(lang[1], 0.0)
        zh = rewards.make_language_reward("zh")
        self.assertEqual(zh(completions=["<think>我们把数字相加</think>"]), [1.0])
        with self.assertRaises(ValueError):
            rewards.make_language_reward("klingon")


class Batch(unittest.TestCase):
    def test_columns(self):
        out = rewards.score_batch(["\\boxed{1}", "\\boxed{2}", "nothing"], golds=["1", "3", "4"])
        self.assertEqual(out["rewards"], [1.0, 0.0, 0.0])
        self.assertEqual(out["verdicts"], ["correct", "wrong", "no_answer"])
        self.assertEqual(out["extracted"][:2], ["1", "2"])
        self.assertEqual(out["missing"], [None, None, None])
        self.assertEqual(out["stats"]["items"], 3)
        self.assertEqual(out["stats"]["missing"], 0)

    def test_missing_rewards_are_none_and_counted(self):
        out = rewards.score_batch(["print(1)", "\\boxed{1}"], golds=[None, "1"], source=["code", "math"],
                                  fields=[{"tests": "not a list"}, None])
        self.assertIsNone(out["rewards"][0])
        self.assertEqual(out["verdicts"][0], "infra_error")
        self.assertEqual(out["rewards"][1], 1.0)
        self.assertEqual(out["stats"]["missing"], 1)
        self.assertEqual(out["stats"]["infra_errors"], 1)

    def test_length_penalty_option(self):
        out = rewards.score_batch(["\\boxed{1}"] * 2, golds="1", lengths=[10, 200], max_length=100)
        self.assertEqual(out["rewards"], [1.0, 0.0])
        self.assertEqual(out["length"], [0.0, -1.0])

    def test_bad_arguments(self):
        with self.assertRaisesRegex(ValueError, "golds"):
            rewards.score_batch(["a", "b"], golds=["1"])
        with self.assertRaises(TypeError):
            rewards.score_batch(["a"], golds="1", no_such_option=1)
        with self.assertRaisesRegex(ValueError, "format_weigth"):
            rewards.score_batch(["a"], golds="1", options={"format_weigth": 1})

    def test_threads_grade_concurrently(self):
        # Each batch holds one code item that sleeps 0.4 s inside the sandbox. If score_batch kept the GIL, no two
        # Python threads could be inside the C++ core at once and max_concurrent_batches would stay 1.
        scorer = rewards.Scorer(None, 4)
        program = "```python\nimport time\ntime.sleep(0.4)\nprint(int(input()) * 2)\n```"
        fields = {"tests": [{"input": "21\n", "output": "42\n"}], "time_limit": 10}
        results = []
        for _attempt in range(5):
            start = threading.Barrier(4)

            def worker():
                start.wait()
                out = scorer.score_batch("code", [program], None, fields, None, None, None, None, False, False)
                results.append(out["rewards"][0])

            threads = [threading.Thread(target=worker) for _ in range(4)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            if scorer.max_concurrent_batches >= 2:
                break
        self.assertTrue(all(r == 1.0 for r in results), results)
        self.assertGreaterEqual(scorer.max_concurrent_batches, 2)


class SameVerdictsAsTheCli(unittest.TestCase):
    def test_reward_equivalence_table(self):
        binary = os.environ.get("REVAL_BINARY")
        if not binary or not os.path.exists(binary):
            self.skipTest("the reval binary is not built")
        rows = [json.loads(line) for line in open(EQUIVALENCE, encoding="utf-8") if line.strip()]
        self.assertGreaterEqual(len(rows), 10)
        for grader in ("math", "choice", "code"):
            subset = [r for r in rows if r["grader"] == grader]
            self.assertTrue(subset, grader)
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "in.jsonl")
                with open(path, "w", encoding="utf-8") as f:
                    for r in subset:
                        f.write(json.dumps(r) + "\n")
                cli = subprocess.run([binary, "grade", "--grader", grader, "--threads", "2", "--input", path],
                                     capture_output=True, text=True, check=True)
            cli_verdicts = [json.loads(line)["verdict"] for line in cli.stdout.splitlines() if line.strip()]
            fields = [{k: v for k, v in r.items() if k not in ("response", "gold")} for r in subset]
            out = rewards.score_batch([r["response"] for r in subset], golds=[r.get("gold") for r in subset],
                                      source=grader, fields=fields)
            for r, c, p, rew in zip(subset, cli_verdicts, out["verdicts"], out["rewards"]):
                self.assertEqual(c, r["expect"], r["case"])
                self.assertEqual(p, c, r["case"])
                self.assertEqual(rew, 1.0 if c == "correct" else 0.0, r["case"])


if __name__ == "__main__":
    unittest.main()
