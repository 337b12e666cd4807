"""A chat template that refuses rows is found before a model loads: Gemma 2's own template ("System role not
supported", tests/data/gemma2_chat_template.jinja as Google ships it) on demo_sharegpt, whose 11 of 44 rows have
a system prompt, is refused at Start with the rows and what to do, in English and Chinese."""
import shutil
from pathlib import Path

import pytest

from conftest import demo_config

GEMMA2_TEMPLATE = Path(__file__).parent / "data" / "gemma2_chat_template.jinja"
ROWS_WITH_SYSTEM = "2, 5, 9, 13, 17, 21, 25, 29 …"  # the first eight of demo_sharegpt's 11


@pytest.fixture
def gemma2_templated(tiny_model, tmp_path) -> Path:
    """The built-in model with Gemma 2's own chat template in place of its ChatML."""
    folder = tmp_path / "gemma2-templated"
    shutil.copytree(tiny_model, folder)
    shutil.copy(GEMMA2_TEMPLATE, folder / "chat_template.jinja")
    return folder


def config_for(model: Path, template: str = "auto"):
    return demo_config({"model.name_or_path": str(model), "model.template": template,
                        "data.datasets": ["demo_sharegpt"]})


def test_start_refuses_the_rows_a_template_refuses_before_the_model_loads(gemma2_templated):
    from engine.runs.preflight import preflight
    from webui.i18n import localize

    problems = preflight(config_for(gemma2_templated))
    assert len(problems) == 1
    english, chinese = str(problems[0]), localize(problems[0], "zh")
    assert "refuses 11 of 44 rows" in english and ROWS_WITH_SYSTEM in english
    assert '"System role not supported"' in english and "merge it into the first user turn" in english
    assert "44 行中的 11 行" in chinese and ROWS_WITH_SYSTEM in chinese and "系统提示词" in chinese


def test_the_studio_gemma_template_folds_the_system_prompt_and_passes(gemma2_templated):
    from engine.runs.preflight import template_problems

    assert template_problems(config_for(gemma2_templated, "gemma")) == []


def test_rows_refused_for_another_reason_get_the_general_advice(gemma2_templated):
    from engine.data.template_rows import refusal_message, template_refusals
    from engine.data.templates import load_template
    from engine.models.loading import load_tokenizer

    tokenizer = load_tokenizer(config_for(gemma2_templated).model)
    template = load_template("auto", tokenizer)
    assistant_first = [{"role": "assistant", "content": "Hi."}, {"role": "user", "content": "Hello?"}]
    fine = [{"role": "user", "content": "Hello?"}, {"role": "assistant", "content": "Hi."}]
    found = template_refusals(template, tokenizer, [fine, assistant_first, fine])
    assert found.rows == [2] and found.rendered == 3 and found.with_system == 0
    english = str(refusal_message("mine", "auto", found))
    assert "refuses 1 of 3 rows (rows 2)" in english and "Fix or remove these rows" in english
