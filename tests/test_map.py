"""volley.map / amap against the fake server: every input kind comes back as itself, in order, with the answers."""

import json

import pydantic
import pytest

import volley
from volley.tables import TemplateError

KEY = "sk-test-map-0123456789"
RESULTS = ["answer", "finish_reason", "prompt_tokens", "completion_tokens", "cached_tokens", "cost_usd", "latency_s",
           "model", "provider", "attempts", "error_type", "error_message"]  # fmt: skip


def kw(fake, **extra):
    return {"api_base": fake.openai_base, "api_key": KEY, "num_retries": 0, **extra}


def test_a_pandas_dataframe_round_trips_in_order_with_a_failing_row(fake):
    pd = pytest.importorskip("pandas")
    fake.script("m", latency=(0.0, 0.03), seed=3, failures=[None, None, 500])
    df = pd.DataFrame({"q": [f"question {i}" for i in range(12)], "n": range(12)}, index=[f"r{i}" for i in range(12)])
    out = volley.map(df, "openai/m", "Q{n}: {q}", max_workers=1, **kw(fake))
    assert isinstance(out, pd.DataFrame) and list(out.index) == list(df.index)
    assert list(out.columns) == ["q", "n", *RESULTS]
    pd.testing.assert_frame_equal(out[["q", "n"]], df)  # the input columns untouched, input not mutated
    assert list(df.columns) == ["q", "n"]
    failed = out[out["error_type"].notna()]
    assert list(failed.index) == ["r2"] and failed.iloc[0]["error_type"] == "InternalServerError"
    assert failed.iloc[0]["answer"] is None and pd.isna(failed.iloc[0]["prompt_tokens"])
    ok = out.drop(index="r2")
    assert list(ok["answer"]) == [f"echo: Q{n}: question {n}" for n in ok["n"]]
    assert ok["prompt_tokens"].dtype == "Int64" and (ok["completion_tokens"] > 0).all()
    assert set(ok["provider"]) == {"openai"} and set(ok["model"]) == {"m"} and (ok["latency_s"] > 0).all()
    assert len(fake.requests) == 12


def test_a_polars_dataframe_round_trips(fake):
    pl = pytest.importorskip("polars")
    fake.script("gpt-4o-mini", latency=(0.0, 0.02), seed=1)
    df = pl.DataFrame({"id": [3, 1, 2], "text": ["c", "a", "b"]})
    out = volley.map(df, "openai/gpt-4o-mini", "Say {text}", **kw(fake))
    assert isinstance(out, pl.DataFrame) and out.columns == ["id", "text", *RESULTS]
    assert out["id"].to_list() == [3, 1, 2] and out["answer"].to_list() == ["echo: Say c", "echo: Say a", "echo: Say b"]
    assert out.schema["prompt_tokens"] == pl.Int64 and out.schema["cost_usd"] == pl.Float64
    assert all(c > 0 for c in out["cost_usd"].to_list())  # gpt-4o-mini has a price
    assert out["error_type"].null_count() == 3


def test_a_datasets_dataset_round_trips(fake):
    datasets = pytest.importorskip("datasets")
    ds = datasets.Dataset.from_dict({"question": ["x?", "y?", "z?"], "k": [1, 2, 3]}).select([2, 0, 1])
    fake.script("m", failures=[None, 429])
    out = volley.map(ds, "openai/m", "{question}", max_workers=1, **kw(fake))
    assert isinstance(out, datasets.Dataset) and out.column_names == ["question", "k", *RESULTS]
    assert out["k"] == [3, 1, 2] and out["question"] == ["z?", "x?", "y?"]
    assert out["answer"] == ["echo: z?", None, "echo: y?"]
    assert out["error_type"] == [None, "RateLimitError", None]
    assert out.features["prompt_tokens"].dtype == "int64" and out.features["answer"].dtype == "string"


def test_lists_of_strings_and_of_dicts(fake):
    out = volley.map(["one", "two"], "openai/m", **kw(fake))
    assert [r["text"] for r in out] == ["one", "two"] and [r["answer"] for r in out] == ["echo: one", "echo: two"]
    rows = [{"prompt": "hi", "metadata": {"user": 7}}, {"prompt": "yo", "metadata": {"user": 8}}]
    out = volley.map(rows, "openai/m", system="Be brief.", **kw(fake))
    assert [r["metadata"] for r in out] == [{"user": 7}, {"user": 8}]  # metadata carried through
    assert rows[0] == {"prompt": "hi", "metadata": {"user": 7}}  # the caller's dicts are not changed
    assert fake.requests[-1].json["messages"][0] == {"role": "system", "content": "Be brief."}
    assert volley.map([], "openai/m", **kw(fake)) == []


