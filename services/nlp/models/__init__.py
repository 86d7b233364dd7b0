"""NLP models for the nlp service: sentence encoder, sentiment head, journey-stage tagger, language id,
key phrases and PII redaction, behind one batched ``Analyzer``."""

from services.nlp.models.analyzer import Analysis, Analyzer, TextInput
from services.nlp.models.encoder import TextEncoder
from services.nlp.models.keyphrases import extract_key_phrases
from services.nlp.models.language import detect_language
from services.nlp.models.pii import redact
from services.nlp.models.sentiment import SentimentHead
from services.nlp.models.stage import StageClassifier, StageQuery

__all__ = [
    "Analysis",
    "Analyzer",
    "SentimentHead",
    "StageClassifier",
    "StageQuery",
    "TextEncoder",
    "TextInput",
    "detect_language",
    "extract_key_phrases",
    "redact",
]
