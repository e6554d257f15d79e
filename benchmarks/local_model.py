"""Local model benchmark: the bundled model's tokens/s in the browser, against raw llama-cpp-python.

It prints numbers and asserts nothing. Two parts:

    .venv/bin/python benchmarks/local_model.py raw [--model PATH] [--runs N]
        llama-cpp-python in this process, no app: each answer's decode rate, (tokens - 1) / (last token -
        first token), and its time to first token. Any Python with llama_cpp installed can run it, so two
        builds (portable and native, say) are compared on one machine by running it with each interpreter.

    .venv/bin/python benchmarks/local_model.py app [--runs N]     (`make benchmark-local` runs both)
        The real app out of the box (`reflex run --env prod`, no provider variable), driven by headless
        Chromium. A MutationObserver in the page times every change of the answer's text; the rate is
        (tokens - 1) / (last change - first change), with the token count the model reported (the monitor's).

Both ask the same questions with the app's default settings (the system prompt, llama.cpp's sampling, at most
512 tokens), so the answers are of the same kind and length.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = [
    "Write a long story about a dragon who learns to bake bread.",
    "Explain in detail how a steam engine works.",
    "Describe a walk through a busy market in the morning, in many details.",
]
SYSTEM_PROMPT = "You are a helpful, concise assistant."
MAX_TOKENS = 512
CONTEXT_TOKENS = 2048

OBSERVER_JS = """
(() => {
  const bench = (window.__bench = { changes: [], length: 0 });
  const messages = document.querySelector('#messages');
  new MutationObserver(() => {
    const bubbles = messages.querySelectorAll('.cf-assistant');
    const last = bubbles[bubbles.length - 1];
    const length = last ? last.innerText.length : 0;
    if (length !== bench.length) {
      bench.length = length;
      bench.changes.push(performance.now());
    }
  }).observe(messages, { childList: true, subtree: true, characterData: true });
})();
"""


def summary(name: str, rates: list[float], ttfts: list[float], tokens: list[int]) -> None:
    print(
        f"{name}: {statistics.median(rates):.1f} tokens/s median over {len(rates)} answers "
        f"(min {min(rates):.1f}, max {max(rates):.1f}); "
        f"time to first token median {statistics.median(ttfts):.0f} ms; "
        f"answers of {min(tokens)}-{max(tokens)} tokens"
    )


def bench_raw(model_path: str | None, runs: int, threads: int) -> None:
    import llama_cpp

    if model_path is None:
        from chatapp.providers.local.paths import bundled_model_path

        model_path = bundled_model_path()
    print(llama_cpp.llama_print_system_info().decode().strip())
    print(f"{threads} threads")
    llama = llama_cpp.Llama(model_path=model_path, n_ctx=CONTEXT_TOKENS, n_threads=threads, verbose=False)
    rates, ttfts, counts = [], [], []
    for run in range(runs):
        question = QUESTIONS[run % len(QUESTIONS)]
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": question}]
        started = time.perf_counter()
        stamps = []
        for chunk in llama.create_chat_completion(messages=messages, stream=True, max_tokens=MAX_TOKENS):
            if chunk["choices"][0]["delta"].get("content"):
                stamps.append(time.perf_counter())
        if len(stamps) > 1:
            rates.append((len(stamps) - 1) / (stamps[-1] - stamps[0]))
            ttfts.append((stamps[0] - started) * 1000)
            counts.append(len(stamps))
    summary("raw llama-cpp-python", rates, ttfts, counts)


def bench_app(runs: int, threads: int) -> None:
    from playwright.sync_api import expect, sync_playwright

    sys.path.insert(0, str(ROOT))
    from tests.e2e.appserver import CHROMIUM_ARGS, running_app

    rates, ttfts, counts = [], [], []
    env = {"CHATAPP_LOCAL_THREADS": str(threads)}  # the default, unless --threads says otherwise
    print(f"{threads} threads")
    workdir = Path(tempfile.mkdtemp(prefix="bench-local-"))
    with running_app(workdir, env) as url, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page()
        page.goto(url)
        page.wait_for_selector("#chat-input")
        for run in range(runs):
            page.locator("#new-chat").click()
            expect(page.locator("#messages .cf-assistant")).to_have_count(0)
            page.evaluate(OBSERVER_JS)
            page.fill("#chat-input", QUESTIONS[run % len(QUESTIONS)])
            sent = page.evaluate("performance.now()")
            page.keyboard.press("Enter")
            expect(page.locator("#messages .cf-summary")).to_have_count(1, timeout=120_000)
            expect(page.locator("#monitor-status")).to_have_text("done")
            changes = page.evaluate("window.__bench.changes")
            tokens = int(page.locator("#monitor [data-stat=completion_reported]").inner_text())
            # The app names a new conversation after its first answer, with the same model: let it finish,
            # so the next question doesn't wait behind it.
            expect(page.locator("#event-log [data-kind=labelled]")).to_have_count(1, timeout=60_000)
            if len(changes) > 1 and tokens > 1:
                rates.append((tokens - 1) / ((changes[-1] - changes[0]) / 1000))
                ttfts.append(changes[0] - sent)
                counts.append(tokens)
        browser.close()
    summary("the app, as the browser receives it", rates, ttfts, counts)
    print("(time to first token here is from the Enter key to the first painted text)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("part", choices=["raw", "app"])
    parser.add_argument("--model")
    parser.add_argument("--runs", type=int, default=6)
    # The app's model process uses half the cores unless CHATAPP_LOCAL_THREADS says otherwise.
    parser.add_argument("--threads", type=int, default=max((os.cpu_count() or 2) // 2, 1))
    args = parser.parse_args()
    if args.part == "raw":
        bench_raw(args.model, args.runs, args.threads)
    else:
        bench_app(args.runs, args.threads)


if __name__ == "__main__":
    main()
