"""A tiny random CLIP (full ``CLIPModel`` or vision tower only) with its image processor, built offline.

The directory loads with ``AutoModel.from_pretrained`` / ``AutoImageProcessor.from_pretrained`` and no network,
like ``openai/clip-vit-base-patch32`` does, so ``clcm-train features`` runs on it in tests and examples:

    python -m clcm.testing.tiny_clip OUT_DIR [--vision-only]
"""

from __future__ import annotations

import argparse
from pathlib import Path


def build_tiny_clip(
    out_dir: str | Path,
    *,
    vision_only: bool = False,
    image_size: int = 32,
    patch_size: int = 8,
    hidden: int = 32,
    layers: int = 2,
    heads: int = 2,
    projection_dim: int = 16,
    intermediate: int | None = None,
    seed: int = 0,
) -> Path:
    """Save a seeded random CLIP image model and a ``CLIPImageProcessor`` (resize + centre crop to ``image_size``).

    Args:
        out_dir: directory to write (created).
        vision_only: save a ``CLIPVisionModelWithProjection`` (image tower + projection) instead of a full
            ``CLIPModel`` with its (tiny) text tower.
        projection_dim: size of the image embedding the features command writes.
        intermediate: MLP width of the vision layers (default ``2 * hidden``; CLIP ViT-B/32 has 3072 = 4 x 768).
    """
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPVisionConfig, CLIPVisionModelWithProjection

    out = Path(out_dir)
    vision = {"hidden_size": hidden, "intermediate_size": intermediate or 2 * hidden, "num_hidden_layers": layers,
              "num_attention_heads": heads, "image_size": image_size, "patch_size": patch_size}  # fmt: skip
    torch.manual_seed(seed)
    if vision_only:
        model = CLIPVisionModelWithProjection(CLIPVisionConfig(**vision, projection_dim=projection_dim))
    else:
        text = {"vocab_size": 64, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 1,
                "num_attention_heads": 2, "max_position_embeddings": 16, "bos_token_id": 0, "eos_token_id": 1,
                "pad_token_id": 1}  # fmt: skip
        model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=projection_dim))
    model.eval().save_pretrained(out)
    crop = {"height": image_size, "width": image_size}
    CLIPImageProcessor(size={"shortest_edge": image_size}, crop_size=crop).save_pretrained(out)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--vision-only", action="store_true", help="save the vision tower + projection only")
    args = ap.parse_args()
    print(build_tiny_clip(args.out, vision_only=args.vision_only))


if __name__ == "__main__":
    main()
