"""Draw the integration's brand images (a shield with a check mark) into brand/."""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

BRAND = Path(__file__).resolve().parents[2] / "custom_components" / "homelab_sentinel" / "brand"
NAVY = (24, 52, 92, 255)
TEAL = (38, 166, 154, 255)
WHITE = (255, 255, 255, 255)
SCALE = 4  # draw large, then downsample, for smooth edges


def _shield(size: int) -> Image.Image:
    big = size * SCALE
    image = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(image)
    m = big * 0.08
    top, bottom, left, right = m, big - m, m * 1.3, big - m * 1.3
    mid = big / 2
    outline = [
        (mid, top),
        (right, top + big * 0.12),
        (right, big * 0.5),
        (mid, bottom),
        (left, big * 0.5),
        (left, top + big * 0.12),
    ]
    draw.polygon(outline, fill=NAVY)
    inset = big * 0.07
    inner = [
        (mid, top + inset),
        (right - inset, top + big * 0.12 + inset * 0.6),
        (right - inset, big * 0.5),
        (mid, bottom - inset * 1.4),
        (left + inset, big * 0.5),
        (left + inset, top + big * 0.12 + inset * 0.6),
    ]
    draw.polygon(inner, fill=TEAL)
    width = int(big * 0.075)
    check = [(big * 0.33, big * 0.5), (big * 0.46, big * 0.63), (big * 0.69, big * 0.37)]
    draw.line(check, fill=WHITE, width=width, joint="curve")
    for x, y in (check[0], check[-1]):
        draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=WHITE)
    return image.resize((size, size), Image.Resampling.LANCZOS)


def _logo(height: int) -> Image.Image:
    icon = _shield(height)
    font = ImageFont.load_default(size=int(height * 0.42))
    text = "Homelab Sentinel"
    probe = ImageDraw.Draw(Image.new("RGBA", (1, 1)))
    left, top, right, bottom = probe.textbbox((0, 0), text, font=font)
    width = height + int(height * 0.15) + int(right - left)
    logo = Image.new("RGBA", (width, height), (0, 0, 0, 0))
    logo.paste(icon, (0, 0), icon)
    draw = ImageDraw.Draw(logo)
    draw.text(
        (height + int(height * 0.15) - left, (height - (bottom - top)) / 2 - top),
        text,
        font=font,
        fill=NAVY,
    )
    return logo


def main() -> None:
    """Write icon.png, icon@2x.png, logo.png and logo@2x.png."""
    BRAND.mkdir(parents=True, exist_ok=True)
    _shield(256).save(BRAND / "icon.png", optimize=True)
    _shield(512).save(BRAND / "icon@2x.png", optimize=True)
    _logo(128).save(BRAND / "logo.png", optimize=True)
    _logo(256).save(BRAND / "logo@2x.png", optimize=True)


if __name__ == "__main__":
    main()
