"""Fine-tuning on the exported datasets, then writing with the tuned model.

- :mod:`.jsonl_check`: checks a JSONL file on this machine before it is uploaded or trained on.
- :mod:`.api`: jobs on OpenAI's (or a compatible server's) fine-tuning API.
- :mod:`.record`: jobs in the story manifest, for ``automuse stories``.
- :mod:`.data`, :mod:`.local`, :mod:`.gguf_merge`: a LoRA fine-tune of the shipped
  SmolLM2 on CPU, merged back into a GGUF that ``--llm local:FILE.gguf`` loads.

Heavy libraries (openai, torch, transformers, peft, gguf) are imported inside functions.
"""
