"""NLP models for the nlp service: sentence encoder with its sentiment head, journey-stage tagger, language id,
key phrases and PII redaction, behind one batched ``Analyzer``."""

from services.nlp.models.analyzer import Analysis, Analyzer, SentimentBackend, TextInput
from services.nlp.models.encoder import Encoded, EncoderLoadError, OnnxEncoder, TextEncoder, TorchEncoder
from services.nlp.models.keyphrases import extract_key_phrases
from services.nlp.models.language import detect_language
from services.nlp.models.pii import redact
from services.nlp.models.sentiment import SentimentHead
from services.nlp.models.stage import StageClassifier, StageQuery, StageScorer
from services.nlp.models.vader import VaderSentiment, VaderUnavailable

__all__ = [
    "Analysis",
    "Analyzer",
    "Encoded",
    "EncoderLoadError",
    "OnnxEncoder",
    "SentimentBackend",
    "SentimentHead",
    "StageClassifier",
    "StageQuery",
    "StageScorer",
    "TextEncoder",
    "TextInput",
    "TorchEncoder",
    "VaderSentiment",
    "VaderUnavailable",
    "detect_language",
    "extract_key_phrases",
    "redact",
]
