"""The run history under the Train tab: past runs filtered by a search, a tag and "show archived"; the page's
run (the selected row) with its note and tags, archive, and delete (asked once more before anything goes).

The engine keeps the notes (engine/runs/notes.py) and deletes (engine/runs/scheduler.py delete_run, which
refuses a queued or training run); this file only shows and asks.
"""
from __future__ import annotations

from pathlib import Path

import gradio as gr

from engine.paths import PathEscapeError
from engine.runs.notes import NotesRefused, read_notes, update_notes
from engine.runs.scheduler import RunActive, delete_run
from engine.runs.store import all_tags, folder_size, list_runs

from webui import run_view
from webui.i18n import Labels, localize, text

ALL_TAGS = ""  # the tag filter's value meaning "any tag"


# ---------------------------------------------------------------------------------------------------------
# Layout


def build_history_panel(labels: Labels) -> dict:
    parts = {}
    with labels.add(gr.Accordion(text("train.history", labels.lang), open=True), "train.history"):
        with gr.Row(equal_height=True):
            parts["refresh"] = labels.button("train.refresh_history", size="sm", scale=0, min_width=160)
            parts["search"] = labels.labelled(gr.Textbox, "history.search", elem_id="history-search", scale=2)
            parts["tag"] = labels.labelled(gr.Dropdown, "history.tag", choices=tag_choices(labels.lang),
                                           value=ALL_TAGS, elem_id="history-tag", scale=1)
            parts["archived"] = labels.labelled(gr.Checkbox, "history.show_archived", value=False,
                                                elem_id="history-archived", scale=0, min_width=180)
        parts["history"] = gr.Dataframe(run_view.history_table(labels.lang), interactive=False,
                                        elem_id="run-history", max_height=260)
        parts["run_config"] = gr.Code(language="yaml", interactive=False, show_label=False, visible=False,
                                      elem_id="run-config")
        with gr.Group(visible=False, elem_id="run-notes") as parts["editor"]:
            parts["heading"] = gr.Markdown(elem_id="run-notes-heading")
            with gr.Row():
                parts["note"] = labels.labelled(gr.Textbox, "history.note", lines=2, scale=3, elem_id="run-note")
                parts["tags"] = labels.labelled(gr.Textbox, "history.tags", scale=2, elem_id="run-tags")
            with gr.Row():
                parts["save"] = labels.button("history.save", variant="primary", elem_id="save-notes")
                parts["archive"] = labels.button("history.archive", elem_id="archive-run")
                parts["unarchive"] = labels.button("history.unarchive", visible=False, elem_id="unarchive-run")
                parts["delete"] = labels.button("history.delete", variant="stop", elem_id="delete-run")
            with gr.Row(visible=False, elem_id="delete-confirm") as parts["confirm"]:
                parts["confirm_text"] = gr.Markdown(elem_id="delete-confirm-text")
                parts["confirm_yes"] = labels.button("history.delete_yes", variant="stop", elem_id="delete-yes")
                parts["confirm_no"] = labels.button("history.delete_no", elem_id="delete-no")
        parts["message"] = gr.Markdown(elem_id="history-message")
    parts["pending"] = gr.State(None)  # the run a Delete press asked about, until it is confirmed or not
    return parts


def tag_choices(lang: str) -> list[tuple[str, str]]:
    return [(text("history.all_tags", lang), ALL_TAGS), *((tag, tag) for tag in all_tags(list_runs()))]


# ---------------------------------------------------------------------------------------------------------
# Handlers: plain functions from values to values


def history_view(lang: str, search: str, tag: str, archived: bool) -> tuple:
    """(the filtered table, the tag filter with every tag in use now)."""
    choices = tag_choices(lang)
    kept = tag if tag in {value for _, value in choices} else ALL_TAGS  # its last run deleted or untagged
    return run_view.history_table(lang, search, kept, archived), gr.update(choices=choices, value=kept)


def editor_view(run_dir: str, lang: str) -> tuple:
    """(editor shown?, heading, note, tags, archive shown?, unarchive shown?) for the page's run; hidden when
    there is none (or its folder has gone)."""
    if not run_dir or not Path(run_dir).is_dir():
        return gr.update(visible=False), "", "", "", gr.update(), gr.update()
    notes = read_notes(Path(run_dir))
    return (gr.update(visible=True), text("history.editing", lang, run=Path(run_dir).name), notes.text,
            ", ".join(notes.tags), gr.update(visible=not notes.archived), gr.update(visible=notes.archived))


