"""Tagging files of feedback from the command line: ``listening-path nlp tag``."""

from services.nlp.tagging.cli import nlp

__all__ = ["nlp"]
