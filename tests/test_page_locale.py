"""The script that sets Gradio's language goes first into the studio's page, and nowhere else."""
import json

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.responses import FileResponse, HTMLResponse, JSONResponse
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


# ---------------------------------------------------------------------------------------------------------
# The page in its reader's language, chosen by the server


def test_the_server_picks_the_kept_language_else_the_browser_s_else_its_own():
    from webui.page_locale import page_language

    assert page_language({b"accept-language": b"zh-CN,zh;q=0.9,en;q=0.8"}, "en") == "zh"
    assert page_language({b"accept-language": b"fr-FR, en;q=0.5, zh;q=0.4"}, "zh") == "en"
    assert page_language({b"accept-language": b"fr-FR, de;q=0.5"}, "zh") == "zh"
    assert page_language({b"accept-language": b"zh;q=0, en;q=abc"}, "en") == "en"  # refused, unreadable
    kept = {b"cookie": f"other=1; {STORAGE_KEY}=en".encode(), b"accept-language": b"zh-CN"}
    assert page_language(kept, "zh") == "en"
    assert page_language({b"cookie": f"{STORAGE_KEY}=xx".encode(), b"accept-language": b"zh-CN"}, "en") == "zh"


def test_a_chinese_browser_gets_the_page_s_config_in_chinese_and_an_english_one_in_english():
    from webui.page_locale import CONFIG_MARK

    config = {"components": [{"id": 7, "type": "button", "props": {"value": "Start", "variant": "primary"}},
                             {"id": 8, "type": "html", "props": {"value": "<b>x</b>"}}]}
    page = f"<html><head></head><body><script>{CONFIG_MARK.decode()}{json.dumps(config)};</script></body></html>"
    translated = {"zh": {7: {"value": "开始"}}}
    app = Starlette(routes=[Route("/", lambda request: HTMLResponse(page)),
                            Route("/config", lambda request: JSONResponse(config))],
                    middleware=[Middleware(PageLocale, lang="en", translated=translated)])
    client = TestClient(app)

    chinese = client.get("/", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "开始" in chinese.text and '"Start"' not in chinese.text and "</script></body>" in chinese.text
    assert "\\u003cb\\u003ex" in chinese.text  # markup inside the config stays escaped, as gradio writes it
    assert int(chinese.headers["content-length"]) == len(chinese.content)
    english = client.get("/", headers={"Accept-Language": "en-US"})
    assert '"Start"' in english.text and "开始" not in english.text
    assert client.get("/config", headers={"Accept-Language": "zh"}).json()["components"][0]["props"]["value"] == "开始"
    client.cookies.set(STORAGE_KEY, "en")  # the language this browser picked wins over its Accept-Language
    assert '"Start"' in client.get("/", headers={"Accept-Language": "zh-CN"}).text


def test_the_studio_built_in_chinese_differs_only_in_its_words(data_dirs):
    from webui.app import build_app
    from webui.page_locale import translations

    english = build_app("en")
    props = translations(english, build_app("zh"))
    ids = {component._id: component for component in english.blocks.values()}
    changed = {key for component in props.values() for key in component}
    assert changed <= {"label", "info", "value", "choices", "x_title", "y_title", "color_title", "color_map",
                       "placeholder", "headers"}
    start = next(component for component in ids.values() if getattr(component, "elem_id", None) == "start-button")
    assert props[start._id]["value"] == "开始" and props[start._id] != {}
