"""The evaluation's pictures: one self-contained HTML file (images and plots inlined as data URIs)."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence

from PIL import Image
from stylecloak._version import __version__
from stylecloak.engine.evaluate import Evaluation

_STYLE = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;
color:#1d1d1f;padding:0 1rem}h1{font-size:1.6rem}h2{font-size:1.25rem;margin-top:2.5rem;border-top:1px solid #ddd;
padding-top:1.5rem}table{border-collapse:collapse;margin:.5rem 0 1rem}td,th{border:1px solid #ddd;padding:.3rem .6rem;
text-align:right}th{background:#f5f5f7}td:first-child,th:first-child{text-align:left}img{max-width:100%;
border:1px solid #eee}.plots{display:flex;flex-wrap:wrap;gap:1rem}.plots img{max-width:560px}.note{color:#555;
font-size:.9rem}
"""


def _data_uri(image: Image.Image, fmt: str = "PNG") -> str:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **({"quality": 88} if fmt == "JPEG" else {}))
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return f"data:image/{fmt.lower()};base64,{encoded}"


def _figure_uri(figure: object) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110, bbox_inches="tight")  # type: ignore[attr-defined]
    import matplotlib.pyplot as plt

    plt.close(figure)  # type: ignore[arg-type]
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()


def shift_plot(evaluation: Evaluation) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(evaluation.protection)
    values = [evaluation.protection[name] for name in names]
    figure, axes = plt.subplots(figsize=(7, 3.4))
    colors = ["#2a6f97" if name == "clean" else "#61a5c2" for name in names]
    axes.bar(names, values, color=colors)
    axes.axhline(0, color="#333", linewidth=0.8)
    axes.set_ylabel(f"latent shift ({evaluation.extractor})")
    axes.set_title("Working grid: protection after each transformation")
    axes.tick_params(axis="x", rotation=40)
    for index, value in enumerate(values):
        axes.annotate(f"{value:.2f}", (index, value), ha="center", va="bottom", fontsize=8)
    return _figure_uri(figure)


def resolution_plot(evaluation: Evaluation) -> str | None:
    """Shift against the trainer's resolution (short side), with the standard views marked."""
    if not evaluation.by_resolution:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 3.4))
    shorts = sorted(evaluation.by_resolution)
    axes.plot(shorts, [evaluation.by_resolution[r] for r in shorts], marker="o", color="#2a6f97", label="bilinear")
    bicubic = [(int(name.split("/")[0]), value) for name, value in evaluation.views.items()
               if name.endswith("/bicubic") and name.split("/")[0].isdigit()]  # fmt: skip
    if bicubic:
        axes.scatter([b[0] for b in bicubic], [b[1] for b in bicubic], color="#e07a5f", zorder=3, label="bicubic")
    native = min(evaluation.size)
    axes.axvline(native, color="#999", linestyle=":", linewidth=1)
    axes.annotate(f"upload's own size ({native} px)", (native, axes.get_ylim()[1]), fontsize=7, ha="right",
                  va="top", rotation=90)  # fmt: skip
    axes.axhline(0, color="#333", linewidth=0.8)
    axes.axhline(evaluation.mimic_mean, color="#2a6f97", linestyle="--", linewidth=0.8)
    axes.set_xlabel("training resolution (short side, px)")
    axes.set_ylabel(f"latent shift ({evaluation.extractor})")
    axes.set_title(f"Protection against training resolution (mean of standard views {evaluation.mimic_mean:.3f})")
    axes.legend(fontsize=8)
    return _figure_uri(figure)


def step_plot(evaluation: Evaluation) -> str | None:
    if not evaluation.shift_by_step:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 3.4))
    steps = range(1, len(evaluation.shift_by_step) + 1)
    axes.plot(steps, evaluation.shift_by_step, color="#bbb", linewidth=1, zorder=1)
    kinds = sorted(set(evaluation.transform_by_step))
    palette = plt.get_cmap("tab10")
    for index, kind in enumerate(kinds):
        points = [(s, v) for s, v, t in zip(steps, evaluation.shift_by_step, evaluation.transform_by_step, strict=True)
                  if t == kind]  # fmt: skip
        axes.scatter([p[0] for p in points], [p[1] for p in points], s=12, color=palette(index % 10), label=kind)
    axes.set_xlabel("optimisation step")
    axes.set_ylabel("shift under that step's transform")
    axes.set_title("Shift versus optimisation step")
    axes.legend(fontsize=7, ncol=2)
    return _figure_uri(figure)