def save_notes(run_dir: str, note: str, tags: str, lang: str) -> str:
    if not run_dir:
        return ""
    try:
        update_notes(Path(run_dir), text=note or "", tags=tags or "")
    except NotesRefused as err:
        return localize(err.message, lang)
    return text("history.saved", lang, run=Path(run_dir).name)


def set_archived(run_dir: str, archived: bool, lang: str) -> str:
    if not run_dir:
        return ""
    update_notes(Path(run_dir), archived=archived)
    return text("history.archived" if archived else "history.unarchived", lang, run=Path(run_dir).name)


def ask_delete(run_dir: str, lang: str) -> tuple:
    """(the run asked about, confirmation row shown, its question)."""
    if not run_dir or not Path(run_dir).is_dir():
        return None, gr.update(visible=False), ""
    question = text("history.delete_question", lang, run=Path(run_dir).name, size=folder_size(Path(run_dir)))
    return run_dir, gr.update(visible=True), question


def confirm_delete(pending: str | None, run_dir: str, lang: str) -> tuple:
    """(message, the page's run afterwards, what the timer drew, confirmation row hidden, nothing pending).
    The page leaves a run it deleted; a refusal (queued, training, outside the saves folder) says why."""
    hidden = gr.update(visible=False)
    if not pending:
        return "", run_dir, gr.skip(), hidden, None
    try:
        delete_run(pending)
    except RunActive as err:
        return localize(err.message, lang), run_dir, gr.skip(), hidden, None
    except (PathEscapeError, OSError) as err:  # not a run folder (any more), or a file that would not go
        return localize(_reason(err), lang), run_dir, gr.skip(), hidden, None
    message = text("history.deleted", lang, run=Path(pending).name)
    return (message, "", None, hidden, None) if run_dir == pending else (message, run_dir, gr.skip(), hidden, None)


def _reason(err: Exception) -> str:
    """The error's own sentence: an engine Message stays one, so the page can show it in its language."""
    first = err.args[0] if err.args else ""
    return first if isinstance(first, str) else str(err)


# ---------------------------------------------------------------------------------------------------------
# Wiring


def wire_history_panel(parts: dict, lang: gr.Radio, run_dir: gr.State, shown: gr.State) -> None:
    filters = [lang, parts["search"], parts["tag"], parts["archived"]]
    table = [parts["history"], parts["tag"]]
    for event in (parts["refresh"].click, parts["search"].submit, parts["tag"].input, parts["archived"].change,
                  lang.change):
        event(history_view, filters, table, show_progress="hidden")

    def select_run(event: gr.SelectData):
        chosen = run_view.run_dir_of_row(event.row_value)
        return chosen, None, gr.update(value=run_view.run_config_text(chosen), visible=True)

    parts["history"].select(select_run, None, [run_dir, shown, parts["run_config"]])
    editor = [parts[name] for name in ("editor", "heading", "note", "tags", "archive", "unarchive")]
    for event in (run_dir.change, lang.change):
        event(editor_view, [run_dir, lang], editor, show_progress="hidden")

    def after(message_event):  # a change shows its message, then the table and the editor as they are now
        message_event.then(history_view, filters, table, show_progress="hidden").then(
            editor_view, [run_dir, lang], editor, show_progress="hidden")

    after(parts["save"].click(save_notes, [run_dir, parts["note"], parts["tags"], lang], parts["message"]))
    for name, archived in (("archive", True), ("unarchive", False)):
        after(parts[name].click(lambda chosen, current, archived=archived: set_archived(chosen, archived, current),
                                [run_dir, lang], parts["message"]))
    parts["delete"].click(ask_delete, [run_dir, lang], [parts["pending"], parts["confirm"], parts["confirm_text"]])
    parts["confirm_no"].click(lambda: (None, gr.update(visible=False)), None, [parts["pending"], parts["confirm"]])
    after(parts["confirm_yes"].click(confirm_delete, [parts["pending"], run_dir, lang],
                                     [parts["message"], run_dir, shown, parts["confirm"], parts["pending"]]))
