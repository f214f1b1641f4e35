"""The catalogue of target styles: procedural textures the code paints itself, reference images, text.

Every procedural style is drawn deterministically from its own name, so the catalogue is the same on
every machine and its features can be cached. The styles differ from each other on purpose (flat vs
textured, dark vs light, saturated vs muted, fine vs coarse) so that the percentile rule has a spread
to choose from. Text styles are prompts for the img2img style transfer; they have no picture here.
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from stylecloak.errors import ConfigurationError, UnknownStyleError

#: Bump when any painter changes, so cached style features are recomputed.
CATALOGUE_VERSION = "1"
STYLE_SIZE = 512

StyleKind = Literal["procedural", "reference", "text"]
Painter = Callable[[int, np.random.Generator], Image.Image]


@dataclass(frozen=True, slots=True)
class Style:
    name: str
    description: str
    kind: StyleKind
    painter: Painter | None = None
    path: Path | None = None
    prompt: str | None = None

    @property
    def key(self) -> str:
        """Identity for caches: changes when the picture would change."""
        if self.kind == "reference" and self.path is not None:
            digest = hashlib.sha256(self.path.read_bytes()).hexdigest()[:16]
            return f"ref:{digest}"
        return f"{self.kind}:{self.name}:v{CATALOGUE_VERSION}"

    def render(self, size: int = STYLE_SIZE) -> Image.Image:
        """The style's picture as an RGB image of ``size``×``size`` (reference images are centre-cropped)."""
        if self.painter is not None:
            seed = int.from_bytes(hashlib.sha256(self.name.encode()).digest()[:8], "little")
            return self.painter(size, np.random.default_rng(seed)).convert("RGB")
        if self.path is not None:
            with Image.open(self.path) as opened:
                image = opened.convert("RGB")
            side = min(image.size)
            left, top = (image.width - side) // 2, (image.height - side) // 2
            return image.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.LANCZOS)
        raise ConfigurationError(f"style {self.name!r} is a text style and has no picture")


# ---------------------------------------------------------------- helpers shared by the painters


def _noise(size: int, rng: np.random.Generator, cells: int) -> np.ndarray:
    """Smooth value noise in [0, 1], ``cells`` control points per side."""
    grid = rng.random((cells, cells)).astype(np.float32)
    image = Image.fromarray(grid, mode="F").resize((size, size), Image.Resampling.BICUBIC)
    arr = np.asarray(image, dtype=np.float32)
    return (arr - arr.min()) / max(float(np.ptp(arr)), 1e-6)


def _cells(size: int, rng: np.random.Generator, count: int) -> np.ndarray:
    """Voronoi cell index of every pixel for ``count`` random seeds."""
    seeds = rng.random((count, 2)) * size
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    best = np.full((size, size), np.inf, dtype=np.float32)
    index = np.zeros((size, size), dtype=np.int32)
    for i, (sy, sx) in enumerate(seeds):
        distance = (ys - sy) ** 2 + (xs - sx) ** 2
        closer = distance < best
        best[closer] = distance[closer]
        index[closer] = i
    return index


def _edges(index: np.ndarray, width: int) -> np.ndarray:
    edge = np.zeros(index.shape, dtype=bool)
    edge[:, 1:] |= index[:, 1:] != index[:, :-1]
    edge[1:, :] |= index[1:, :] != index[:-1, :]
    image = Image.fromarray((edge * 255).astype(np.uint8)).filter(ImageFilter.MaxFilter(width | 1))
    return np.asarray(image) > 0


def _palette(colors: Iterable[str]) -> np.ndarray:
    return np.array([[int(c[i : i + 2], 16) for i in (1, 3, 5)] for c in colors], dtype=np.float32)


def _to_image(rgb: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(rgb, 0, 255).astype(np.uint8), "RGB")


def _paper(size: int, rng: np.random.Generator, tone: str = "#efe6d2") -> np.ndarray:
    base = _palette([tone])[0]
    grain = rng.normal(0, 6, (size, size, 1)).astype(np.float32)
    return np.broadcast_to(base, (size, size, 3)) + grain + (_noise(size, rng, 24)[..., None] - 0.5) * 18


