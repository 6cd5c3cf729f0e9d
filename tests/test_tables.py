"""volley.tables: every input and output format round-trips; templates fail clearly before sending; schemas parse."""

import datetime as dt
import gzip
import json
import stat

import pyarrow as pa
import pyarrow.parquet as pq
import pydantic
import pytest

from volley.tables import TableError, TemplateError, make_template, open_table, write_table
from volley.tables.items import table_items
from volley.tables.results import RESULT_COLUMNS, check_collisions, column_names, result_columns
from volley.tables.schema import OutputParseError, OutputValidationError, Schema, SchemaError

ROWS = [
    {"id": "007", "text": 'Hello, "world"\nsecond line', "n": 1, "score": 0.5, "tags": ["a", "b"]},
    {"id": "008", "text": "héllo ✓ 日本", "n": 2, "score": None, "tags": []},
    {"id": "009", "text": "", "n": 3, "score": 2.25, "tags": ["c"]},
]


def texts(rows):
    """A row as CSV holds it: every value text (JSON for nested values, '' for null)."""
    out = []
    for r in rows:
        out.append({k: ("" if v is None else json.dumps(v) if isinstance(v, list) else str(v)) for k, v in r.items()})
    return out


# ------------------------------------------------------------------ round trips


@pytest.mark.parametrize("ext", [".parquet", ".arrow", ".feather", ".jsonl"])
def test_typed_formats_round_trip_exactly(tmp_path, ext):
    path = tmp_path / f"t{ext}"
    assert write_table(path, ROWS) == 3
    table = open_table(path)
    assert table.columns == ["id", "text", "n", "score", "tags"]
    assert list(table.rows()) == ROWS
    if ext != ".jsonl":
        assert table.num_rows == 3


@pytest.mark.parametrize("ext,sep", [(".csv", ","), (".tsv", "\t")])
def test_csv_and_tsv_round_trip_as_text(tmp_path, ext, sep):
    path = tmp_path / f"t{ext}"
    write_table(path, ROWS)
    assert path.read_text().splitlines()[0] == sep.join(ROWS[0])
    table = open_table(path)
    assert table.columns == list(ROWS[0]) and table.num_rows is None
    assert list(table.rows()) == texts(ROWS)  # "007" stays "007"; quotes, newlines and unicode survive


def test_arrow_stream_and_gzip_text_are_read(tmp_path):
    t = pa.Table.from_pylist(ROWS)
    with pa.OSFile(str(tmp_path / "s.arrows"), "wb") as sink, pa.ipc.new_stream(sink, t.schema) as w:
        w.write_table(t, max_chunksize=1)  # three batches
    stream = open_table(tmp_path / "s.arrows")
    assert stream.num_rows is None and list(stream.rows()) == ROWS
    with gzip.open(tmp_path / "g.csv.gz", "wt", encoding="utf-8") as f:
        f.write("q,n\na,1\n")
    assert list(open_table(tmp_path / "g.csv.gz").rows()) == [{"q": "a", "n": "1"}]
    with gzip.open(tmp_path / "g.jsonl.gz", "wt", encoding="utf-8") as f:
        f.write('{"q": "a"}\n\n{"q": "b"}\n')
    jsonl = open_table(tmp_path / "g.jsonl.gz")
    assert list(jsonl.rows()) == [{"q": "a"}, {"q": "b"}]
    assert [n for n, _ in jsonl.numbered_rows()] == [1, 3]  # JSONL rows are numbered by line, as volley run does


def test_parquet_is_read_in_batches_and_counted_from_its_metadata(tmp_path):
    n = 5000
    pq.write_table(pa.table({"i": list(range(n))}), tmp_path / "big.parquet", row_group_size=700)
    table = open_table(tmp_path / "big.parquet")
    assert table.num_rows == n
    it = table.rows()
    assert next(it) == {"i": 0}
    it.close()
    assert [r["i"] for r in table.rows()] == list(range(n))


