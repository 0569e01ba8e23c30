"""What every sgemu figure shares: the Agg backend, colours per layer and link kind, saving.

Figures are drawn off-screen with Matplotlib's Agg backend (no display is
needed), so the commands run the same on a laptop, a server and CI.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402

#: Colour of each satellite layer (and of ground stations).
LAYER_COLORS = {"LEO": "#1f77b4", "MEO": "#2ca02c", "IGSO": "#ff7f0e", "GEO": "#9467bd", "GROUND": "#222222"}
#: Colour of each link kind (see ``topologies.rules.KINDS``).
KIND_COLORS = {"isl": "#6baed6", "inter-layer": "#b39ddb", "ground": "#8c564b", "fiber": "#bcbd22"}
#: Colour of a highlighted route.
PATH_COLOR = "#e6194b"


def save_figure(fig, path, dpi: int = 110, palette: bool = True) -> None:
    """Write a figure to a PNG file (see :func:`write_png`) and close it."""
    write_png(fig, path, dpi, palette)
    plt.close(fig)


def write_png(fig, path, dpi: int = 110, palette: bool = True) -> None:
    """Write a figure to a PNG file, leaving it open.

    With ``palette`` (the default) the image is reduced to 256 colours
    (Pillow's octree palette, no dithering), which keeps maps and plots sharp at a
    third of the size of a full-colour PNG.
    """
    if not palette:
        fig.savefig(path, dpi=dpi)
        return
    from PIL import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    with Image.open(buf) as img:
        img.convert("RGB").quantize(colors=256, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE) \
            .save(path, format="PNG", optimize=True)


def png_bytes(fig, dpi: int = 100) -> bytes:
    """The figure as PNG bytes (for embedding in HTML); closes it."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    plt.close(fig)
    return buf.getvalue()


def plural(n: int, word: str, many: str | None = None) -> str:
    """``1 satellite``, ``3 satellites`` (``many`` for irregular plurals)."""
    return f"{n} {word if n == 1 else (many or word + 's')}"


def duration_text(seconds: float) -> str:
    """A window length for a title: ``90 s``, ``10 min``, ``1.5 h``, ``2 d``."""
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.3g} d"
    if seconds >= 3600:
        return f"{seconds / 3600:.3g} h"
    if seconds >= 60:
        return f"{seconds / 60:.3g} min"
    return f"{seconds:g} s"
