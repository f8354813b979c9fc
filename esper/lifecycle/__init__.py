"""Seed lifecycle: stages, legal transitions, quality gates and cooldowns (plain Python, no torch)."""