def test_a_saved_hugging_face_dataset_directory(tmp_path):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"question": ["a?", "b?", "c?"], "k": [1, 2, 3]}).select([2, 0, 1])
    ds.save_to_disk(str(tmp_path / "ds"))
    table = open_table(tmp_path / "ds")
    assert table.format == "hf" and table.columns == ["question", "k"] and table.num_rows == 3
    assert list(table.rows()) == [{"question": "c?", "k": 3}, {"question": "a?", "k": 1}, {"question": "b?", "k": 2}]
    assert len(table.digest()) == 64
    datasets.DatasetDict({"train": ds, "test": ds}).save_to_disk(str(tmp_path / "dd"))
    with pytest.raises(TableError, match=r"DatasetDict with splits test, train.*dd/test"):
        open_table(tmp_path / "dd")
    (tmp_path / "plain").mkdir()
    with pytest.raises(TableError, match="not a saved Hugging Face dataset"):
        open_table(tmp_path / "plain")


def test_input_problems_are_clear(tmp_path):
    with pytest.raises(TableError, match="does not exist"):
        open_table(tmp_path / "nope.csv")
    (tmp_path / "x.xlsx").write_text("")
    with pytest.raises(TableError, match=r"cannot tell the table format.*\.parquet"):
        open_table(tmp_path / "x.xlsx")
    (tmp_path / "dup.csv").write_text("a,b,a\n1,2,3\n")
    with pytest.raises(TableError, match="'a' appears twice"):
        open_table(tmp_path / "dup.csv")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(TableError, match="no header"):
        open_table(tmp_path / "empty.csv")
    (tmp_path / "ragged.csv").write_text("a,b\n1,2\n1,2,3\n4,5\n")
    rows = list(open_table(tmp_path / "ragged.csv").numbered_rows())
    assert rows[0] == (1, {"a": "1", "b": "2"}) and rows[2] == (3, {"a": "4", "b": "5"})
    assert isinstance(rows[1][1], TableError) and "ragged.csv:3: 3 fields, but the header has 2" in str(rows[1][1])
    (tmp_path / "bad.jsonl").write_text('{"a": 1}\n{oops\n[1]\n')
    table = open_table(tmp_path / "bad.jsonl")
    got = [r for _, r in table.numbered_rows()]
    assert (
        got[0] == {"a": 1}
        and "bad.jsonl:2: not valid JSON" in str(got[1])
        and "bad.jsonl:3: a line must be" in str(got[2])
    )
    with pytest.raises(TableError, match=r"bad\.jsonl:2"):
        list(table.rows())
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(TableError, match=r"junk\.parquet: cannot read it as parquet"):
        open_table(tmp_path / "junk.parquet")


def test_a_csv_cell_longer_than_the_csv_modules_default_limit(tmp_path):
    long = "x" * 300_000
    (tmp_path / "long.csv").write_text(f"text\n{long}\n")
    assert next(open_table(tmp_path / "long.csv").rows()) == {"text": long}


def test_a_bom_is_not_part_of_the_first_column_name(tmp_path):
    (tmp_path / "bom.csv").write_bytes("\ufeffq,a\nx,y\n".encode())
    assert open_table(tmp_path / "bom.csv").columns == ["q", "a"]


# ------------------------------------------------------------------ writers


def test_written_files_are_private_and_replaced_atomically(tmp_path):
    for ext in (".parquet", ".csv", ".jsonl"):
        path = tmp_path / f"o{ext}"
        write_table(path, ROWS)
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.csv", "o.jsonl", "o.parquet"]  # no temp file left

    def boom():
        yield ROWS[0]
        raise RuntimeError("disk on fire")

    before = (tmp_path / "o.csv").read_bytes()
    with pytest.raises(RuntimeError):
        write_table(tmp_path / "o.csv", boom(), columns=list(ROWS[0]))
    assert (tmp_path / "o.csv").read_bytes() == before  # the old file stands, and no temp file is left
    assert len(list(tmp_path.iterdir())) == 3