async def test_amap_is_the_async_twin(fake):
    fake.script("m", latency=(0.0, 0.02), seed=2)
    out = await volley.amap([{"t": str(i)} for i in range(20)], "openai/m", "n={t}", max_workers=5, **kw(fake))
    assert [r["answer"] for r in out] == [f"echo: n={i}" for i in range(20)]


class Verdict(pydantic.BaseModel):
    label: str
    score: float


def test_a_schema_sends_a_strict_response_format_and_parses_fields(fake):
    pd = pytest.importorskip("pandas")
    fake.script("m", content='{"label": "positive", "score": 0.9}')
    out = volley.map(pd.DataFrame({"review": ["great", "fine"]}), "openai/m", "Rate: {review}", schema=Verdict,
                     **kw(fake))  # fmt: skip
    assert list(out.columns) == ["review", "answer", "label", "score", *RESULTS[1:]]
    assert list(out["label"]) == ["positive", "positive"] and list(out["score"]) == [0.9, 0.9]
    rf = fake.requests[0].json["response_format"]
    assert rf["type"] == "json_schema" and rf["json_schema"]["name"] == "Verdict" and rf["json_schema"]["strict"]
    assert rf["json_schema"]["schema"]["required"] == ["label", "score"]


@pytest.mark.parametrize(
    "content,error_type,match",
    [("no json here", "OutputParseError", "not valid JSON"),
     ('{"label": "x", "score": "high"}', "OutputValidationError", "score")],
)  # fmt: skip
def test_an_answer_that_does_not_parse_is_that_rows_error_with_the_text_kept(fake, content, error_type, match):
    fake.script("m", content=content)
    schema = {"type": "object", "properties": {"label": {"type": "string"}, "score": {"type": "number"}}}
    for s in (Verdict, schema):
        out = volley.map(["a"], "openai/m", schema=s, **kw(fake))
        row = out[0]
        assert row["error_type"] == error_type and match in row["error_message"]
        assert row["answer"] == content and row["label"] is None and row["prompt_tokens"] > 0  # paid for: kept


def test_bad_input_raises_before_anything_is_sent(fake):
    with pytest.raises(TemplateError, match=r"'txt'.*columns: q"):
        volley.map([{"q": "a"}], "openai/m", "{txt}", **kw(fake))
    with pytest.raises(ValueError, match=r"already has column\(s\) answer"):
        volley.map([{"q": "a", "answer": "old"}], "openai/m", "{q}", **kw(fake))
    with pytest.raises(TypeError, match="got str"):
        volley.map("just one prompt", "openai/m", **kw(fake))
    with pytest.raises(TypeError, match="item 1 is a int"):
        volley.map(["a", 5], "openai/m", **kw(fake))
    with pytest.raises(ValueError, match="schema= or response_format="):
        volley.map(["a"], "openai/m", schema=Verdict, response_format={"type": "json_object"}, **kw(fake))
    with pytest.raises(volley.BadRequestError, match="unknown provider 'nosuchprovider'"):
        volley.map(["a"], "nosuchprovider/m", **kw(fake))
    assert fake.requests == []


def test_a_prefix_lets_a_table_be_mapped_again(fake):
    first = volley.map(["a"], "openai/m", **kw(fake))
    again = volley.map(first, "openai/m", "Check: {answer}", prefix="check_", **kw(fake))
    assert again[0]["answer"] == "echo: a" and again[0]["check_answer"] == "echo: Check: echo: a"


def test_a_row_whose_messages_are_malformed_is_that_rows_error(fake):
    rows = [{"m": [{"role": "user", "content": "ok"}]}, {"m": "not json"}, {"m": json.dumps([{"role": "user",
            "content": "fine"}])}]  # fmt: skip
    out = volley.map(rows, "openai/m", messages_column="m", **kw(fake))
    assert [r["answer"] for r in out] == ["echo: ok", None, "echo: fine"]
    assert out[1]["error_type"] == "InvalidRequestError" and "row 1: column 'm'" in out[1]["error_message"]
    assert len(fake.requests) == 2


def test_volley_map_loads_no_table_library_until_it_is_given_such_data():
    import subprocess
    import sys

    code = (
        "import sys, volley; volley.map, volley.amap; import volley.tables, volley.report; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'pyarrow', 'pandas', 'polars', 'datasets', "
        "'plotly', 'jsonschema', 'aiohttp'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    assert "Example" in (volley.map.__doc__ or "") and "Example" in (volley.amap.__doc__ or "")
