"""Generation: transformers vs llama.cpp on the same GGUF and prompts, and the service's
default generator as the service streams it."""

from __future__ import annotations

import json
import os
import statistics
import time

from bench import peers
from bench.common import CONFLICTS, WORK, pct
from lab.evaluation import Dataset
from rag.bootstrap import Runtime
from rag.models import package_dir


def generation_prompts(runtime: Runtime, count: int) -> list:
    from rag.answer.prompt import build_prompt

    ds = Dataset.load(CONFLICTS)
    return [build_prompt(ds.queries[q]["text"], [ds.corpus[next(iter(ds.qrels[q]))]["text"]])
            for q in list(ds.qrels)[:count]]


def bench_generation(gen, prompts: list, max_tokens: int = 64) -> dict:
    """Prefill speed, decode speed and time to first token of the transformers backend on
    the service's prompt with one conflicts passage; greedy, exactly `max_tokens` new tokens."""
    import torch

    gen.warm_up()
    prefill, decode, ttft = [], [], []
    for prompt in prompts:
        inputs = gen._encode(prompt)
        n_prompt = inputs["input_ids"].shape[1]
        with torch.inference_mode():
            t = time.perf_counter()
            gen._model(**inputs)
            prefill_s = time.perf_counter() - t
            prefill.append(n_prompt / prefill_s)
            t = time.perf_counter()
            out = gen._model.generate(**inputs, max_new_tokens=max_tokens, min_new_tokens=max_tokens,
                                      do_sample=False, pad_token_id=gen._tokenizer.eos_token_id)
            decode.append((out.shape[1] - n_prompt - 1) / max(1e-6, time.perf_counter() - t - prefill_s))
        t = time.perf_counter()
        stream = gen.generate(prompt, max_tokens)
        next(stream, None)  # what a streaming client waits for
        ttft.append((time.perf_counter() - t) * 1000)
        for _ in stream:
            pass
    return {"engine": "transformers fp32", "prompts": len(prompts),
            "max_new_tokens": max_tokens, "threads": torch.get_num_threads(),
            "prompt_tokens_per_s": round(statistics.median(prefill), 1),
            "gen_tokens_per_s": round(statistics.median(decode), 1), "ttft_ms_p50": pct(ttft, 50)}


def bench_service_generator(gen, tokenizer, prompts: list, max_tokens: int = 64) -> dict:
    """The service's configured generator as the service calls it (streamed pieces; llama.cpp
    streams one token per piece). Answers end at the model's end-of-turn, so decode speed is
    over the tokens it chose to write, counting the end-of-turn token: decoding it is a step
    like any other (the time measured runs until it), and the peer counts every token too."""
    gen.warm_up()
    next(iter(gen.generate(prompts[0], 4)), None)  # warm up
    prefill, decode, ttft = [], [], []
    for prompt in prompts:
        messages = [{"role": "system", "content": prompt.system}, {"role": "user", "content": prompt.user}]
        n_prompt = len(tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                                     return_dict=True)["input_ids"])
        t = time.perf_counter()
        pieces = 0
        for _ in gen.generate(prompt, max_tokens):
            pieces += 1
            if pieces == 1:
                first = time.perf_counter()
        done = time.perf_counter()
        ttft.append((first - t) * 1000)
        prefill.append(n_prompt / (first - t))
        if pieces > 1:
            ended_early = pieces < max_tokens  # then one more step decoded the end-of-turn token
            decode.append((pieces - 1 + ended_early) / (done - first))
    return {"engine": f"{gen.backend} (the service's default generator)", "prompts": len(prompts),
            "prompt_tokens_per_s": round(statistics.median(prefill), 1),
            "gen_tokens_per_s": round(statistics.median(decode), 1), "ttft_ms_p50": pct(ttft, 50)}


def bench_llamacpp(tokenizer, prompts: list, max_tokens: int = 64) -> dict:
    """The same prompts, rendered by the model's chat template, through the llama.cpp peer."""
    from rag.models import DEFAULT_LLM_GGUF, DEFAULT_LLM_PACKAGE

    rendered = [tokenizer.apply_chat_template([{"role": "system", "content": p.system},
                                               {"role": "user", "content": p.user}],
                                              add_generation_prompt=True, tokenize=False) for p in prompts]
    prompts_file = WORK / "llamacpp-prompts.json"
    prompts_file.write_text(json.dumps(rendered))
    gguf = package_dir(DEFAULT_LLM_PACKAGE) / DEFAULT_LLM_GGUF
    return peers.run("llamacpp", "peer_llamacpp.py", str(gguf), str(prompts_file), str(max_tokens),
                     str(os.cpu_count() or 2))