# ---------------------------------------------------------------- the painters


def facets(size: int, rng: np.random.Generator) -> Image.Image:
    index = _cells(size, rng, 48)
    colors = _palette(["#8a7a5c", "#b39b6e", "#6b6f73", "#a9a296", "#5b4f3f", "#c8b68c", "#7c8a8f"])
    cell_color = colors[rng.integers(0, len(colors), 48)]
    angle = rng.random(48) * 2 * np.pi
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    ramp = np.cos(angle[index]) * xs + np.sin(angle[index]) * ys
    shade = (ramp - ramp.mean()) * 90
    rgb = cell_color[index] + shade[..., None]
    rgb[_edges(index, 2)] *= 0.55
    return _to_image(rgb)


def pointillism(size: int, rng: np.random.Generator) -> Image.Image:
    image = Image.new("RGB", (size, size), "#f4f1e8")
    draw = ImageDraw.Draw(image)
    colors = ["#1f4e9c", "#f2c12e", "#e3532d", "#3aa35b", "#8e3fa8", "#f28fb1", "#1a9fb4"]
    radius = max(2, size // 128)
    for _ in range(size * size // (radius * radius * 3)):
        x, y = rng.integers(0, size, 2)
        color = colors[int(rng.integers(0, len(colors)))]
        draw.ellipse((x - radius, y - radius, x + radius, y + radius), fill=color)
    return image


def cel(size: int, rng: np.random.Generator) -> Image.Image:
    index = _cells(size, rng, 22)
    colors = _palette(["#ff5a5f", "#ffd23f", "#3bceac", "#0ead69", "#540d6e", "#ee4266", "#3a86ff", "#ffffff"])
    rgb = colors[rng.integers(0, len(colors), 22)][index]
    rgb[_edges(index, max(3, size // 90))] = 15
    return _to_image(rgb)


def impasto(size: int, rng: np.random.Generator) -> Image.Image:
    base = _palette(["#c0392b"])[0] * 0.6
    image = Image.new("RGB", (size, size), tuple(int(v) for v in base))
    draw = ImageDraw.Draw(image)
    flow = _noise(size, rng, 5) * 2 * np.pi
    colors = ["#c0392b", "#e67e22", "#f1c40f", "#d35400", "#8e2b20", "#f5deb3"]
    length = size // 14
    for _ in range(size * 6):
        x, y = (int(v) for v in rng.integers(0, size, 2))
        a = flow[y, x]
        dx, dy = np.cos(a) * length, np.sin(a) * length
        draw.line(
            (x - dx, y - dy, x + dx, y + dy), fill=colors[int(rng.integers(0, len(colors)))], width=max(4, size // 40)
        )
    arr = np.asarray(image, dtype=np.float32)
    relief = np.asarray(image.convert("L").filter(ImageFilter.EMBOSS), dtype=np.float32) - 128
    return _to_image(arr + relief[..., None] * 0.9)


def hatching(size: int, rng: np.random.Generator) -> Image.Image:
    paper = _paper(size, rng)
    darkness = _noise(size, rng, 4)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    period = max(4, size // 96)
    ink = np.zeros((size, size), dtype=np.float32)
    for level, (u, v) in enumerate([(1, 1), (1, -1), (1, 0), (0, 1)]):
        lines = ((xs * u + ys * v) % period) < 1.2
        ink = np.maximum(ink, lines * (darkness > 0.2 + level * 0.2))
    return _to_image(paper * (1 - 0.85 * ink[..., None]) + _palette(["#1b1b2f"])[0] * 0.85 * ink[..., None])


def watercolor(size: int, rng: np.random.Generator) -> Image.Image:
    rgb = _paper(size, rng, "#fbf8f1")
    colors = _palette(["#7fb7be", "#d3f3ee", "#bc2c1a", "#7d1538", "#dacc3e", "#4a6c6f"])
    for _ in range(14):
        mask = _noise(size, rng, int(rng.integers(2, 6)))
        mask = np.clip((mask - 0.55) * 4, 0, 1)
        edge = np.clip(1 - np.abs(mask - 0.5) * 6, 0, 1) * 0.25
        color = colors[int(rng.integers(0, len(colors)))]
        alpha = (mask * 0.45 + edge)[..., None]
        rgb = rgb * (1 - alpha) + color * alpha
    return _to_image(np.asarray(_to_image(rgb).filter(ImageFilter.GaussianBlur(size / 256)), dtype=np.float32))


def op_art(size: int, rng: np.random.Generator) -> Image.Image:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    warp = _noise(size, rng, 3) * 3
    rings = np.sin((np.hypot(xs - 0.5, ys - 0.5) * 40 + warp) * np.pi) > 0
    stripes = np.sin((xs * 30 + warp) * np.pi) > 0
    pattern = rings ^ stripes
    return _to_image(np.where(pattern[..., None], 245.0, 10.0) * np.ones(3, dtype=np.float32))


def pixel_art(size: int, rng: np.random.Generator) -> Image.Image:
    small = 32
    height = _noise(small, rng, 5)
    colors = _palette(["#1a1c2c", "#5d275d", "#b13e53", "#ef7d57", "#ffcd75", "#a7f070", "#38b764", "#257179"])
    index = np.clip((height * len(colors)).astype(int), 0, len(colors) - 1)
    return _to_image(colors[index]).resize((size, size), Image.Resampling.NEAREST)


def mosaic(size: int, rng: np.random.Generator) -> Image.Image:
    tile = max(8, size // 24)
    colors = _palette(["#2e5266", "#6e8898", "#9fb1bc", "#d3d0cb", "#e2c044", "#b23a48", "#3c6e71"])
    count = size // tile + 1
    picked = colors[rng.integers(0, len(colors), (count, count))]
    jitter = rng.normal(0, 12, (count, count, 3))
    grid = np.repeat(np.repeat(picked + jitter, tile, axis=0), tile, axis=1)[:size, :size]
    ys, xs = np.mgrid[0:size, 0:size]
    grout = ((ys % tile) < 2) | ((xs % tile) < 2)
    grid[grout] = 215
    return _to_image(grid)


def stained_glass(size: int, rng: np.random.Generator) -> Image.Image:
    index = _cells(size, rng, 40)
    colors = _palette(["#0b3c8c", "#b3001b", "#f6aa1c", "#1b998b", "#6a0572", "#2176ff", "#ff7f11"])
    rgb = colors[rng.integers(0, len(colors), 40)][index]
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    glow = 0.65 + 0.6 * np.exp(-((xs - 0.5) ** 2 + (ys - 0.3) ** 2) * 4)
    rgb = rgb * glow[..., None]
    rgb[_edges(index, max(5, size // 60))] = 25
    return _to_image(rgb)


def neon(size: int, rng: np.random.Generator) -> Image.Image:
    image = Image.new("RGB", (size, size), "#07030f")
    glow = Image.new("RGB", (size, size), "#000000")
    draw = ImageDraw.Draw(glow)
    colors = ["#ff00aa", "#00f0ff", "#39ff14", "#fffb00", "#b026ff"]
    for _ in range(18):
        points = [tuple(int(v) for v in rng.integers(0, size, 2)) for _ in range(4)]
        draw.line(points, fill=colors[int(rng.integers(0, len(colors)))], width=max(2, size // 128), joint="curve")
    halo = glow.filter(ImageFilter.GaussianBlur(size / 80))
    arr = np.asarray(image, np.float32) + np.asarray(halo, np.float32) * 2.2 + np.asarray(glow, np.float32)
    return _to_image(arr)


def charcoal(size: int, rng: np.random.Generator) -> Image.Image:
    paper = Image.fromarray(np.clip(_paper(size, rng, "#d9d6cf"), 0, 255).astype(np.uint8), "RGB").convert("L")
    strokes = Image.new("L", (size, size), 0)
    draw = ImageDraw.Draw(strokes)
    for _ in range(160):
        x, y = (int(v) for v in rng.integers(0, size, 2))
        dx, dy = (int(v) for v in rng.integers(-size // 5, size // 5, 2))
        draw.line((x, y, x + dx, y + dy), fill=int(rng.integers(120, 255)), width=int(rng.integers(3, size // 30 + 4)))
    smudge = np.asarray(strokes.filter(ImageFilter.GaussianBlur(size / 160)), np.float32) / 255
    tooth = rng.random((size, size)).astype(np.float32) > 0.25
    gray = np.asarray(paper, np.float32) * (1 - 0.85 * smudge * tooth)
    return _to_image(np.repeat(gray[..., None], 3, axis=2))


def mondrian(size: int, rng: np.random.Generator) -> Image.Image:
    image = Image.new("RGB", (size, size), "#f5f1e6")
    draw = ImageDraw.Draw(image)
    colors = ["#d62828", "#003f88", "#fcbf49", "#f5f1e6", "#f5f1e6", "#f5f1e6"]
    xs = sorted({0, size, *(int(v) for v in rng.integers(size // 8, size - size // 8, 4))})
    ys = sorted({0, size, *(int(v) for v in rng.integers(size // 8, size - size // 8, 4))})
    for x0, x1 in itertools.pairwise(xs):
        for y0, y1 in itertools.pairwise(ys):
            draw.rectangle((x0, y0, x1, y1), fill=colors[int(rng.integers(0, len(colors)))])
    line = max(4, size // 50)
    for x in xs:
        draw.rectangle((x - line // 2, 0, x + line // 2, size), fill="#111111")
    for y in ys:
        draw.rectangle((0, y - line // 2, size, y + line // 2), fill="#111111")
    return image


def woodblock(size: int, rng: np.random.Generator) -> Image.Image:
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32) / size
    waves = np.sin(xs * 18 + np.sin(ys * 9) * 2 + _noise(size, rng, 4) * 3)
    band = np.clip(((ys + 0.08 * waves) * 6).astype(int), 0, 5)
    colors = _palette(["#f3e9d2", "#88c0d0", "#2e5c8a", "#1d3557", "#e9c46a", "#f3e9d2"])
    rgb = colors[band]
    outline = np.abs(np.diff(band, axis=0, prepend=band[:1])) > 0
    outline = np.asarray(Image.fromarray((outline * 255).astype(np.uint8)).filter(ImageFilter.MaxFilter(3))) > 0
    rgb[outline] = _palette(["#20262e"])[0]
    grain = (np.sin(ys * size * 0.9 + _noise(size, rng, 12) * 8) * 10)[..., None]
    return _to_image(rgb + grain)


def swirls(size: int, rng: np.random.Generator) -> Image.Image:
    image = Image.new("RGB", (size, size), "#14264f")
    draw = ImageDraw.Draw(image)
    ys, xs = np.mgrid[0:size, 0:size].astype(np.float32)
    centres = rng.random((4, 2)) * size
    angle = np.zeros((size, size), dtype=np.float32)
    for cy, cx in centres:
        angle += np.arctan2(ys - cy, xs - cx) + np.pi / 2
    colors = ["#1e3d8f", "#4f74c9", "#f2d13a", "#9cc3e6", "#e8eef7", "#2b5aa8"]
    step = max(2, size // 64)
    for _ in range(size * 8):
        x, y = (float(v) for v in rng.random(2) * size)
        color = colors[int(rng.integers(0, len(colors)))]
        points = [(x, y)]
        for _ in range(5):
            a = angle[int(y) % size, int(x) % size]
            x, y = x + np.cos(a) * step, y + np.sin(a) * step
            points.append((x, y))
        draw.line(points, fill=color, width=max(2, size // 150))
    return image


def glitch(size: int, rng: np.random.Generator) -> Image.Image:
    base = _noise(size, rng, 6)[..., None] * _palette(["#00ffd5"])[0] + 20
    rgb = np.array(base, dtype=np.float32)
    for _ in range(40):
        y0 = int(rng.integers(0, size))
        h = int(rng.integers(2, size // 12))
        shift = int(rng.integers(-size // 6, size // 6))
        channel = int(rng.integers(0, 3))
        rgb[y0 : y0 + h, :, channel] = np.roll(rgb[y0 : y0 + h, :, channel], shift, axis=1) + rng.integers(60, 200)
    scan = (np.arange(size) % 3 == 0)[:, None, None] * -35.0
    return _to_image(rgb + scan + rng.normal(0, 10, rgb.shape))


BUILTIN: tuple[Style, ...] = (
    Style("facets", "cubist facets: flat, shaded planes in ochre and grey", "procedural", facets),
    Style("pointillism", "dense dots of pure colour on white", "procedural", pointillism),
    Style("cel", "flat fills with thick black outlines", "procedural", cel),
    Style("impasto", "thick oriented brush strokes with relief", "procedural", impasto),
    Style("hatching", "ink cross-hatching on paper", "procedural", hatching),
    Style("watercolor", "translucent washes with pigment edges", "procedural", watercolor),
    Style("op_art", "high-contrast warped black and white stripes", "procedural", op_art),
    Style("pixel_art", "blocky low-resolution, limited palette", "procedural", pixel_art),
    Style("mosaic", "square tiles and grout lines", "procedural", mosaic),
    Style("stained_glass", "jewel-toned glass with dark leading", "procedural", stained_glass),
    Style("neon", "glowing lines on a dark ground", "procedural", neon),
    Style("charcoal", "smudged charcoal strokes on toothed paper", "procedural", charcoal),
    Style("mondrian", "primary-colour rectangles and black bars", "procedural", mondrian),
    Style("woodblock", "flat bands with outlines and wood grain", "procedural", woodblock),
    Style("swirls", "short curved strokes along swirling flows", "procedural", swirls),
    Style("glitch", "shifted colour bands and scan lines", "procedural", glitch),
)

#: Prompts for the img2img style transfer (the paper's Ω); no picture, so not used by ``latent``.
TEXT_STYLES: tuple[Style, ...] = (
    Style("cubism-picasso", "Cubism by Picasso", "text", prompt="Cubism by Picasso"),
    Style("impressionism-monet", "Impressionism by Claude Monet", "text", prompt="Impressionism by Claude Monet"),
    Style("ukiyo-e-hokusai", "Ukiyo-e by Hokusai", "text", prompt="Ukiyo-e by Hokusai"),
    Style("pop-art-warhol", "Pop art by Andy Warhol", "text", prompt="Pop art by Andy Warhol"),
    Style(
        "abstract-expressionism-pollock",
        "Abstract expressionism by Jackson Pollock",
        "text",
        prompt="Abstract expressionism by Jackson Pollock",
    ),
)


def reference_style(path: str | Path, name: str | None = None) -> Style:
    """A style taken from a reference image an operator provides."""
    source = Path(path)
    if not source.is_file():
        raise ConfigurationError(f"style image {source} does not exist")
    return Style(name or f"ref:{source.stem}", f"reference image {source.name}", "reference", path=source)


class Catalogue:
    """The styles a cloak may target: the built-ins plus any reference images."""

    def __init__(self, styles: Iterable[Style] = BUILTIN, *, references: Iterable[str | Path] = ()) -> None:
        entries = list(styles) + [reference_style(path) for path in references]
        self._styles = {style.name: style for style in entries}
        if len(self._styles) != len(entries):
            raise ConfigurationError("style names in the catalogue must be unique")

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(self._styles.values())

    def __len__(self) -> int:
        return len(self._styles)

    def __contains__(self, name: object) -> bool:
        return name in self._styles

    def names(self) -> list[str]:
        return list(self._styles)

    def get(self, name: str) -> Style:
        try:
            return self._styles[name]
        except KeyError:
            raise UnknownStyleError(f"unknown style {name!r}; known styles: {', '.join(self._styles)}") from None

    def pictured(self) -> list[Style]:
        """Styles with a picture (what the latent style transfer can use)."""
        return [style for style in self._styles.values() if style.kind != "text"]
