"""Encoders and heads (methods.md §1.2): NRCCR's attention block and text head, visual encoders, mappings,
the language discriminator, and the HF text encoder with NRCCR's layer freezing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from clcm.errors import ModelError
from clcm.training.losses import l2norm

BERT_LN_EPS = 1e-5  # LayerNorm eps of the reference attention block (matches the §6 golden values)


class LinearLayer(nn.Module):
    """LayerNorm -> Dropout -> Linear -> ReLU over (N, L, in)."""

    def __init__(self, in_dim: int, out_dim: int, dropout: float = 0.1, relu: bool = True) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(in_dim)
        self.dropout = nn.Dropout(dropout)
        self.linear = nn.Linear(in_dim, out_dim)
        self.relu = relu

    def forward(self, x: Tensor) -> Tensor:
        x = self.linear(self.dropout(self.norm(x)))
        return F.relu(x) if self.relu else x


class PositionalEncoding(nn.Module):
    """Learned absolute position embedding added to (N, L, H), then LayerNorm and dropout.

    ``init_std=None`` keeps PyTorch's N(0, 1) init (the reference); a small value (BERT's 0.02) stops the position
    rows from swamping the token features of a small, randomly initialised encoder.
    """

    def __init__(self, max_len: int, hidden: int, dropout: float = 0.1, init_std: float | None = None) -> None:
        super().__init__()
        self.max_len = max_len
        self.embedding = nn.Embedding(max_len, hidden)
        if init_std is not None:
            nn.init.normal_(self.embedding.weight, std=init_std)
        self.norm = nn.LayerNorm(hidden)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        length = x.size(1)
        if length > self.max_len:
            raise ValueError(f"sequence of {length} positions exceeds the position table ({self.max_len})")
        pos = self.embedding(torch.arange(length, device=x.device))[None]
        return self.dropout(self.norm(x + pos))


class AttentionBlock(nn.Module):
    """NRCCR's ``BertAttention``: one multi-head attention used for self (residual) and cross (no residual) modes.

    Q/K project to ``qk_dim`` (512), V to ``hidden``; scores are scaled by sqrt(hidden / heads) (the reference's
    quirk). The additive mask is the outer product of query and key masks, so a padded query row attends over all
    keys (its -10000 cancels in the softmax).
    """

    def __init__(self, hidden: int = 768, heads: int = 8, qk_dim: int = 512, dropout: float = 0.1) -> None:
        super().__init__()
        if hidden % heads or qk_dim % heads:
            raise ValueError(f"hidden {hidden} and qk_dim {qk_dim} must be divisible by heads {heads}")
        self.heads = heads
        self.query = nn.Linear(hidden, qk_dim)
        self.key = nn.Linear(hidden, qk_dim)
        self.value = nn.Linear(hidden, hidden)
        self.attn_dropout = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, hidden)
        self.out_dropout = nn.Dropout(dropout)
        self.norm = nn.LayerNorm(hidden, eps=BERT_LN_EPS)
        self.scale = math.sqrt(hidden / heads)

    def _split(self, x: Tensor) -> Tensor:  # (N, L, D) -> (N, heads, L, D / heads)
        n, length, d = x.shape
        return x.view(n, length, self.heads, d // self.heads).transpose(1, 2)

    def forward(self, xq: Tensor, xkv: Tensor, mq: Tensor, mk: Tensor, cross: bool = False) -> Tensor:
        """xq (N, Lq, H), xkv (N, Lk, H), mq (N, 1, Lq), mk (N, 1, Lk) float {0, 1} -> (N, Lq, H)."""
        mask = mq.transpose(1, 2) * mk  # (N, Lq, Lk)
        bias = ((1.0 - mask) * -10000.0).unsqueeze(1).to(xq.dtype)
        q, k, v = self._split(self.query(xq)), self._split(self.key(xkv)), self._split(self.value(xkv))
        probs = self.attn_dropout(torch.softmax(q @ k.transpose(-1, -2) / self.scale + bias, dim=-1))
        ctx = (probs @ v).transpose(1, 2).reshape(xq.size(0), xq.size(1), -1)
        h = self.out_dropout(self.out(ctx))
        return self.norm(h) if cross else self.norm(h + xq)


def mean_pool(x: Tensor, mask: Tensor | None, include_padding: bool = True) -> Tensor:
    """(N, L, H) -> (N, H); the reference averages over every position, padding included."""
    if include_padding or mask is None:
        return x.mean(1)
    m = mask.to(x.dtype).unsqueeze(-1)
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)


class LatentMapping(nn.Module):
    """Linear (Xavier-uniform, zero bias) -> BatchNorm1d -> Dropout -> L2-normalise (NRCCR's ``Latent_mapping``)."""

    def __init__(self, in_dim: int, out_dim: int = 1536, dropout: float = 0.2) -> None:
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)
        bound = math.sqrt(6.0) / math.sqrt(in_dim + out_dim)
        nn.init.uniform_(self.linear.weight, -bound, bound)
        nn.init.zeros_(self.linear.bias)
        self.bn = nn.BatchNorm1d(out_dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return l2norm(self.dropout(self.bn(self.linear(x))))


class TextHead(nn.Module):
    """NRCCR's token head over encoder outputs: LinearLayer -> position embedding; holds the shared attention block."""

    def __init__(
        self, hidden: int, heads: int = 8, qk_dim: int = 512, max_len: int = 250, pos_init_std: float | None = None
    ) -> None:
        super().__init__()
        self.proj = LinearLayer(hidden, hidden)
        self.pos = PositionalEncoding(max_len, hidden, init_std=pos_init_std)
        self.attn = AttentionBlock(hidden, heads, qk_dim)

    def tokens(self, h: Tensor) -> Tensor:
        """Encoder states (N, L, H) -> head token features F (N, L, H)."""
        return self.pos(self.proj(h))

    def self_pool(self, f: Tensor, mask: Tensor, include_padding: bool = True) -> Tensor:
        m = mask.to(f.dtype).unsqueeze(1)
        return mean_pool(self.attn(f, f, m, m, cross=False), mask, include_padding)

    def cross_pool(
        self, f_q: Tensor, mask_q: Tensor, f_kv: Tensor, mask_kv: Tensor, include_padding: bool = True
    ) -> Tensor:
        """mean([A(F_q -> F_kv, cross) ; F_kv]) over L_q + L_kv positions (the pre-attention F_kv is appended)."""
        c = self.attn(f_q, f_kv, mask_q.to(f_q.dtype).unsqueeze(1), mask_kv.to(f_q.dtype).unsqueeze(1), cross=True)
        return mean_pool(torch.cat([c, f_kv], 1), torch.cat([mask_q, mask_kv], 1), include_padding)


class ImageEncoder(nn.Module):
    """Image feature vectors (N, D) -> Linear (+ ReLU) -> (N, out_dim)."""

    def __init__(self, in_dim: int, out_dim: int | None = None, relu: bool = True) -> None:
        super().__init__()
        self.out_dim = out_dim or in_dim
        self.linear = nn.Linear(in_dim, self.out_dim)
        self.relu = relu

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        x = self.linear(x)
        return F.relu(x) if self.relu else x


class FrameEncoder(nn.Module):
    """Frame features (N, T, D) -> LinearLayer -> position embedding (80) -> one self-attention block -> mean."""

    def __init__(self, in_dim: int, out_dim: int = 1024, heads: int = 8, qk_dim: int = 512, max_len: int = 80) -> None:
        super().__init__()
        self.out_dim = out_dim
        self.proj = LinearLayer(in_dim, out_dim)
        self.pos = PositionalEncoding(max_len, out_dim)
        self.attn = AttentionBlock(out_dim, heads, qk_dim)

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        if mask is None:
            mask = x.new_ones(x.shape[:2])
        f = self.pos(self.proj(x))
        m = mask.to(f.dtype).unsqueeze(1)
        return mean_pool(self.attn(f, f, m, m, cross=False), mask, include_padding=True)


class Discriminator(nn.Module):
    """Language discriminator over encoder states (N, L, H) -> (N, 2) logits; ``weak``/``not-so-weak``/``strong``.

    ``strong`` (VATEX): Conv1d(H -> 128, k=1), three residual blocks relu(x) + 0.3·conv(relu(conv(relu(x)))),
    time-mean, Linear(128 -> 2), as the reference's ``ConvDiscriminator`` computes it.
    """

    KINDS = ("weak", "not-so-weak", "strong")

    def __init__(self, hidden: int, kind: str = "not-so-weak") -> None:
        super().__init__()
        if kind not in self.KINDS:
            raise ValueError(f"discriminator kind must be one of {self.KINDS}, not {kind!r}")
        self.kind = kind
        if kind == "weak":
            self.model = nn.Sequential(nn.Linear(hidden, 2))
        elif kind == "not-so-weak":
            self.model = nn.Sequential(
                nn.Linear(hidden, 256), nn.Tanh(), nn.Linear(256, 128), nn.Tanh(), nn.Linear(128, 2)
            )
        else:
            self.conv_in = nn.Conv1d(hidden, 128, 1)
            self.blocks = nn.ModuleList(
                nn.Sequential(
                    nn.ReLU(), nn.Conv1d(128, 128, 5, padding=2), nn.ReLU(), nn.Conv1d(128, 128, 5, padding=2)
                )
                for _ in range(3)
            )
            self.model = nn.Sequential(nn.Linear(128, 2))

    def forward(self, h: Tensor) -> Tensor:
        if self.kind != "strong":
            return self.model(h.mean(1))  # mean over all positions, padding included
        x = self.conv_in(h.transpose(1, 2))
        for block in self.blocks:
            # The reference's first ReLU is in place (nn.ReLU(True)): it overwrites the block input before the skip,
            # so each block computes relu(x) + 0.3·f(x) (methods.md §1.2, corrected). block[0] is that ReLU again.
            x = torch.relu(x)
            x = x + 0.3 * block(x)
        return self.model(x.mean(2))


class TextEncoder(nn.Module):
    """A Hugging Face encoder (``AutoModel``) returning ``last_hidden_state``, with NRCCR's freezing rule.

    Embeddings, pooler and every parameter whose name contains none of ``trainable_layers`` are frozen;
    ``trainable_layers=None`` trains everything.
    """

    def __init__(self, name_or_path: str, trainable_layers: Sequence[str] | None = None) -> None:
        super().__init__()
        from transformers import AutoModel

        try:
            self.model = AutoModel.from_pretrained(name_or_path)
        except (OSError, ValueError) as exc:
            raise ModelError(f"cannot load text encoder {name_or_path!r}: {exc}") from exc
        self.hidden = int(self.model.config.hidden_size)
        if trainable_layers is not None:
            for name, p in self.model.named_parameters():
                p.requires_grad = any(s in name for s in trainable_layers) and "embeddings" not in name
                if "pooler" in name:
                    p.requires_grad = False
            if trainable_layers and not any(p.requires_grad for p in self.model.parameters()):
                # e.g. mBERT's layer.11 ... layer.3 on a 2-layer encoder: training would silently freeze it all
                raise ModelError(
                    f"trainable_layers {list(trainable_layers)} match no trainable parameter of {name_or_path!r} "
                    f"({self.num_layers} layers: layer.0 ... layer.{self.num_layers - 1}); "
                    "use trainable_top_layers or name existing layers"
                )

    @property
    def num_layers(self) -> int:
        return int(self.model.config.num_hidden_layers)

    def forward(self, tokens: dict[str, Tensor]) -> Tensor:
        ids = tokens["input_ids"]
        pos = torch.arange(ids.size(1), device=ids.device).expand_as(ids)
        out = self.model(
            input_ids=ids,
            attention_mask=tokens["attention_mask"],
            token_type_ids=torch.zeros_like(ids),
            position_ids=pos,
        )
        return out.last_hidden_state


def top_layers(n_layers: int, k: int) -> tuple[str, ...]:
    """Layer-name substrings of the top ``k`` encoder layers (``layer.{i}.``, unambiguous for any depth)."""
    return tuple(f"layer.{i}." for i in range(max(0, n_layers - k), n_layers))
