"""The page in its reader's language from the first paint: the studio's texts and Gradio's own words (copy and
fullscreen buttons, upload zones, a chatbot's buttons).

The server picks the language of each page it sends (`page_language`): the one the browser kept (a cookie,
written beside localStorage whenever the language is picked or restored), else the browser's Accept-Language,
else the language the studio was started in. The page's config then carries the studio's texts in that language
(`translations`: the props that differ in a copy of the app built in the other language), so no English is drawn
for a Chinese reader, not even for a moment after a reload.

Gradio's front end picks its language from the browser's (navigator.language) once, as it starts, and a widget
keeps the words it was drawn with. The page's language is the studio's, kept in the browser (localStorage,
written whenever the language is picked or restored; see GRADIO_LOCALE_JS), so a script placed first in the
page's <head> tells Gradio that language before any of its code runs. Everything gradio draws later follows a
switch on its own (app.py calls its changeLocale); what it drew before a switch is right from the next load on.
"""
from __future__ import annotations

import json
from http.cookies import SimpleCookie

import orjson
from gradio.routes import toorjson

# The studio's language -> Gradio's locale of it.
GRADIO_LOCALES = {"en": "en", "zh": "zh-CN"}
STORAGE_KEY = "finetune-studio-lang"
PAGES = {"/", "/login", "/login/"}  # the studio's page, and gradio's login page when a password is set
CONFIG_ROUTES = {"/config", "/gradio_api/config"}  # the page's config as JSON, when the front end asks again
CONFIG_MARK = b"window.gradio_config = "  # how gradio's page template carries the config

# Words Gradio writes in English whatever its locale (tooltips and screen-reader labels its widgets carry), in
# Chinese; each "{}" stands for a part of the label that is not Gradio's (a field's own label, a number), taken
# over in order.
GRADIO_WORDS_ZH = {
    "Fullscreen": "全屏",
    "Clear": "清除",
    "Remove {}": "移除 {}",
    "Exit fullscreen mode": "退出全屏",
    "Copy table data": "复制表格数据",
    "Copied to clipboard": "已复制到剪贴板",
    "Click to upload or drop files": "点击上传或拖放文件",
    "File upload": "文件上传",
    "Empty value": "空值",
    "More tabs": "更多标签页",
    "Reset to default value": "恢复默认值",
    "Dataframe": "表格",
    "Open cell menu": "打开单元格菜单",
    "Table actions": "表格操作",
    "chatbot conversation": "对话记录",
    "Scroll down": "滚动到底部",
    "Undo": "撤销",
    "Download": "下载",
    "Copy conversation": "复制对话",
    "Copy message": "复制消息",
    "bot's message: {}": "模型的回复：{}",
    "user's message: {}": "用户的消息：{}",
    "number input for {}": "{}（数字输入）",
    "range slider for {}": "{}（滑块）",
    "copy": "复制",
    "Copy": "复制",
    "Unfold line": "展开行",
    "Fold line": "折叠行",
    "Code input container": "代码输入框",
    # A line plot's descriptions for screen readers (Vega's)
    "Vega visualization": "图表",
    "X-axis titled '{}' for a linear scale with values from {} to {}": "X 轴「{}」，线性刻度，{} 到 {}",
    "Y-axis titled '{}' for a linear scale with values from {} to {}": "Y 轴「{}」，线性刻度，{} 到 {}",
    "Symbol legend titled '{}' for stroke color with {} value: {}": "图例「{}」（线条颜色，{} 项）：{}",
    "Symbol legend titled '{}' for stroke color with {} values: {}": "图例「{}」（线条颜色，{} 项）：{}",
}

