"""engine/data/json_problems.py: a JSON mistake named in plain words, at the line where the fix goes."""
import json

import pytest

from engine.data.json_problems import file_problem, line_problem
from webui.i18n import localize

ROWS = "[\n" + "".join(f'  {{"instruction": "q{n}", "output": "a{n}"}},\n' for n in range(1, 15))


def problem_of(text: str):
    with pytest.raises(json.JSONDecodeError) as raised:
        json.loads(text)
    return file_problem(raised.value)


@pytest.mark.parametrize("text, expected", [
    # The case: 14 rows and a comma after the last one; json says "Expecting value" at line 16.
    (ROWS + "]\n", "a comma before `]` on line 15 (JSON allows no comma after the last item): remove the comma "
                   "at line 15, column 42"),
    ('[\n  {"instruction": "Say hi", "output": "Hi",}\n]', "a comma before `}` on line 2"),
    ('[\n  {"a": 1}\n  {"a": 2}\n]', "a comma `,` is probably missing after the value that ends on line 2"),
    ("[{'a': 1}]", "line 1 uses single quotes"),
    ('[\n{"a": "hello}]', "the text that starts at line 2, column 7 has no closing double quote"),
    ('[{"a": "two\nlines"}]', "line 1 has a line break or tab inside quoted text"),
    ('[{"a": 1}', "the file ends too early"),
    ('[{"a": 1},', "the file ends too early"),
    ('{"a": 1}\n{"a": 2}\n', "a second value starts on line 2; the file looks like JSON Lines"),
    ('[{"a": tru}]', "Expecting value at line 1, column 8"),
])
def test_the_likely_mistake_is_named(text, expected):
    assert expected in problem_of(text)


def test_a_json_lines_line_and_both_languages():
    with pytest.raises(json.JSONDecodeError) as raised:
        json.loads('{"instruction": "q", "output": "a",}')
    problem = line_problem(raised.value, 7)
    assert problem.startswith("line 7 is not valid JSON: a comma before `}` on line 7")
    assert localize(problem, "zh").startswith("第 7 行不是合法的 JSON：第 7 行在 `}` 前多了一个逗号")
    assert "Expecting" not in localize(problem_of(ROWS + "]"), "zh")
