"""The llama.cpp peer (run in its own venv by bench/run.py): the same GGUF, the same prompts.

Reads a JSON file of prompts already rendered with the model's chat template (by the
service's tokenizer, so both engines see the same text) and prints one JSON line:
prompt-processing tokens/s, generation tokens/s and time to first token, greedy, on
`threads` threads.

    python bench/peer_llamacpp.py MODEL.gguf PROMPTS.json MAX_NEW_TOKENS THREADS
"""

from __future__ import annotations

import json
import statistics
import sys
import time


def main(gguf: str, prompts_file: str, max_new: int, threads: int) -> None:
    from llama_cpp import Llama

    llm = Llama(model_path=gguf, n_ctx=2048, n_threads=threads, n_threads_batch=threads, n_batch=512,
                verbose=False)
    prompts = json.loads(open(prompts_file).read())
    prefill, decode, ttft = [], [], []
    for i, prompt in enumerate([prompts[0]] + prompts):  # the first run warms up and is not counted
        tokens = llm.tokenize(prompt.encode(), add_bos=False, special=True)
        started = time.perf_counter()
        stream = llm.generate(tokens, temp=0.0, reset=True)
        next(stream)
        first = time.perf_counter()
        for _ in range(max_new - 1):
            next(stream)
        done = time.perf_counter()
        if i == 0:
            continue
        ttft.append((first - started) * 1000)
        prefill.append(len(tokens) / (first - started))
        decode.append((max_new - 1) / (done - first))
    print(json.dumps({"engine": "llama.cpp (llama-cpp-python 0.3.36)", "prompts": len(prompts),
                      "max_new_tokens": max_new, "threads": threads,
                      "prompt_tokens_per_s": round(statistics.median(prefill), 1),
                      "gen_tokens_per_s": round(statistics.median(decode), 1),
                      "ttft_ms_p50": round(statistics.median(ttft), 1)}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
