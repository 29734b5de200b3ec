"""Fakes for tests and benchmarks, free of pytest so that bench/ scripts can import them.

- openai_server: ``FakeOpenAI``, a local OpenAI-compatible chat-completions server
- replies: ``Reply`` and the ``Script`` responder that script that server's answers
- faults: ``Faulty``, a responder wrapper injecting transport and content faults
- scripted_teacher: ``reply``, a deterministic teacher answering every agent role
- custom_tasks: task files and data of small custom tasks, and ``custom_reply`` for them
- backbones: tiny random student encoders (``build_tiny_backbone``, ``build_backbone``)
- data: slices of the shared data sets, CoNLL writing, JSONL reading
- run_dir: ``write_fake_run``, a hand-written run directory
"""
