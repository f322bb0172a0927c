"""Tool-call latency through the HTTP API, against plain ``transformers.generate`` (issue 7).

1. Starts ``tooltune serve --model M`` (or uses ``--url``), replays the tool-call turns of an
   eval.jsonl one client at a time (streaming), and prints p50/p95 per turn (single-call turns
   and all tool-call turns), client-side time to first token, prefill and decode tokens/s.
2. Times plain ``transformers.generate`` (float32, greedy) on the same prompts in this process,
   while the server idles, and prints the ratio.
3. 8 concurrent clients against one client on the same turns: requests/s as a ratio. A
   crossover over two disjoint sets: 8 clients on a second set, then on the first set again, and
   one client on the second set again, so each side has one set new to the server and one
   replayed (the server drafts from its recent outputs: a turn it has answered comes back faster).
4. Prints the server's resident memory (current and peak).

Data: a run's held-out split (``runs/demo/data/eval.jsonl``: 323 tool-call turns), or the eval
split of ``tooltune data generate --tools taskapi --n 1000 --seed 1 --out /tmp/lat``.

    python bench/latency.py --model runs/demo --data runs/demo/data/eval.jsonl --turns 40
    python bench/latency.py --model runs/demo --data runs/demo/data/eval.jsonl --turns 40 --quantize int8
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

DEFAULT_RUN = Path("/work/runs/default")


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def load_turns(path: Path, limit: int | None) -> list[dict[str, Any]]:
    """Every assistant turn that makes tool calls: the request before it and the expected calls."""
    from tooltune.core.types import Conversation

    turns = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        conv = Conversation.model_validate_json(line)
        for i, m in enumerate(conv.messages):
            if m.role == "assistant" and m.tool_calls:
                turns.append({"messages": conv.messages[:i], "tools": conv.tools, "expected": m.tool_calls})
    return turns[:limit] if limit else turns


def calls_match(got: list[tuple[str, Any]], expected: list[Any]) -> bool:
    want = [(c.function.name, json.loads(c.function.arguments or "{}")) for c in expected]
    return sorted(map(json.dumps, got)) == sorted(map(json.dumps, want))


def payload(turn: dict[str, Any], model: str, max_tokens: int, tool_choice: str, stream: bool) -> dict[str, Any]:
    body = {"model": model, "messages": [m.to_openai() for m in turn["messages"]],
            "tools": [t.model_dump() for t in turn["tools"]], "tool_choice": tool_choice,
            "max_tokens": max_tokens, "temperature": 0, "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}
    return body


def stream_turn(client: Any, url: str, body: dict[str, Any]) -> dict[str, Any]:
    """One streamed request: total time, time to first content/tool-call delta, usage, calls."""
    t0 = time.perf_counter()
    first = None
    usage: dict[str, Any] = {}
    calls: dict[int, dict[str, str]] = {}
    with client.stream("POST", url + "/v1/chat/completions", json=body) as resp:
        if resp.status_code != 200:
            raise RuntimeError(f"HTTP {resp.status_code}: {resp.read()[:300]!r}")
        for line in resp.iter_lines():
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            chunk = json.loads(line[6:])
            if chunk.get("usage"):
                usage = chunk["usage"]
            for choice in chunk.get("choices", []):
                delta = choice.get("delta", {})
                if first is None and (delta.get("content") or delta.get("tool_calls")):
                    first = time.perf_counter() - t0
                for tc in delta.get("tool_calls") or []:
                    slot = calls.setdefault(tc["index"], {"name": "", "arguments": ""})
                    fn = tc.get("function") or {}
                    slot["name"] += fn.get("name") or ""
                    slot["arguments"] += fn.get("arguments") or ""
    total = time.perf_counter() - t0
    got = []
    for c in calls.values():
        try:
            got.append((c["name"], json.loads(c["arguments"] or "{}")))
        except json.JSONDecodeError:
            got.append((c["name"], c["arguments"]))
    return {"total": total, "ttft": first if first is not None else total, "usage": usage, "calls": got}


def run_clients(n: int, clients: int, handle: Callable[[int], None]) -> float:
    """Wall time of ``clients`` threads that take the items 0..n-1 in order from one queue and pass
    each to ``handle`` on the thread that took it."""
    lock = threading.Lock()
    queue = list(range(n))

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                i = queue.pop(0)
            handle(i)

    start = time.perf_counter()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - start


def in_process_parser(doc: str, turns: int) -> argparse.ArgumentParser:
    """The options of the in-process crossover benches (``concurrency.py``, ``bf16_head.py``)."""
    ap = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", required=True, help="run dir, model dir or embedded name")
    ap.add_argument("--data", type=Path, required=True, help="eval.jsonl with tool-call turns")
    ap.add_argument("--turns", type=int, default=turns, help="turns per set (two sets, after the warm-up)")
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    return ap


def crossover_sets(data: Path, per_set: int, warmup: int) -> tuple[list[Any], list[Any], list[Any]] | None:
    """(warm-up turns, set A, set B) of ``data``'s tool-call turns; None, after an error line, when
    it has too few."""
    turns = load_turns(data, None)
    if len(turns) < warmup + 2 * per_set:
        print(f"error: {data} has {len(turns)} tool-call turns; {warmup} warm-up and two sets of "
              f"{per_set} need {warmup + 2 * per_set} (lower --turns)", file=sys.stderr)
        return None
    return turns[:warmup], turns[warmup:warmup + per_set], turns[warmup + per_set:warmup + 2 * per_set]


def rss_mb(pid: int) -> tuple[float, float]:
    """(current, peak) resident set size of a process in MB."""
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(model: str, quantize: str, backend: str, port: int, extra: list[str]) -> subprocess.Popen:
    exe = Path(sys.executable).parent / "tooltune"
    cmd = [str(exe) if exe.exists() else "tooltune", "serve", "--model", f"bench={model}", "--port", str(port),
           "--backend", backend, *(["--quantize", quantize] if backend == "transformers" else []), *extra]
    print("starting:", " ".join(cmd), file=sys.stderr)
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=open("/tmp/tooltune-bench-server.log", "w"))


def wait_ready(client: Any, url: str, proc: subprocess.Popen | None, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError("server exited; see /tmp/tooltune-bench-server.log")
        try:
            if client.get(url + "/health").status_code == 200:
                return
        except Exception:
            pass
        time.sleep(0.5)
    raise RuntimeError("server did not become ready")


def baseline_generate(model_spec: str, turns: list[dict[str, Any]], max_tokens: int) -> list[dict[str, Any]]:
    """Plain transformers.generate, float32, greedy, no prefix cache, no constraint."""
    import torch

    from tooltune.core.format import parse_output, render_prompt
    from tooltune.core.format.tokens import IM_END
    from tooltune.core.models import load_model

    model, tok, fmt = load_model(model_spec)
    end = tok.convert_tokens_to_ids(IM_END)
    out = []
    with torch.inference_mode():
        for turn in turns:
            ids = tok(render_prompt(turn["messages"], turn["tools"], fmt), return_tensors="pt",
                      add_special_tokens=False).input_ids
            t0 = time.perf_counter()
            gen = model.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_tokens,
                                 do_sample=False, eos_token_id=end, pad_token_id=end)
            dt = time.perf_counter() - t0
            text = tok.decode(gen[0, ids.shape[1]:], skip_special_tokens=True)
            calls = [(c.function.name, json.loads(c.function.arguments)) for c in parse_output(text).tool_calls]
            out.append({"total": dt, "calls": calls, "tokens": int(gen.shape[1] - ids.shape[1])})
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=str(DEFAULT_RUN) if (DEFAULT_RUN / "model").exists() else "smollm2-135m")
    ap.add_argument("--data", type=Path, default=Path("/tmp/lat/eval.jsonl"))
    ap.add_argument("--url", help="use a running server instead of starting one (no RSS then)")
    ap.add_argument("--served-name", default="bench", help="model name on --url")
    ap.add_argument("--quantize", default="auto", help="server weights, as `tooltune serve --quantize`: auto (the serving default), none (float32), bf16-linear, int8, w8a8 or bf16")
    ap.add_argument("--backend", default="transformers", help="server engine: transformers or llama.cpp")
    ap.add_argument("--turns", type=int, default=0, help="limit the number of tool-call turns (0: all)")
    ap.add_argument("--baseline-turns", type=int, default=10, help="single-call turns timed with generate()")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--max-tokens", type=int, default=128)
    ap.add_argument("--tool-choice", default="auto")
    ap.add_argument("--server-arg", action="append", default=[], help="extra argument for tooltune serve")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)

    import httpx

    # Disjoint turns for the warm-up, the one-client phase and the concurrent phase: the server
    # learns drafts from its recent outputs, so a replayed turn would be decoded faster than a new one.
    available = load_turns(args.data, None)
    n = args.turns or max(1, (len(available) - 2) // 2)
    warm, turns, fresh = available[:2], available[2:2 + n], available[2 + n:2 + 2 * n]
    if not turns:
        print(f"error: no tool-call turns in {args.data}", file=sys.stderr)
        return 2
    proc = None
    url = args.url
    name = args.served_name
    if url is None:
        port = free_port()
        proc = start_server(args.model, args.quantize, args.backend, port, args.server_arg)
        url, name = f"http://127.0.0.1:{port}", "bench"
    results: dict[str, Any] = {"model": args.model, "backend": args.backend, "quantize": args.quantize, "turns": len(turns),
                               "cpu_count": os.cpu_count(), "loadavg_start": os.getloadavg()}
    try:
        with httpx.Client(timeout=600) as client:
            wait_ready(client, url, proc)
            for turn in warm:  # warm up: grammar compile, prefix cache, allocator
                stream_turn(client, url, payload(turn, name, args.max_tokens, args.tool_choice, True))

            # 1. one client, streaming
            one = []
            for turn in turns:
                r = stream_turn(client, url, payload(turn, name, args.max_tokens, args.tool_choice, True))
                r["single"] = len(turn["expected"]) == 1
                r["match"] = calls_match(r["calls"], turn["expected"])
                one.append(r)
            single = [r for r in one if r["single"]]

            def summary(rs: list[dict[str, Any]]) -> dict[str, Any]:
                tot = [r["total"] for r in rs]
                ttft = [r["ttft"] for r in rs]
                prefill_tok = sum(r["usage"].get("prompt_tokens", 0)
                                  - (r["usage"].get("prompt_tokens_details") or {}).get("cached_tokens", 0) for r in rs)
                decode_tok = sum(r["usage"].get("completion_tokens", 0) for r in rs)
                return {"n": len(rs), "p50_ms": round(1000 * percentile(tot, 0.5)),
                        "p95_ms": round(1000 * percentile(tot, 0.95)),
                        "mean_ms": round(1000 * statistics.mean(tot)),
                        "ttft_p50_ms": round(1000 * percentile(ttft, 0.5)),
                        "prompt_tokens_mean": round(statistics.mean(r["usage"].get("prompt_tokens", 0) for r in rs)),
                        "cached_tokens_mean": round(statistics.mean(
                            (r["usage"].get("prompt_tokens_details") or {}).get("cached_tokens", 0) for r in rs)),
                        "completion_tokens_mean": round(statistics.mean(r["usage"].get("completion_tokens", 0) for r in rs), 1),
                        "prefill_tok_s_uncached": round(prefill_tok / max(1e-9, sum(r["ttft"] for r in rs)), 1),
                        "decode_tok_s": round(decode_tok / max(1e-9, sum(r["total"] - 0 for r in rs)), 1),
                        "exact_match_pct": round(100 * sum(r["match"] for r in rs) / len(rs), 1)}

            results["single_call_turns"] = summary(single) if single else None
            results["all_tool_call_turns"] = summary(one)

            # 3. concurrent clients, as a crossover over two disjoint sets of turns: the one-client phase
            #    above ran `turns`; 8 clients run `fresh`, then `turns` again, and one client runs
            #    `fresh` again. Each side sees one set new to the server and one replayed (the server
            #    drafts from its recent outputs, which speeds a replay), so neither the sets' contents
            #    nor the replays favour a side. With too few turns for two sets, 8 clients replay
            #    `turns` alone (said in the output).
            replayed = len(fresh) < len(turns)
            errors: list[str] = []

            def clients(ts: list[dict[str, Any]], k: int) -> float:
                """Wall time of ``k`` clients replaying ``ts``, each on an HTTP connection of its own."""
                local, opened = threading.local(), []

                def send(i: int) -> None:
                    if not hasattr(local, "client"):
                        local.client = httpx.Client(timeout=600)
                        opened.append(local.client)
                    try:
                        stream_turn(local.client, url, payload(ts[i], name, args.max_tokens, args.tool_choice, True))
                    except Exception as e:  # record, keep going
                        errors.append(str(e))

                try:
                    return run_clients(len(ts), k, send)
                finally:
                    for c in opened:
                        c.close()

            one_s = {"first": sum(r["total"] for r in one)}  # one client: the requests' own time
            if replayed:
                conc_s = {"first": clients(turns, args.concurrency)}
            else:
                conc_s = {"second": clients(fresh, args.concurrency), "first": clients(turns, args.concurrency)}
                one_s["second"] = sum(stream_turn(client, url, payload(t, name, args.max_tokens, args.tool_choice, True))["total"]
                                      for t in fresh)
            n_req = len(turns) + (0 if replayed else len(fresh))
            one_rps, conc_rps = n_req / sum(one_s.values()), n_req / sum(conc_s.values())
            results["concurrency"] = {
                "clients": args.concurrency, "rps": round(conc_rps, 2), "replayed_turns": replayed,
                "one_client_rps": round(one_rps, 2), "ratio": round(conc_rps / one_rps, 2),
                "ratio_per_set": {k: round(one_s[k] / conc_s[k], 2) for k in conc_s if k in one_s},
                "errors": len(errors)}
            if proc is not None:
                time.sleep(1.0)  # at rest: the engine hands freed memory back after 0.25 s idle
                cur, peak = rss_mb(proc.pid)
                results["server_rss_mb"] = {"current": round(cur), "peak": round(peak)}

        # 2. plain transformers.generate on the same single-call prompts (server idle now)
        base_turns = [t for t in turns if len(t["expected"]) == 1][: args.baseline_turns]
        if base_turns:
            base = baseline_generate(args.model, base_turns, args.max_tokens)
            ours = single[: len(base)]
            b50 = percentile([b["total"] for b in base], 0.5)
            o50 = percentile([r["total"] for r in ours], 0.5)
            results["baseline_generate"] = {
                "n": len(base), "p50_ms": round(1000 * b50), "p95_ms": round(1000 * percentile([b["total"] for b in base], 0.95)),
                "ours_p50_ms_same_prompts": round(1000 * o50), "speedup_p50": round(b50 / o50, 2),
                "speedup_mean": round(statistics.mean(b["total"] for b in base) / statistics.mean(r["total"] for r in ours), 2),
                "decode_tok_s": round(sum(b["tokens"] for b in base) / sum(b["total"] for b in base), 1),
                "tokens_mean": round(statistics.mean(b["tokens"] for b in base), 1),
                "ms_per_token": round(1000 * sum(b["total"] for b in base) / sum(b["tokens"] for b in base), 1),
                "ours_ms_per_completion_token": round(1000 * sum(r["total"] for r in ours) / max(1, sum(
                    r["usage"].get("completion_tokens", 0) for r in ours)), 1),
                "exact_match_pct": round(100 * sum(calls_match(b["calls"], t["expected"]) for b, t in zip(base, base_turns)) / len(base), 1),
                "ours_exact_match_pct_same_prompts": round(100 * sum(r["match"] for r in ours) / len(ours), 1)}
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
    results["loadavg_end"] = os.getloadavg()
    s = results.get("single_call_turns") or results["all_tool_call_turns"]
    print(f"single tool-call turns: p50 {s['p50_ms']} ms, p95 {s['p95_ms']} ms, TTFT p50 {s['ttft_p50_ms']} ms, "
          f"prefill {s['prefill_tok_s_uncached']} tok/s (uncached part), decode {s['decode_tok_s']} tok/s, "
          f"exact match {s['exact_match_pct']}%")
    if "baseline_generate" in results:
        b = results["baseline_generate"]
        print(f"plain transformers.generate: p50 {b['p50_ms']} ms vs ours {b['ours_p50_ms_same_prompts']} ms "
              f"on the same prompts -> {b['speedup_p50']}x faster (mean {b['speedup_mean']}x)")
    c = results["concurrency"]
    print(f"{c['clients']} concurrent clients: {c['rps']} req/s vs one client {c['one_client_rps']} req/s -> "
          f"{c['ratio']}x (per set {', '.join(f'{v}x' for v in c['ratio_per_set'].values())}; {c['errors']} errors"
          f"{', turns replayed: too few in the data' if c['replayed_turns'] else ''})")
    if "server_rss_mb" in results:
        print(f"server RSS: {results['server_rss_mb']['current']} MB (peak {results['server_rss_mb']['peak']} MB)")
    print(json.dumps(results, indent=1))
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