# Placed first in the page's <head>: sets the browser's language as Gradio reads it from the kept studio language
# (else the server's default), and keeps the attributes of GRADIO_WORDS_ZH in the page's language as Gradio draws
# and changes them (the English is kept beside, for a switch back). window.studioRelabel redoes the whole page.
HEAD_SCRIPT = """<script>(() => {
  const locales = %(locales)s, key = %(key)s, fallback = %(default)s, words = %(words)s;
  const lang = () => localStorage.getItem(key) || fallback;
  const kept = localStorage.getItem(key);
  if (kept) document.cookie = key + "=" + kept + "; path=/; max-age=31536000; SameSite=Lax";
  if (kept && kept !== fallback && !sessionStorage.getItem(key + "-reloaded")) {
    sessionStorage.setItem(key + "-reloaded", "1");  // the server did not know the kept language: ask again
    location.reload();
    return;
  }
  sessionStorage.removeItem(key + "-reloaded");
  const locale = locales[lang()] || "en";
  for (const [name, value] of [["language", locale], ["languages", [locale]]])
    Object.defineProperty(Navigator.prototype, name, {configurable: true, get: () => value});
  const patterns = Object.entries(words).filter(([en]) => en.includes("{}")).map(([en, zh]) => [en.split("{}"), zh]);
  const fill = (text, [parts, zh]) => {  // each "{}" of the English takes at least one character of `text`
    if (!text.startsWith(parts[0])) return null;
    const values = [];
    let at = parts[0].length;
    for (const part of parts.slice(1, -1)) {
      const found = text.indexOf(part, at + 1);
      if (found < 0) return null;
      values.push(text.slice(at, found));
      at = found + part.length;
    }
    const last = parts[parts.length - 1];
    if (text.length - last.length <= at || !text.endsWith(last)) return null;
    values.push(text.slice(at, text.length - last.length));
    return values.reduce((filled, value) => filled.replace("{}", value), zh);
  };
  const chinese = (en) => words[en] ?? patterns.map((pattern) => fill(en, pattern)).find(Boolean);
  const attributes = ["title", "aria-label"];
  const relabel = (element) => {
    for (const name of attributes) {
      const shown = element.getAttribute(name), kept = element.getAttribute("data-en-" + name);
      if (shown === null) continue;
      const english = kept !== null && shown === chinese(kept) ? kept : shown;  // else Gradio has changed it
      const wanted = lang() === "zh" ? chinese(english) : english;
      if (!wanted) continue;
      if (wanted !== english) element.setAttribute("data-en-" + name, english);
      if (shown !== wanted) element.setAttribute(name, wanted);
    }
  };
  const scan = (node) => {
    if (node.nodeType !== 1) return;
    relabel(node);
    node.querySelectorAll("[title],[aria-label]").forEach(relabel);
  };
  const watched = {subtree: true, childList: true, attributes: true, attributeFilter: attributes};
  new MutationObserver((records) => records.forEach((record) =>
    record.type === "attributes" ? relabel(record.target) : record.addedNodes.forEach(scan)))
    .observe(document.documentElement, watched);
  window.studioRelabel = () => scan(document.documentElement);
})();</script>"""

# Front-end code for a language event: keep the language for the next load and switch Gradio's locale now, with
# changeLocale (what Gradio's own Settings > Language calls) from the front end's core chunk, found among the
# loaded scripts as its file name carries a build hash.
GRADIO_LOCALE_JS = """
async (lang) => {
    localStorage.setItem(%(key)s, lang);
    document.cookie = %(key)s + "=" + lang + "; path=/; max-age=31536000; SameSite=Lax";
    const core = performance.getEntriesByType("resource").map((entry) => entry.name)
        .find((name) => /\\/assets\\/core-[\\w-]+\\.js$/.test(name));
    if (core) (await import(core)).changeLocale(%(locales)s[lang] || "en");
    window.studioRelabel?.();
}
""" % {"locales": json.dumps(GRADIO_LOCALES), "key": json.dumps(STORAGE_KEY)}