def _table(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><td>{html.escape(k)}</td><td>{html.escape(v)}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _section(evaluation: Evaluation, sheet: Image.Image | None) -> str:
    mimic = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{value:.3f}</td></tr>" for name, value in evaluation.views.items()
    )
    protection = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{value:.3f}</td></tr>" for name, value in evaluation.protection.items()
    )
    transfer = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{'—' if value is None else f'{value:.3f}'}</td></tr>"
        for name, value in evaluation.transfer.items()
    )
    imp = evaluation.imperceptibility
    rows = [
        ("PSNR (full size)", f"{imp.psnr:.2f} dB"),
        ("SSIM (full size)", f"{imp.ssim:.4f}"),
        ("SSIM (working grid)", f"{imp.ssim_working:.4f}"),
        ("LPIPS", "weights absent" if imp.lpips is None else f"{imp.lpips:.4f}"),
        ("max pixel change", f"{imp.max_abs_change * 255:.1f}/255"),
    ]
    if evaluation.cost is not None:
        cost = evaluation.cost
        rows += [
            ("seconds", f"{cost.seconds:.1f}"),
            ("steps", str(cost.steps)),
            ("steps per second", f"{cost.steps_per_second:.2f}"),
            ("peak memory", f"{cost.peak_memory_mb:.0f} MB"),
        ]
    report = evaluation.report
    header = (
        f"target style <b>{html.escape(evaluation.target_style)}</b>, extractor {html.escape(evaluation.extractor)}, "
        f"budget {html.escape(evaluation.budget)}"
    )
    if report is not None:
        header += (
            f", intensity {report.intensity}, quality {report.quality}, robustness profile {report.robustness}"
            f" — {html.escape(report.target_reason)}"
        )
    parts = [
        f"<h2>{html.escape(evaluation.input)} ({evaluation.size[0]}×{evaluation.size[1]})</h2>",
        f"<p class=note>{header}</p>",
        f"<p>Mimic views: mean <b>{evaluation.mimic_mean:.3f}</b>, worst standard view "
        f"<b>{evaluation.mimic_worst:.3f}</b>.</p>",
    ]
    if sheet is not None:
        parts.append(f"<img alt='before and after' src='{_data_uri(sheet, 'JPEG')}'>")
    plots = {
        "latent shift against training resolution": resolution_plot(evaluation),
        "latent shift per transformation": shift_plot(evaluation),
        "latent shift per optimisation step": step_plot(evaluation),
    }
    parts.append(
        "<div class=plots>" + "".join(f"<img alt='{alt}' src='{uri}'>" for alt, uri in plots.items() if uri) + "</div>"
    )
    parts.append(f"<h3>Mimic views</h3><table><tr><th>view</th><th>latent shift</th></tr>{mimic}</table>")
    parts.append(
        f"<h3>Working grid</h3><table><tr><th>transformation</th><th>latent shift</th></tr>{protection}</table>"
    )
    if transfer:
        parts.append(f"<h3>Transfer</h3><table><tr><th>extractor</th><th>latent shift</th></tr>{transfer}</table>")
    parts.append("<h3>Imperceptibility and cost</h3>" + _table(rows))
    return "\n".join(parts)


def render(evaluations: Sequence[Evaluation], sheets: Sequence[Image.Image | None]) -> str:
    """The whole report as one HTML document."""
    sections = "\n".join(_section(e, s) for e, s in zip(evaluations, sheets, strict=True))
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        f"<title>stylecloak evaluation</title><style>{_STYLE}</style></head><body>"
        "<h1>stylecloak evaluation</h1>"
        "<p class=note>Latent shift = 1 − ‖Φ(x̃) − t‖ / ‖Φ(x) − t‖ (1: the extractor sees the target style; 0: "
        "unchanged). A mimic view is the image as a trainer feeds it to its model: resized to a training "
        "resolution with a resampler, cropped or flipped, perhaps after the platform's re-encode; the standard "
        "views are short sides 512, 768, 1024 and the upload's own size, bilinear and bicubic. On the working grid "
        "(the cloak's own 512 px view), each transformation is applied to the original and the cloaked image "
        "alike, and the target is recomputed from the transformed original. Transfer: the same shift under "
        "another extractor, towards its "
        f"encoding of the decoded target. stylecloak {__version__}.</p>"
        f"{sections}</body></html>"
    )
