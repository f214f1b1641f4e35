#!/usr/bin/env python3
"""Rebuild the images in benchmarks/validation/ from the Debian and PyPI packages named in README.md.

Inputs (unpacked with `dpkg-deb -x` / pip, not from the network at run time):
  OC_SVG  openclipart-svg 1:0.18+dfsg-19: .../usr/share/openclipart/svg
  LOMIRI  lomiri-wallpapers-16.04 20.04.0-2: .../usr/share/backgrounds
  SKDATA  scikit-image 0.26.0 wheel: .../site-packages/skimage/data
Needs Pillow and rsvg-convert (Debian librsvg2-bin 2.54.7).

Usage: OC_SVG=... LOMIRI=... SKDATA=... python3 make_set.py OUTDIR
"""

import os
import shutil
import subprocess
import sys
import tempfile

from PIL import Image

# SVG (path under OC_SVG), target (width / height / long_side in pixels), output stem, keep alpha
SVG_JOBS = [
    ("buildings/us_capitol_building_ink_01.svg", {"height": 2048}, "drawn_capitol_ink", False),
    ("animals/mammals/big_cats/b_w_tiger_susan_park_01.svg", {"width": 2048}, "drawn_tiger_lineart", False),
    ("recreation/games/cards/jacob_leisler_mo_01.svg", {"long_side": 1024}, "drawn_leisler_engraving", False),
    ("animals/mammals/housecats/sleeping_cat_ron_golan_01.svg", {"long_side": 480}, "drawn_sleeping_cat", False),
    ("animals/fish/paesaggio_marino_archite_01.svg", {"width": 2048}, "flat_seascape_poster", False),
    ("people/manga_girl_dirk_struve_01.svg", {"long_side": 1024}, "flat_manga_girl", False),
    ("unsorted/landscape_near_the_river_01.svg", {"long_side": 1024}, "flat_river_landscape", False),
    ("people/chibi_character_rick_.svg", {"long_side": 480}, "flat_chibi_rgba", True),
]


def render_svg(src, width=None, height=None, long_side=None, rgba=False, margin=0.03):
    """Render an SVG with rsvg-convert, crop to the drawing (the A4 page around it is blank), pad a 3 % margin.

    The zoom is chosen so the result has about the requested size: vector art, so the detail is real, not upscaled.
    """
    with tempfile.TemporaryDirectory() as td:
        probe = os.path.join(td, "p.png")
        subprocess.run(["rsvg-convert", "-z", "1", src, "-o", probe], check=True)
        bb = Image.open(probe).convert("RGBA").getchannel("A").getbbox()
        bw, bh = (bb[2] - bb[0]) * (1 + 2 * margin), (bb[3] - bb[1]) * (1 + 2 * margin)
        if width:
            z = width / bw
        elif height:
            z = height / bh
        else:
            z = long_side / max(bw, bh)
        big = os.path.join(td, "b.png")
        subprocess.run(["rsvg-convert", "-z", f"{z:.6f}", src, "-o", big], check=True)
        im = Image.open(big).convert("RGBA")
        im = im.crop(im.getchannel("A").getbbox())
    w, h = round(im.width * (1 + 2 * margin)), round(im.height * (1 + 2 * margin))
    canvas = Image.new("RGBA", (w, h), (255, 255, 255, 0))
    canvas.paste(im, ((w - im.width) // 2, (h - im.height) // 2), im)
    if rgba:
        return canvas
    flat = Image.new("RGB", canvas.size, "white")
    flat.paste(canvas, (0, 0), canvas)
    return flat


def main(out):
    oc, lw, sk = os.environ["OC_SVG"], os.environ["LOMIRI"], os.environ["SKDATA"]
    os.makedirs(out, exist_ok=True)

    def copy(src, name):
        shutil.copyfile(src, os.path.join(out, name))
        print(name, "copied unchanged")

    def save(im, name, **kw):
        im.save(os.path.join(out, name), **kw)
        print(name, im.size, im.mode)

    # Photographs: copied byte for byte, except one portrait crop of the CC0 dandelion photograph.
    seed = os.path.join(lw, "seeding_by_Clements_Engelhardt.jpg")
    copy(seed, "photo_dandelions_5312x2988.jpg")
    crop = Image.open(seed).convert("RGB").crop((600, 0, 600 + 1992, 2988))  # 2:3 portrait, full height
    save(crop.resize((1024, 1536), Image.LANCZOS), "photo_dandelion_portrait_1024x1536.jpg", quality=95)
    copy(os.path.join(sk, "hubble_deep_field.jpg"), "photo_hubble_deep_field_1000x872.jpg")
    copy(os.path.join(sk, "chelsea.png"), "photo_chelsea_cat_451x300.png")
    copy(os.path.join(sk, "camera.png"), "photo_camera_gray_512x512.png")

    # Drawn and flat colour: Open Clip Art Library SVGs rendered to PNG.
    for rel, target, stem, rgba in SVG_JOBS:
        im = render_svg(os.path.join(oc, rel), rgba=rgba, **target)
        save(im, f"{stem}_{im.width}x{im.height}.png", optimize=True)


if __name__ == "__main__":
    main(sys.argv[1])
