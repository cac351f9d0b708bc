"""Infora's core: the process engine, its storage and its use cases.

Nothing in this package imports the web layer; `web/` calls `engine.services`.
"""