def page_language(headers: dict, default: str) -> str:
    """The language a page is sent in: the kept choice (cookie), else the best of Accept-Language that the
    studio speaks, else `default`."""
    cookie = SimpleCookie()
    try:
        cookie.load(headers.get(b"cookie", b"").decode("latin-1"))
    except Exception:  # a malformed cookie header from elsewhere on this host: ignore it
        cookie = SimpleCookie()
    if STORAGE_KEY in cookie and cookie[STORAGE_KEY].value in GRADIO_LOCALES:
        return cookie[STORAGE_KEY].value
    weighted = []
    for position, item in enumerate(headers.get(b"accept-language", b"").decode("latin-1").split(",")):
        tag, _, params = item.strip().partition(";")
        try:
            quality = float(params.strip().removeprefix("q=")) if params.strip().startswith("q=") else 1.0
        except ValueError:
            continue
        primary = tag.strip().lower().split("-")[0]
        if primary in GRADIO_LOCALES and quality > 0:
            weighted.append((-quality, position, primary))
    return min(weighted)[2] if weighted else default


def translations(served, other) -> dict[int, dict]:
    """{component id of `served`: the props that read differently in `other`}: two builds of the same app (the
    same components in the same order) in two languages."""
    mine, theirs = served.get_config_file()["components"], other.get_config_file()["components"]
    if [c["type"] for c in mine] != [c["type"] for c in theirs]:
        raise ValueError("the two builds of the page differ in their components")
    return {ours["id"]: changed for ours, translated in zip(mine, theirs)
            if (changed := {key: value for key, value in translated["props"].items()
                            if ours["props"].get(key) != value})}


def translated_config(config: dict, props: dict[int, dict]) -> dict:
    for component in config.get("components", []):
        component["props"].update(props.get(component["id"], {}))
    return config


class PageLocale:
    """ASGI middleware: the studio's pages (PAGES) and their config (CONFIG_ROUTES) in the reader's language
    (page_language), with HEAD_SCRIPT first in the page's <head>; files the server sends, an uploaded .html among
    them, are left alone. `lang` is the language the app was built in; `translated` holds, per other language,
    the props that read differently in it (`translations`)."""

    def __init__(self, app, lang: str = "en", translated: dict[str, dict[int, dict]] | None = None):
        self.app, self.lang, self.translated = app, lang, translated or {}
        self.heads = {
            language: b"<head>" + (HEAD_SCRIPT % {
                "locales": json.dumps(GRADIO_LOCALES), "key": json.dumps(STORAGE_KEY), "default": json.dumps(language),
                "words": json.dumps(GRADIO_WORDS_ZH, ensure_ascii=False)}).encode()
            for language in GRADIO_LOCALES}

    async def __call__(self, scope, receive, send):
        path = scope.get("path", "")
        if scope["type"] != "http" or scope["method"] != "GET" or path not in PAGES | CONFIG_ROUTES:
            return await self.app(scope, receive, send)
        language = page_language(dict(scope.get("headers", [])), self.lang)
        rewrite = self._config if path in CONFIG_ROUTES else self._page
        start, body = None, []

        async def rewritten(message):
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                wanted = b"application/json" if path in CONFIG_ROUTES else b"text/html"
                if not headers.get(b"content-type", b"").startswith(wanted) or b"content-encoding" in headers:
                    start = False  # not a page, or compressed: passed on untouched
                    return await send(message)
                start = message
                return None
            if start is False:
                return await send(message)
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return None
            page = rewrite(b"".join(body), language)
            headers = [(k, v) for k, v in start.get("headers", []) if k not in (b"content-length", b"vary")]
            await send({**start, "headers": [*headers, (b"content-length", str(len(page)).encode()),
                                             (b"vary", b"Cookie, Accept-Language")]})
            await send({"type": "http.response.body", "body": page})

        await self.app(scope, receive, rewritten)

    def _page(self, page: bytes, language: str) -> bytes:
        page = page.replace(b"<head>", self.heads[language], 1)
        props = self.translated.get(language)
        at = page.find(CONFIG_MARK)
        if not props or at < 0:
            return page
        start = at + len(CONFIG_MARK)
        end = page.find(b";</script>", start)
        config = translated_config(orjson.loads(page[start:end]), props)
        return page[:start] + str(toorjson(config)).encode() + page[end:]  # escaped as gradio's template does

    def _config(self, body: bytes, language: str) -> bytes:
        props = self.translated.get(language)
        return orjson.dumps(translated_config(orjson.loads(body), props)) if props else body
