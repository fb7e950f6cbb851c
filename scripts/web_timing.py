"""The viewer's first load and click-to-chart latency in headless Chromium (Debian's).

    python scripts/web_timing.py

Five fresh browsers load the page to its first drawn view; in the last, 18 changes of the
weight bits (a select: sent at once) are each timed to the redrawn page.
"""

import shutil
import socket
import statistics
import threading
import time

import uvicorn
from playwright.sync_api import sync_playwright

from rooflens.web import create_app

s = socket.socket()
s.bind(("127.0.0.1", 0))
port = s.getsockname()[1]
s.close()
srv = uvicorn.Server(uvicorn.Config(create_app(), host="127.0.0.1", port=port, log_level="error"))
threading.Thread(target=srv.run, daemon=True).start()
while not srv.started:
    time.sleep(0.05)
url = f"http://127.0.0.1:{port}/#model=meta-llama/Llama-3.1-8B&device=h100-sxm&prompt_len=1024"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
loads, clicks = [], []
with sync_playwright() as pw:
    for i in range(5):
        b = pw.chromium.launch(executable_path=shutil.which("chromium"), args=ARGS)
        page = b.new_page(viewport={"width": 1440, "height": 900})
        t = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("body[data-rendered]", timeout=30000)
        loads.append(time.perf_counter() - t)
        if i == 4:
            for bits in ["8", "4", "16"] * 6:
                n = int(page.evaluate("() => document.body.dataset.rendered"))
                t = time.perf_counter()
                page.select_option("#opt-w_bits", bits)
                page.wait_for_function(
                    f"() => Number(document.body.dataset.rendered) > {n}", timeout=30000
                )
                clicks.append(time.perf_counter() - t)
        b.close()
print(
    "first loads (s):", [round(x, 2) for x in loads], "median", round(statistics.median(loads), 2)
)
print(
    "click-to-chart (ms): p50",
    round(1e3 * statistics.median(clicks)),
    "range",
    round(1e3 * min(clicks)),
    round(1e3 * max(clicks)),
)
srv.should_exit = True
