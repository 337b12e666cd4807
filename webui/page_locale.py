"""Gradio's own words (copy and fullscreen buttons, upload zones, a chatbot's buttons) in the page's language
from the first moment the page draws.

Gradio's front end picks its language from the browser's (navigator.language) once, as it starts, and a widget
keeps the words it was drawn with. The page's language is the studio's, kept in the browser (localStorage,
written whenever the language is picked or restored; see GRADIO_LOCALE_JS), so a script placed first in the
page's <head> tells Gradio that language before any of its code runs. Everything gradio draws later follows a
switch on its own (app.py calls its changeLocale); what it drew before a switch is right from the next load on.
"""
from __future__ import annotations

import json

# The studio's language -> Gradio's locale of it.
GRADIO_LOCALES = {"en": "en", "zh": "zh-CN"}
STORAGE_KEY = "finetune-studio-lang"
PAGES = {"/", "/login", "/login/"}  # the studio's page, and gradio's login page when a password is set

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
    const core = performance.getEntriesByType("resource").map((entry) => entry.name)
        .find((name) => /\\/assets\\/core-[\\w-]+\\.js$/.test(name));
    if (core) (await import(core)).changeLocale(%(locales)s[lang] || "en");
    window.studioRelabel?.();
}
""" % {"locales": json.dumps(GRADIO_LOCALES), "key": json.dumps(STORAGE_KEY)}


class PageLocale:
    """ASGI middleware: HEAD_SCRIPT first in the <head> of the studio's pages (PAGES; files the server sends,
    an uploaded .html among them, are left alone); `lang` is the language the studio was started in, for a
    browser that has kept none."""

    def __init__(self, app, lang: str = "en"):
        self.app = app
        script = HEAD_SCRIPT % {"locales": json.dumps(GRADIO_LOCALES), "key": json.dumps(STORAGE_KEY),
                                "default": json.dumps(lang), "words": json.dumps(GRADIO_WORDS_ZH, ensure_ascii=False)}
        self.head = b"<head>" + script.encode()

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "GET" or scope["path"] not in PAGES:
            return await self.app(scope, receive, send)
        start, body = None, []

        async def rewritten(message):
            nonlocal start
            if message["type"] == "http.response.start":
                headers = dict(message.get("headers", []))
                if not headers.get(b"content-type", b"").startswith(b"text/html") or b"content-encoding" in headers:
                    start = False  # not a page, or compressed: passed on untouched
                    return await send(message)
                start = message
                return None
            if start is False:
                return await send(message)
            body.append(message.get("body", b""))
            if message.get("more_body"):
                return None
            page = b"".join(body).replace(b"<head>", self.head, 1)
            headers = [(k, v) for k, v in start.get("headers", []) if k != b"content-length"]
            await send({**start, "headers": [*headers, (b"content-length", str(len(page)).encode())]})
            await send({"type": "http.response.body", "body": page})

        await self.app(scope, receive, rewritten)