def test_parquet_keeps_given_types_and_encodes_mixed_columns_as_json(tmp_path):
    rows = [
        {"when": dt.datetime(2024, 1, 2, 3, 4, 5), "tokens": None, "meta": {"a": 1}},
        {"when": dt.datetime(2024, 1, 3), "tokens": None, "meta": "plain"},
    ]
    write_table(tmp_path / "o.parquet", rows, types={"tokens": "int64"})
    t = pq.read_table(tmp_path / "o.parquet")
    assert t.schema.field("tokens").type == pa.int64()
    assert pa.types.is_timestamp(t.schema.field("when").type)
    assert t.column("meta").to_pylist() == ['{"a": 1}', '"plain"']  # nothing lost


def test_types_are_unified_across_chunks(tmp_path, monkeypatch):
    from volley.tables import write as write_mod

    monkeypatch.setattr(write_mod, "CHUNK_ROWS", 2)
    rows = [{"x": None}, {"x": None}, {"x": 1}, {"x": 2.5}, {"x": None}]
    write_table(tmp_path / "o.parquet", rows)
    assert pq.read_table(tmp_path / "o.parquet").column("x").to_pylist() == [None, None, 1.0, 2.5, None]


def test_jsonl_and_csv_writers_turn_values_into_plain_data(tmp_path):
    rows = [{"f": float("nan"), "d": dt.date(2024, 5, 6), "b": b"\x00\x01", "t": True, "nested": {"k": [1]}}]
    write_table(tmp_path / "o.jsonl", rows)
    assert json.loads((tmp_path / "o.jsonl").read_text()) == {
        "f": None, "d": "2024-05-06", "b": "AAE=", "t": True, "nested": {"k": [1]}
    }  # fmt: skip
    write_table(tmp_path / "o.csv", rows)
    assert (tmp_path / "o.csv").read_text().splitlines()[1] == ',2024-05-06,AAE=,true,"{""k"": [1]}"'


def test_an_empty_table_still_has_its_columns(tmp_path):
    write_table(tmp_path / "e.parquet", [], columns=["a", "answer"], types={"answer": "string"})
    assert pq.read_table(tmp_path / "e.parquet").column_names == ["a", "answer"]
    write_table(tmp_path / "e.csv", [], columns=["a", "answer"])
    assert (tmp_path / "e.csv").read_text() == "a,answer\n"


def test_an_unknown_output_extension_is_refused(tmp_path):
    with pytest.raises(TableError, match=r"follows the extension.*\.parquet"):
        write_table(tmp_path / "o.xlsx", ROWS)


# ------------------------------------------------------------------ templates


def test_a_missing_column_names_it_and_the_columns_there_are():
    with pytest.raises(TemplateError) as e:
        make_template(["id", "text"], "Summarize: {txt}")
    msg = str(e.value)
    assert "'txt'" in msg and "columns: id, text" in msg and "did you mean 'text'" in msg
    with pytest.raises(TemplateError, match=r"system template .*'role'.*columns: id, text"):
        make_template(["id", "text"], "{text}", system="You are a {role}")
    with pytest.raises(TemplateError, match="--id-column uses column 'key'"):
        make_template(["id", "text"], "{text}", id_column="key")
    with pytest.raises(TemplateError, match="--messages-column uses column 'msgs'"):
        make_template(["id", "text"], messages_column="msgs")


def test_template_syntax():
    t = make_template(["text", "meta", "score"], "{{literal}} {text} {meta[lang]} {score:.1f}")
    assert t.messages({"text": "hi", "meta": {"lang": "fr"}, "score": 0.25})[0]["content"] == "{literal} hi fr 0.2"
    assert t.columns_used() == ["text", "meta", "score"]
    with pytest.raises(TemplateError, match=r"not valid.*write \{\{ and \}\}"):
        make_template(["text"], "Summarize: {text")
    with pytest.raises(TemplateError, match="positional field"):
        make_template(["text"], "Summarize: {}")
    assert make_template(["text"], "{text}").messages({"text": None}) == [{"role": "user", "content": ""}]


