"""The paper's evaluation data: MIRAGE's benchmark.json, MedCorp snippets, the FlashRAG hub loader's
split fallback, the reference's sampling, and precompute's de-duplication within a split.

Every file is written here from the format's documented fields: MIRAGE ``{set: {id: {question,
options, answer}}}``; MedRAG snippets ``{id, title, content, contents}``; FlashRAG rows ``{id,
question, golden_answers}``."""

from __future__ import annotations

import json

import pytest

from retrievers.corpus import read_corpus
from s3.data import (
    DataError,
    format_options,
    load_hf_dataset,
    load_qa,
    read_mirage_benchmark,
    sample_examples,
)

BENCHMARK = {
    "medqa": {
        "0001": {
            "question": "Which drug irreversibly inhibits platelet cyclooxygenase?",
            "options": {"A": "Heparin", "B": "Aspirin", "C": "Warfarin", "D": "Alteplase"},
            "answer": "B",
        },
        "0000": {
            "question": "Which vitamin deficiency causes scurvy?",
            "options": {"A": "Vitamin C", "B": "Vitamin D", "C": "Vitamin K", "D": "Thiamine"},
            "answer": "A",
        },
    },
    "pubmedqa": {
        "12345": {
            "question": "Does aspirin reduce platelet aggregation?",
            "options": {"A": "yes", "B": "no", "C": "maybe"},
            "answer": "A",
            "PMID": [12345],
        }
    },
}


def write_json(path, data):
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return path


def test_mirage_benchmark_reader(tmp_path):
    path = write_json(tmp_path / "benchmark.json", BENCHMARK)
    sets = read_mirage_benchmark(path)
    assert list(sets) == ["medqa", "pubmedqa"]
    first, second = sets["medqa"]
    assert [first.id, second.id] == ["0000", "0001"]  # sorted ids, as MIRAGE's loader reads them
    assert second.golden_answers == ["B: Aspirin"] and second.source == "medqa"
    assert second.question == (
        "Which drug irreversibly inhibits platelet cyclooxygenase?\nOptions:\n"
        "A. Heparin\nB. Aspirin\nC. Warfarin\nD. Alteplase"
    )
    assert second.meta["retrieval_question"] == BENCHMARK["medqa"]["0001"]["question"]
    assert second.meta["options"]["B"] == "Aspirin" and second.meta["answer"] == "B"
    pub = load_qa(f"mirage:{path}:pubmedqa")
    assert pub[0].golden_answers == ["A: yes"] and pub[0].meta["PMID"] == [12345]
    assert format_options("Q?", {"A": "x"}) == "Q?\nOptions:\nA. x"


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"question": "Q?", "options": {"A": "x"}}, r"medqa/7: missing field 'answer'"),
        ({"question": "Q?", "options": {"A": "x"}, "answer": "C"}, r"medqa/7: field 'answer' must be one of"),
        ({"question": "Q?", "options": [], "answer": "A"}, r"medqa/7: field 'options' must be"),
        ({"question": "", "options": {"A": "x"}, "answer": "A"}, r"medqa/7: field 'question' is empty"),
    ],
)
def test_mirage_errors_name_file_set_entry_and_field(tmp_path, entry, message):
    path = write_json(tmp_path / "benchmark.json", {"medqa": {"7": entry}})
    with pytest.raises(DataError, match=message):
        read_mirage_benchmark(path)
    with pytest.raises(DataError, match="no set 'mmlu'"):
        load_qa(f"mirage:{path}:mmlu")


def test_medcorp_snippets_are_read_from_title_and_content(tmp_path):
    rows = [
        {
            "id": "pubmed23n0001_0",
            "title": "Aspirin and platelets",
            "content": "Aspirin irreversibly inhibits cyclooxygenase.",
            "contents": "Aspirin and platelets. Aspirin irreversibly inhibits cyclooxygenase.",
        },
        {"id": "wiki-1", "contents": '"Scurvy"\nScurvy is caused by a lack of vitamin C.'},
    ]
    path = tmp_path / "medcorp.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    docs = list(read_corpus(path))
    assert (docs[0].title, docs[0].text) == (
        "Aspirin and platelets",
        "Aspirin irreversibly inhibits cyclooxygenase.",
    )
    assert (docs[1].title, docs[1].text) == ("Scurvy", "Scurvy is caused by a lack of vitamin C.")


def test_sampling_draws_what_pandas_sample_draws(tmp_path):
    from s3.data import QAExample

    examples = [QAExample(str(i), f"q{i}?", ["a"], "nq", "test") for i in range(50)]
    picked = sample_examples(examples, 7, seed=42)
    pd = pytest.importorskip("pandas")
    expected = pd.DataFrame({"i": range(50)}).sample(n=7, random_state=42)["i"].tolist()
    assert [int(e.id) for e in picked] == expected
    assert sample_examples(examples[:5], 7) == examples[:5]


