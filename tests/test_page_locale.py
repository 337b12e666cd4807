"""The script that sets Gradio's language goes first into the studio's page, and nowhere else."""
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import FileResponse, HTMLResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from webui.page_locale import STORAGE_KEY, PageLocale

PAGE = "<!DOCTYPE html><html><head><title>studio</title></head><body>page</body></html>"


def test_the_page_gets_the_script_first_in_its_head_and_a_served_file_does_not(tmp_path):
    uploaded = tmp_path / "notes.html"
    uploaded.write_text(PAGE)
    app = Starlette(routes=[Route("/", lambda request: HTMLResponse(PAGE)),
                            Route("/gradio_api/file", lambda request: FileResponse(uploaded))],
                    middleware=[Middleware(PageLocale, lang="zh")])
    client = TestClient(app)

    page = client.get("/")
    assert page.status_code == 200 and page.text.startswith("<!DOCTYPE html><html><head><script>")
    assert STORAGE_KEY in page.text and '"zh"' in page.text and page.text.endswith("<title>studio</title></head>"
                                                                                    "<body>page</body></html>")
    assert int(page.headers["content-length"]) == len(page.content)
    assert client.get("/gradio_api/file").text == PAGE
