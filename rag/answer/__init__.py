"""The read path after retrieval: evidence, guard, prompt, LLM, sanitising, grounding."""