def flashrag_rows(prefix, n):
    return [
        {"id": f"{prefix}_{i}", "question": f"{prefix} question {i}?", "golden_answers": [f"a{i}"]}
        for i in range(n)
    ]


@pytest.fixture
def fake_hub(monkeypatch):
    """``datasets``' hub calls answered from in-memory FlashRAG splits (no network here).

    nq has train/dev/test; 2wikimultihopqa has train/dev only, as on the FlashRAG hub."""
    import datasets

    hub = {
        ("RUC-NLPIR/FlashRAG_datasets", "nq"): {
            s: flashrag_rows(f"nq-{s}", 3) for s in ("train", "dev", "test")
        },
        ("RUC-NLPIR/FlashRAG_datasets", "2wikimultihopqa"): {
            s: flashrag_rows(f"2wiki-{s}", 2) for s in ("train", "dev")
        },
    }
    calls = []

    def split_names(name, config=None, **kw):
        calls.append(("splits", name, config))
        return list(hub[(name, config)])

    def load_dataset(name, config=None, split=None, **kw):
        calls.append(("load", name, config, split))
        splits = hub[(name, config)]
        if split not in splits:
            raise ValueError(f'Unknown split "{split}". Should be one of {list(splits)}.')
        return datasets.Dataset.from_list(splits[split])

    monkeypatch.setattr(datasets, "get_dataset_split_names", split_names)
    monkeypatch.setattr(datasets, "load_dataset", load_dataset)
    return calls


def test_hub_loader_falls_back_to_dev_when_there_is_no_test_split(fake_hub):
    nq = load_qa("hf:RUC-NLPIR/FlashRAG_datasets/nq")
    assert [e.id for e in nq] == ["nq-test_0", "nq-test_1", "nq-test_2"] and nq[0].split == "test"
    wiki = load_qa("hf:RUC-NLPIR/FlashRAG_datasets/2wikimultihopqa")
    assert [e.id for e in wiki] == ["2wiki-dev_0", "2wiki-dev_1"]
    assert wiki[0].split == "dev" and wiki[0].source == "2wikimultihopqa"
    # a named split is read as named, with no fallback
    assert load_qa("hf:RUC-NLPIR/FlashRAG_datasets/nq:train")[0].id == "nq-train_0"
    with pytest.raises(ValueError, match="Unknown split"):
        load_hf_dataset("RUC-NLPIR/FlashRAG_datasets", "2wikimultihopqa", "test")
    assert ("load", "RUC-NLPIR/FlashRAG_datasets", "2wikimultihopqa", "dev") in fake_hub


def test_precompute_deduplicates_within_a_split_only(tmp_path):
    from s3.precompute import PrecomputeConfig, load_rag_cache, run_precompute

    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text(
        json.dumps(
            {
                "id": "1",
                "title": "Zorbex Industries",
                "text": "Zorbex Industries was founded by Talen Morvik.",
            }
        )
        + "\n"
        + json.dumps({"id": "2", "title": "Quarnby", "text": "Quarnby is a city in Velloria."})
        + "\n"
    )
    shared = {"question": "Who founded Zorbex Industries?", "golden_answers": ["Ilsa Brandt"]}
    (tmp_path / "data").mkdir()
    train = tmp_path / "data" / "train.jsonl"
    test = tmp_path / "data" / "test.jsonl"
    train.write_text(json.dumps({"id": "t0", **shared}) + "\n")
    test_rows = [
        {"id": "e0", **shared},  # the same question as in train: stays in test
        {"id": "e1", "question": "In which country is Quarnby?", "golden_answers": ["Velloria"]},
        {"id": "e2", "question": "In which country is Quarnby", "golden_answers": ["Velloria"]},  # duplicate
    ]
    test.write_text("".join(json.dumps(r) + "\n" for r in test_rows))
    out = tmp_path / "pre"
    summary = run_precompute(
        PrecomputeConfig(
            data=[str(train), str(test)], corpus=str(corpus), output_dir=str(out), progress=False
        )
    )
    test_ids = [json.loads(x)["id"] for x in (out / "test.jsonl").read_text().splitlines()]
    assert test_ids == ["e0", "e1"]
    train_ids = [json.loads(x)["id"] for x in (out / "train.jsonl").read_text().splitlines()]
    assert train_ids == ["t0"]  # naive RAG answers Talen Morvik, not the gold: kept for training
    assert summary["duplicates_dropped"] == 1
    assert len(load_rag_cache(out / "rag_cache.jsonl")) == 2  # one entry per question
    assert len((out / "rag_cache.jsonl").read_text().splitlines()) == 2
