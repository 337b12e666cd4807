"""The English of what the studio says about datasets — reading, checking, detecting, bounding and cleaning
them (engine/data/) — grouped by the module that speaks: code -> template. engine/messages/english.py holds the
rest and joins both into ENGLISH. Add new codes at the end of their group.
"""
from __future__ import annotations

DATA_ENGLISH: dict[str, str] = {
    # engine/data: what a dataset holds (engine/data/formats.py FormatSpec.holds, describe_kind)
    "data.holds.alpaca": "alpaca instructions",
    "data.holds.sharegpt": "sharegpt conversations",
    "data.holds.openai": "OpenAI-style messages",
    "data.holds.preference": "preference pairs (chosen/rejected)",
    "data.holds.kto": "answers marked good or bad (KTO)",
    "data.holds.text": "plain text",
    "data.kind.conversation": "conversations",
    "data.kind.preference": "preference pairs (chosen/rejected)",
    "data.kind.kto": "unpaired answers marked good or bad (KTO)",
    "data.kind.text": "plain text",
    "data.kinds_either": "{first} or {rest}",
    "data.stage_needs": "stage {stage} needs {needs}; {dataset} is {holds}",
    # images in datasets (engine/data/images.py)
    "images.not_a_path": "an image entry must be a file path relative to the data folder; got {value}",
    "images.outside": "image {name!r} points outside the data folder; keep images inside it",
    "images.not_a_list": "field {column!r} must be a list of image paths",
    "images.count_mismatch": "{placeholders} <image> placeholder(s) in the text but {images} image(s) listed; "
                             "there must be one image per placeholder, in order",
    "images.missing": "image {name} was not found in the data folder; upload it with the dataset",
    "images.not_an_image": "{name} is not an image file (PNG, JPEG, WebP, BMP or GIF)",
    "images.unreadable": "image {name} could not be read ({error}); it may be truncated or damaged",
    "images.too_large": "image {name} is {width}×{height} pixels; the largest side may be at most {limit} pixels, "
                        "so shrink it first",
    # JSON that does not parse (engine/data/json_problems.py): the likely mistake and where the fix goes
    "json.invalid_file": "invalid JSON: {problem}",
    "json.invalid_line": "line {line} is not valid JSON: {problem}",
    "json.array_in_jsonl": "line 1 is not valid JSON: the file looks like a JSON array; name it .json",
    "json.trailing_comma": "a comma before `{closer}` on line {line} (JSON allows no comma after the last item): "
                           "remove the comma at line {line}, column {column}",
    "json.missing_comma": "a comma `,` is probably missing after the value that ends on line {line} (the next one "
                          "starts on line {next_line})",
    "json.single_quotes": "line {line} uses single quotes ('); JSON needs double quotes (\") around names and text",
    "json.unclosed_text": "the text that starts at line {line}, column {column} has no closing double quote (\")",
    "json.control_character": "line {line} has a line break or tab inside quoted text; write it as \\n or \\t",
    "json.unexpected_end": "the file ends too early: a closing bracket `]` or brace is probably missing at the end",
    "json.several_values": "a second value starts on line {line}; the file looks like JSON Lines (one object per "
                           "line): name it .jsonl",
    "json.error_at": "{detail} at line {line}, column {column}",
    "names.dataset_name_taken": "the dataset name {name!r} is already registered (the file is fine); pick another "
                                "name",
    "json.missing_comma_on_line": "a comma `,` is probably missing on line {line}, before column {column}",
    # engine/data: the check report (engine/data/reader.py Report, checker.py, rules.py, formats.py)
    "check.header": "{file}: {rows} rows",
    "check.header_format": "{file}: {rows} rows, format {formatting} (confidence {confidence})",
    "check.reason_line": "  {reason}",
    "check.usable": "usable: no problems found",
    "check.not_usable_one": "not usable: 1 problem",
    "check.not_usable": "not usable: {count} problems",
    "check.problem_line": "  - {problem}",
    "check.more": "  ... and {count} more",
    "check.at_row": "row {row}: {problem}",
    "check.at_field": "field {field!r}: {problem}",
    "check.at_row_field": "row {row}, field {field!r}: {problem}",
    "check.in_file": "{file}: {problem}",
    "check.value.bool": "true/false",
    "check.value.number": "a number",
    "check.value.list": "a list",
    "check.value.object": "an object",
    "check.value.text": "text",
    "check.value.null": "null",
    "check.binary.zip": "ZIP archive (an .xlsx or .docx is one too)",
    "check.binary.gzip": "gzip archive",
    "check.binary.pdf": "PDF document",
    "check.binary.png": "PNG image",
    "check.binary.jpeg": "JPEG image",
    "check.binary.parquet": "Parquet file",
    "check.binary.sqlite": "SQLite database",
    "check.binary.elf": "program (ELF executable)",
    "check.empty_file": "the file is empty (0 bytes); it needs at least one row",
    "check.binary_kind": "this is a {kind}, not a {suffix} text file; export the data as {suffix}",
    "check.utf16": "the file is UTF-16 encoded; save it as UTF-8 (in most editors: Save As → Encoding → UTF-8)",
    "check.nul_byte": "this is a binary file (a NUL byte at byte offset {offset}), not {suffix} text",
    "check.parquet_is_text": "this is not a Parquet file: it is text starting with {start!r}; rename it to .json, "
                             ".jsonl or .csv to match what it holds",
    "check.parquet_signature": "this is not a Parquet file (it lacks the PAR1 signature); export it again as Parquet",
    "check.whitespace_only": "the file holds only whitespace; it needs at least one row",
    "check.not_utf8": "the file is not valid UTF-8: byte 0x{byte} at byte offset {offset} (line {line}) cannot be "
                      "decoded ({reason}); it is probably Latin-1/Windows-1252 or GBK text — save it as UTF-8",
    "check.json_too_big": "the file is a {size} MB JSON array; arrays over {limit} MB are not read whole. Convert it "
                          "to JSON Lines (.jsonl, one object per line), which is checked and loaded row by row",
    "check.top_level": "the top level is {kind}; it must be a list of rows: [{{...}}, {{...}}]",
    "check.top_level_under": "the top level is {kind}; it must be a list of rows: [{{...}}, {{...}}] (the rows seem "
                             "to be under {key!r}: keep only that list)",
    "check.csv_header": "the CSV header {header} must name every column once",
    "check.csv_fields": "has {fields} fields but the header has {columns} (line {line}); a quote or comma is "
                        "probably out of place",
    "check.csv_quoting": "broken CSV quoting near line {line}: {error}; every quoted field must be closed, and a "
                         "quote inside one is written twice (\"\")",
    "check.parquet_unreadable": "could not be read as Parquet: {error}",
    "check.folder_empty": "folder {folder} holds no {suffixes} file",
    "check.unsupported_in_file": "{file}: unsupported file type {suffix!r}; use {suffixes}",
    "check.not_utf8_short": "{file} is not UTF-8 text (byte {byte}); save it as UTF-8 and upload again",
    "check.not_objects": "{file} must hold a list of objects (one per example)",
    "check.no_rows_in": "{file} has no rows",
    "check.unknown_formatting": "unknown format {formatting!r}; use auto or one of: {formats}",
    "check.folder_mixed": "{file} holds {formatting} data but {first} holds {other}; keep one format per folder",
    "check.missing_file": "{path} does not exist",
    "check.unsupported": "unsupported file type {suffix!r}; use {suffixes}",
    "check.unknown_format": "unknown format: {reason}",
    "check.row_not_object": "is {kind}, not an object; each row must be {{\"column\": value, ...}}",
    "check.row_empty": "is empty; remove it",
    "check.no_rows": "the file has no rows",
    "check.all_empty": "all {count} rows are empty; there is nothing to train on",
    "check.mixed_formats": "mixed formats: this row looks like {shape} but the file is {formatting}; keep one format "
                           "per file (split it into two files)",
    "check.long_row": "is {tokens} tokens, {ratio}× the cutoff length {cutoff}; training would keep only the start "
                      "— shorten or split it, or raise the cutoff",
    "check.long_row_about": "is about {tokens} tokens, {ratio}× the cutoff length {cutoff}; training would keep only "
                            "the start — shorten or split it, or raise the cutoff",
    "check.not_registered": "dataset {name!r} is not registered",
    "check.upload_too_big": "the file is {size} MB; uploads are limited to {limit} MB — split it into smaller files",
    "check.not_imported": "{file} was not imported (nothing was registered):\n{report}",
    # engine/data/rules.py: one row against its format
    "rules.missing_column": "missing; every {label} row needs the column {column!r}",
    "rules.not_text": "must be text, but is {kind}",
    "rules.empty": "is empty; every row needs it",
    "rules.history_pairs": "must be a list of [question, answer] pairs of text",
    "rules.missing": "missing; every {label} row needs it",
    "rules.no_turns": "must be a non-empty list of turns",
    "rules.turn_not_object": "turn {turn} must be an object with {role_tag!r} and {content_tag!r}",
    "rules.unknown_role": "turn {turn} has {role_tag}={role!r}; role names must be {user!r}, {assistant!r} or "
                          "{system!r} (first turn only)",
    "rules.out_of_order": "turns out of order: turn {turn} is from {role!r} but should be from {expected!r}; turns "
                          "alternate {user}, {assistant}, {user}, ...",
    "rules.empty_content": "turn {turn} has an empty or non-text {content_tag!r}",
    "rules.last_turn": "the last turn must be from {role!r}",
    "rules.pair_missing": "is missing, empty or not text; every preference row needs a chosen and a rejected answer",
    "rules.pair_identical": "is identical to 'chosen'; a preference pair needs two different answers",
    "rules.kto_label": "must be true or false (is the answer desirable?), but is {kind}",
    # engine/data/formats.py: what detection saw
    "data.signature.alpaca": "instruction/output",
    "data.signature.sharegpt": "conversations with from/value turns",
    "data.signature.openai": "messages with role/content turns",
    "data.signature.preference": "chosen/rejected",
    "data.signature.kto": "a boolean label",
    "data.signature.text": "only text",
    "data.reason.no_rows": "there are no rows to look at",
    "data.reason.unknown": "none of {total} rows looks like a known format (columns seen: {columns}); expected "
                           "instruction/output (alpaca), conversations or messages (sharegpt / OpenAI), "
                           "chosen/rejected (preference), a boolean label (KTO) or text",
    "data.reason.forced": "format set to {label}; {matching} of {total} rows have {what}",
    "data.reason.detected": "{matching} of {total} rows have {what}; looks like {label}",
    "data.reason.detected_others": "{matching} of {total} rows have {what}; looks like {label} ({others})",
    "data.reason.other_shape": "{count} look like {shape}",
    "data.none": "none",
    # engine/data/registry.py: a registry file that cannot be read (the studio starts; its pickers leave it out)
    "registry.not_json": "{path} is not valid JSON (line {line}, column {column}): {error}",
    "registry.not_utf8": "{path} is not UTF-8 text",
    "registry.too_deep": "{path} nests too deeply to read",
    "registry.not_object": "{path} must be a JSON object of dataset names; it is {kind}",
    "registry.unreadable": "{path} cannot be read: {error}",
    "registry.broken_note": "the dataset registry cannot be read, so its datasets are not offered: {problems}",
    # engine/data/reader.py: a dataset folder's files stay inside it
    "check.folder_link_out": (
        "{file} in dataset folder {folder} is a link to a file outside that folder; only files inside it are read"
    ),
    # engine/data/template_bounds.py: a model's own chat template, rendered once under bounds
    "template.too_long": (
        "the model's own chat template writes more than {limit} characters for a four-message sample, so it is "
        "not used; pick one of the studio's templates"
    ),
    "template.too_slow": (
        "the model's own chat template takes more than {seconds} s to render a four-message sample, so it is "
        "not used; pick one of the studio's templates"
    ),
    # engine/data/reader.py: bounds on what one value, row or file may hold while read
    "check.nested_too_deep": (
        "the JSON nests too deeply to read (thousands of levels); a row is an object of fields"
    ),
    "check.value_too_big": (
        "holds a value of {size} MB; a value may hold at most {limit} MB"
    ),
    "check.row_too_big": (
        "holds more than {limit} MB of text; a row may hold at most {limit} MB"
    ),
    "check.csv_value_too_big": (
        "line {line}: a value is longer than {limit} MB, and the rows after it cannot be found; split the value or the file"
    ),
    "check.parquet_rows_expand": (
        "the rows expand beyond {limit} MB when decompressed — split the file into smaller files"
    ),
    "check.parquet_row_too_big": (
        "holds {size} MB of text (largest value {largest} MB); a row may hold at most {row_limit} MB, a value {value_limit} MB"
    ),
    "check.parquet_expands": (
        "the file expands to {size} MB when decompressed; at most {limit} MB are read — split it into smaller files"
    ),
    "check.parquet_row_group": (
        "a row group expands to {size} MB when decompressed; at most {limit} MB per row group are read — write it with smaller row groups"
    ),
    # engine/data/cleaning.py
    "cleaning.bad_ratio": "validation_ratio must be between 0 and 0.5; got {ratio}",
    "cleaning.wrong_kind": "dataset {name!r} is {label} data; cleaning works on instruction data ({kinds})",
    "failure.silent.disk_full": "the training process died while its disk was full",
    "failure.silent.killed": "the training process was killed before it finished",
    "failure.silent.before_start": "the training process ended before it could start; the end of train.log:\n{tail}",
    # engine/data/encoding_parts.py
    "data.encode_stalled": (
        "encoding stalled: rows {first}–{last} brought no result within {seconds} s (a part takes about a second), "
        "so the run was stopped instead of waiting forever; start it again, and if it stalls again free some "
        "memory or CPU, or raise the bound with the environment variable {setting}"
    ),
    "data.encode_start_stalled": (
        "the encoding processes did not start within {seconds} s; the machine may be out of memory or overloaded "
        "— free some and start the run again"
    ),
    "data.encode_process_died": (
        "an encoding process died (exit code {code}), most often for lack of memory; free some memory, or lower "
        "Max samples, and start the run again"
    ),
    # engine/data/hub.py: what a registry entry may name
    "data.cloud_not_remote": "dataset {dataset}: cloud_file_name must be an address in cloud storage ({schemes}); "
                             "got {value}. Put a local file beside the registry and name it in file_name",
    "data.location_outside": "dataset {dataset}: {key} {value} is a path outside the dataset folder {folder}; keep "
                             "the data inside that folder and name it relative to it",
    "data.hub_bad_id": "dataset {dataset}: {key} {value} is not a dataset id (owner/name, e.g. "
                       "llamafactory/alpaca_en); correct it in the registry",
    "data.subfolder_outside": "dataset {dataset}: folder {value} must be a folder inside the dataset, named "
                              "relative to it (no leading / and no ..)",
    # engine/data/archives.py: the archive as a whole
    "archive.total_ratio": "the archive's {entries} entries unpack to {size} MB, {ratio} times its compressed size "
                           "(at most {limit} times): it is refused as a zip bomb; zip the dataset as it is",
    "archive.disk_full": "the archive unpacks to {size} MB but only {free} MB are free on the disk; free some space "
                         "first",
    "archive.data_folder_full": "the data folder holds {used} MB and this archive would add {size} MB (at most "
                                "{limit} MB in all); delete datasets you no longer need first",
    "data.stage_needs_fix": "stage {stage} needs {needs}; {dataset} is {holds}: pick a dataset that holds them "
                            "({fitting}) in the Data tab, or a stage that trains on what {dataset} holds",
    "data.none_registered": "none registered yet: upload one",
    # engine/data/template_rows.py: the chat template rendered on every row before a model loads
    "template.refuses_rows": (
        "dataset {dataset}: the chat template ({template}) refuses {count} of {total} rows (rows {rows}): "
        "\"{error}\". {advice}"
    ),
    "template.system_advice": (
        "Each of these rows has a system prompt, which this template does not accept. Drop the system prompt "
        "(the system column, or the system turns), merge it into the first user turn, or pick another template in "
        "the Model tab (model.template; e.g. gemma, which folds a system prompt into the first user turn)"
    ),
    "template.rows_advice": (
        "Fix or remove these rows (see the template's words above), or pick another template in the Model tab "
        "(model.template)"
    ),
}