def test_system_id_and_default_columns():
    t = make_template(["id", "q", "domain"], "{q}", system="Expert in {domain}.", id_column="id")
    row = {"id": 7, "q": "why?", "domain": "cats"}
    assert t.messages(row) == [{"role": "system", "content": "Expert in cats."}, {"role": "user", "content": "why?"}]
    assert t.row_id(row, 1) == "7" and make_template(["q"], "{q}").row_id(row, 3) == "row-3"
    assert make_template(["prompt", "x"]).prompt == "{prompt}"
    assert make_template(["x", "text"]).prompt == "{text}"
    assert make_template(["messages"]).messages_column == "messages"
    with pytest.raises(TemplateError, match=r'say what to send.*columns \(a, b\).*"Summarize: \{a\}"'):
        make_template(["a", "b"])
    with pytest.raises(TemplateError, match="not both"):
        make_template(["m", "q"], "{q}", messages_column="m")


def test_a_messages_column_holds_a_list_or_its_json():
    msgs = [{"role": "user", "content": "hi"}]
    t = make_template(["m"], messages_column="m", system="Be brief.")
    assert t.messages({"m": msgs}) == [{"role": "system", "content": "Be brief."}, *msgs]
    assert t.messages({"m": json.dumps(msgs)})[1] == msgs[0]
    own = [{"role": "system", "content": "mine"}, *msgs]
    assert t.messages({"m": own}) == own  # its own system message is kept, not doubled
    with pytest.raises(TemplateError, match=r"the first row: column 'm' must hold .*not JSON: 'hello'"):
        make_template(["m"], messages_column="m", first={"m": "hello"})
    with pytest.raises(TemplateError, match="message 0 must be an object with a 'role'"):
        make_template(["m"], messages_column="m", first={"m": [{"content": "no role"}]})


def test_table_items_turn_bad_rows_into_errors_not_exceptions(tmp_path):
    (tmp_path / "in.jsonl").write_text(
        '{"id": "a", "q": "one"}\n{oops\n{"id": "a", "q": "dup"}\n{"id": "", "q": "no id"}\n{"id": "b"}\n'
    )
    table = open_table(tmp_path / "in.jsonl")
    template = make_template(table.columns, "Q: {q}", id_column="id", first=table.first())
    items = list(table_items(table, template))
    assert [i.line for i in items] == [1, 2, 3, 4, 5]
    assert items[0].messages == [{"role": "user", "content": "Q: one"}] and items[0].custom_id == "a"
    assert "not valid JSON" in items[1].error and items[1].custom_id == "row-2"
    assert "duplicate id 'a' (first in row 1)" in items[2].error
    assert "id column 'id' is empty" in items[3].error
    assert "uses column 'q', which this row does not have" in items[4].error
    assert all(i.messages is None for i in items[1:])


# ------------------------------------------------------------------ schema and result columns


class Review(pydantic.BaseModel):
    sentiment: str
    stars: int
    note: str | None = None


def test_a_pydantic_schema_is_made_strict_and_parses_answers():
    s = Schema.of(Review)
    assert s.fields == ["sentiment", "stars", "note"]
    rf = s.response_format()
    assert rf["type"] == "json_schema" and rf["json_schema"]["name"] == "Review" and rf["json_schema"]["strict"]
    js = rf["json_schema"]["schema"]
    assert js["additionalProperties"] is False and js["required"] == ["sentiment", "stars", "note"]
    assert "default" not in js["properties"]["note"]
    assert s.parse('{"sentiment": "pos", "stars": 5}') == {"sentiment": "pos", "stars": 5, "note": None}
    assert s.parse('```json\n{"sentiment": "neg", "stars": 1, "note": "meh"}\n```')["note"] == "meh"
    with pytest.raises(OutputParseError, match="not valid JSON"):
        s.parse("I think it is positive")
    with pytest.raises(OutputValidationError, match="stars"):
        s.parse('{"sentiment": "pos", "stars": "many"}')


