"""The ``volley`` verbs, one module each (``run``, ``race``, ``compare``); ``common`` holds what they share.

Each module has ``main(argv) -> exit status``. Exit statuses: 0 success, 1 finished but not all
succeeded, 2 nothing sent (bad arguments, input, model, key or paths), 130 interrupted.
"""
