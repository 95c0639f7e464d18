import socket, subprocess, time
from selenium import webdriver
with socket.socket() as s:
    s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]
cd = subprocess.Popen(["/usr/bin/chromedriver", f"--port={port}"])
for _ in range(100):
    try: socket.create_connection(("127.0.0.1", port), 1).close(); break
    except OSError: time.sleep(0.1)
o = webdriver.ChromeOptions(); o.binary_location="/usr/bin/chromium"
for a in ("--headless=new","--no-sandbox","--disable-gpu","--disable-dev-shm-usage"): o.add_argument(a)
d = webdriver.Remote(command_executor=f"http://127.0.0.1:{port}", options=o)
d.get("data:text/html,<h1 id=x>hello</h1>"); print("TEXT", d.find_element("id","x").text); d.quit(); cd.terminate()