def test_a_json_schema_dict_is_checked_with_jsonschema():
    schema = {"title": "My Label!", "type": "object", "properties": {"label": {"type": "string"}},
              "required": ["label"], "additionalProperties": False}  # fmt: skip
    s = Schema.of(schema)
    assert s.name == "My_Label_" and s.response_format()["json_schema"]["schema"] == schema
    assert s.parse('{"label": "x"}') == {"label": "x"}
    with pytest.raises(OutputValidationError, match="at label: 5 is not of type 'string'"):
        s.parse('{"label": 5}')
    with pytest.raises(SchemaError, match="must describe a JSON object"):
        Schema.of({"type": "string"})


def test_schemas_load_by_import_path_or_file(tmp_path):
    assert Schema.load(f"{Review.__module__}:Review").model is Review
    (tmp_path / "s.json").write_text(json.dumps({"type": "object", "properties": {"a": {"type": "integer"}}}))
    assert Schema.load(tmp_path / "s.json").fields == ["a"]
    (tmp_path / "bad.json").write_text("{nope")
    with pytest.raises(SchemaError, match=r"bad\.json is not valid JSON"):
        Schema.load(tmp_path / "bad.json")
    with pytest.raises(SchemaError, match="cannot import no_such_module"):
        Schema.load("no_such_module:Model")
    with pytest.raises(SchemaError, match="has no attribute 'Nope'"):
        Schema.load(f"{Review.__module__}:Nope")
    with pytest.raises(SchemaError, match=r"package\.module:Class"):
        Schema.load("justaname")


def test_result_columns_of_an_answer_and_of_an_error():
    import volley

    body = {
        "model": "gpt-4o-mini-2024",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": '{"sentiment": "pos", "stars": 4}'},
                     "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15,
                  "prompt_tokens_details": {"cached_tokens": 8}},
    }  # fmt: skip
    r = volley.ModelResponse.model_validate(body)
    cols = result_columns(r, schema=Schema.of(Review), attempts=2)
    assert list(cols) == column_names(Schema.of(Review))
    assert cols["sentiment"] == "pos" and cols["stars"] == 4 and cols["cached_tokens"] == 8
    assert cols["prompt_tokens"] == 10 and cols["model"] == "gpt-4o-mini-2024" and cols["attempts"] == 2
    assert cols["error_type"] is None
    err = result_columns(volley.RateLimitError("slow down", model="m", provider="openai"))
    assert list(err) == list(RESULT_COLUMNS)
    assert err["error_type"] == "RateLimitError" and err["error_message"] == "slow down" and err["answer"] is None
    assert err["model"] == "m" and err["provider"] == "openai"


def test_input_columns_that_results_would_hide_are_refused():
    with pytest.raises(ValueError, match=r"already has column\(s\) answer, cost_usd.*prefix"):
        check_collisions(["q", "answer", "cost_usd"])
    check_collisions(["q", "answer"], prefix="new_")
    with pytest.raises(ValueError, match="stars"):
        check_collisions(["stars"], Schema.of(Review))


def test_a_missing_optional_package_names_the_pip_command(monkeypatch):
    import sys

    from volley._optional import MissingDependencyError, need

    monkeypatch.setitem(sys.modules, "plotly", None)  # as if not installed
    with pytest.raises(
        MissingDependencyError, match=r"charts needs the plotly package.*pip install 'volley-llm\[report\]'"
    ):
        need("plotly", extra="report", purpose="drawing the charts")
    monkeypatch.setitem(sys.modules, "datasets", None)
    with pytest.raises(
        MissingDependencyError, match=r"needs the datasets package, which is not installed: pip install datasets$"
    ):
        need("datasets", extra=None, purpose="reading a saved dataset")
