#!/usr/bin/env python3
"""Neuroglancer, in headless Chromium, shows a tomogram served by `tomostore serve`.

Usage: python3 tools/neuroglancer_check.py BASE_URL DATASET WORKDIR [--store STORE --tomostore BIN]

Opens neuroglancer's own client (the `neuroglancer` wheel's Python viewer) with one image layer
`zarr://BASE_URL/DATASET` (the server must send CORS headers: serve --cors '*'), one xy panel, no UI,
3 screen pixels per voxel, centred on the volume's middle z slice; drives Chromium with selenium
(SwiftShader WebGL), waits until the picture stops changing, and saves WORKDIR/neuroglancer.png. Checks:
the panel is not blank (pixel spread), and it shows the data: the screenshot, scaled back to voxels,
correlates with the middle slice read from the server (Pearson r > 0.8), and not with another slice.
Prints the numbers; exits 1 when a check fails. Requires chromium and chromium-driver (Debian),
pip install neuroglancer selenium pillow.
"""
import os
import sys
import time

import numpy as np


def main():
    base, dataset, workdir = sys.argv[1:4]
    import neuroglancer
    from PIL import Image
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
    import tomostore_client

    served = tomostore_client.open(base)[dataset]
    nz, ny, nx = served.shape
    zoom = 3  # screen pixels per voxel asked for (the page may scale it: measured below)
    middle = served[nz // 2]
    lo, hi = (float(v) for v in np.percentile(middle, [0.5, 99.5]))
    neuroglancer.set_server_bind_address("127.0.0.1")
    viewer = neuroglancer.Viewer()
    with viewer.txn() as s:
        s.dimensions = neuroglancer.CoordinateSpace(names=["x", "y", "z"], units="nm", scales=[1, 1, 1])
        s.layers["t"] = neuroglancer.ImageLayer(
            source=f"zarr://{base}/{dataset}",
            shader=f"#uicontrol invlerp normalized(range=[{lo}, {hi}])\nvoid main() {{ emitGrayscale(normalized()); }}")
        s.layout = "xy"
        s.position = [nx / 2, ny / 2, nz // 2 + 0.5]
        s.cross_section_scale = 1 / zoom
        s.show_axis_lines = False
        s.show_scale_bar = False
        s.show_default_annotations = False
    with viewer.config_state.txn() as c:
        c.show_ui_controls = False
        c.show_panel_borders = False
        c.show_layer_panel = False
        c.viewer_size = None
    options = webdriver.ChromeOptions()
    for flag in ("--headless=new", "--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
                 "--window-size=800,600", "--disable-gpu-sandbox"):
        options.add_argument(flag)
    options.binary_location = "/usr/bin/chromium"
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    shot = os.path.join(workdir, "neuroglancer.png")
    try:
        driver.get(str(viewer))
        previous, stable, deadline = None, 0, time.time() + 120
        while time.time() < deadline and stable < 3:
            time.sleep(2)
            driver.save_screenshot(shot)
            image = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
            if previous is not None and image.shape == previous.shape and np.abs(image - previous).mean() < 0.05 \
                    and image.std() > 1:
                stable += 1
            else:
                stable = 0
            previous = image
    finally:
        driver.quit()
    image = np.asarray(Image.open(shot).convert("L"), dtype=np.float64)
    h, w = image.shape
    # The slice is where the picture differs from the background (the colour of the corner pixels); its
    # width gives the pixels per voxel, and it is centred on the panel.
    background = np.median(np.concatenate([image[:, :3].ravel(), image[:, -3:].ravel()]))
    columns = np.where(np.abs(image[h // 2 - 20:h // 2 + 20] - background).max(axis=0) > 0)[0]  # below the widgets
    zoom = (columns[-1] - columns[0] + 1) / nx if columns.size else zoom
    x0, y0 = w / 2 - nx * zoom / 2, h / 2 - ny * zoom / 2
    vx0, vy0 = max(0, int(np.ceil(-x0 / zoom))), max(0, int(np.ceil(-y0 / zoom)))
    vx1, vy1 = min(nx, int((w - x0) / zoom)), min(ny, int((h - y0) / zoom))
    shown = np.zeros((vy1 - vy0, vx1 - vx0))
    for j, v in enumerate(range(vy0, vy1)):
        rows = image[int(y0 + (v + 0.25) * zoom):int(y0 + (v + 0.75) * zoom) + 1]
        for i, u in enumerate(range(vx0, vx1)):
            shown[j, i] = rows[:, int(x0 + (u + 0.25) * zoom):int(x0 + (u + 0.75) * zoom) + 1].mean()
    oy, ox, vy, vx = vy0, vx0, vy1 - vy0, vx1 - vx0

    def r_with(z):
        ref = served[z, oy:oy + vy, ox:ox + vx].astype(np.float64)
        return float(np.corrcoef(shown.ravel(), ref.ravel())[0, 1])

    r_mid = r_with(nz // 2)
    r_other = r_with((nz // 2 + nz // 3) % nz)
    spread = float(image.std())
    print(f"neuroglancer: screenshot {shot} ({w}×{h}, {zoom:.2f} px per voxel), pixel spread {spread:.1f}, r with the middle slice "
          f"{r_mid:.3f}, with slice {(nz // 2 + nz // 3) % nz} {r_other:.3f}")
    ok = spread > 5 and r_mid > 0.8 and r_mid > r_other + 0.3
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
