"""The paper's two tables, one command each, end to end on small files in the real formats.

Table 1 (general QA) reads FlashRAG JSONL rows (``id``, ``question``, ``golden_answers``) from a local
FlashRAG_datasets folder over a wiki-format corpus (``{"id", "contents": "\\"Title\\"\\ntext"}``);
Table 2 (MIRAGE) reads ``benchmark.json`` (``{set: {id: {question, options, answer}}}``) over MedCorp
snippets (``{id, title, content, contents}``). Both run naive RAG, direct answering and a tiny
(untrained) s3 searcher with the offline extractive reader as the frozen generator, through the
scripts, and the cells are checked against values worked out by hand below.

How the cells are worked out: in every set the first question's answer is stated in one passage
that shares the question's words and no other passage does, so BM25's top 3 hold it and the reader
extracts it (naive RAG right); the second question's gold answer appears in no passage (wrong
whatever is retrieved). s3's context always includes the naive-RAG documents, and the passages it may
add share no question words, so its cells equal naive RAG's. Direct answering gives the reader no
passage: always wrong.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# one answerable and one unanswerable question per set: (question, gold, passage title, passage)
GENERAL = {
    "nq": [
        ("Who founded Zorbex Industries?", "Talen Morvik", "Zorbex Industries",
         "Zorbex Industries was founded by Talen Morvik."),
        ("Who designed the Halvern Bridge?", "Oren Tallis", "Halvern Bridge",
         "The Halvern Bridge spans the river Dunmere."),
    ],
    "triviaqa": [
        ("Which river flows through Quarnby?", "Selwater", "Quarnby",
         "The Selwater river flows through Quarnby."),
        ("Who painted the Grey Orchard?", "Mira Castell", "Grey Orchard",
         "The Grey Orchard hangs in the Lintholm gallery."),
    ],
    "popqa": [
        ("What is the occupation of Brenna Oakhart?", "Astronomer", "Brenna Oakhart",
         "Brenna Oakhart works as an Astronomer at Pellam observatory."),
        ("Who is the father of Dario Venn?", "Keller Venn", "Dario Venn",
         "Dario Venn studied medicine in Tarsk."),
    ],
    "hotpotqa": [
        ("Which composer wrote the Velloria Symphony?", "Anselm Rook", "Velloria Symphony",
         "The Velloria Symphony was written by the composer Anselm Rook."),
        ("Who directed the film Copper Tides?", "Ilsa Brandt", "Copper Tides",
         "Copper Tides premiered at the Norhaven festival."),
    ],
    "2wikimultihopqa": [
        ("Where was the poet Caius Wren born?", "Ambleford", "Caius Wren",
         "The poet Caius Wren was born in Ambleford."),
        ("Who succeeded King Osric of Drumhollow?", "Queen Edda", "Osric of Drumhollow",
         "Osric of Drumhollow ruled for twelve winters."),
    ],
    "musique": [
        ("Which company manufactures the Pellucid lamp?", "Harrowgate Works", "Pellucid lamp",
         "The Pellucid lamp is manufactured by the company Harrowgate Works."),
        ("Who invented the Tessel loom?", "Fenna Ashby", "Tessel loom",
         "The Tessel loom is displayed in Cobrin."),
    ],
}  # fmt: skip
# the splits each set has here: hotpotqa, 2wiki and musique lack a test split (read: dev)
SPLITS = {"hotpotqa": ("train", "dev"), "2wikimultihopqa": ("dev",), "musique": ("train", "dev")}

MIRAGE = {
    "medqa": [
        ("Which drug irreversibly inhibits platelet cyclooxygenase?",
         {"A": "Heparin", "B": "Aspirin", "C": "Warfarin", "D": "Alteplase"}, "B"),
        ("Which enzyme is deficient in Gaucher disease?",
         {"A": "Hexosaminidase", "B": "Glucocerebrosidase", "C": "Sphingomyelinase", "D": "Galactosidase"}, "B"),
    ],
    "medmcqa": [
        ("Which nerve innervates the deltoid muscle?",
         {"A": "Radial nerve", "B": "Median nerve", "C": "Axillary nerve", "D": "Ulnar nerve"}, "C"),
        ("Which organism causes Whipple disease?",
         {"A": "Tropheryma whipplei", "B": "Borrelia burgdorferi", "C": "Listeria", "D": "Brucella"}, "A"),
    ],
    "pubmedqa": [
        ("Does statin therapy lower serum cholesterol?", {"A": "yes", "B": "no", "C": "maybe"}, "A"),
    ],
    "bioasq": [
        ("Is insulin secreted by pancreatic beta cells?", {"A": "yes", "B": "no"}, "A"),
    ],
    "mmlu": [
        ("Which vitamin deficiency causes scurvy?",
         {"A": "Vitamin D", "B": "Vitamin C", "C": "Vitamin K", "D": "Thiamine"}, "B"),
        ("Which hormone is produced by the pineal gland?",
         {"A": "Cortisol", "B": "Melatonin", "C": "Insulin", "D": "Prolactin"}, "B"),
    ],
}  # fmt: skip
# MedCorp snippets: facts for the first medqa, medmcqa and mmlu questions; a distractor that names
# other options but shares no question word; nothing for the other questions
MEDCORP = [
    ("pubmed23n0001_0", "Antiplatelet drugs", "Aspirin irreversibly inhibits cyclooxygenase in platelets."),
    ("Anatomy_Gray_12", "Anatomy_Gray", "The axillary nerve innervates the deltoid muscle."),
    ("wiki_scurvy_0", "Scurvy", "Scurvy results from vitamin C deficiency."),
    (
        "Pharmacology_3",
        "Pharmacology_Katzung",
        "Heparin and warfarin are anticoagulants used for thrombosis.",
    ),
]


def write_jsonl(path: Path, rows) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def general_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("general")
    passages = []
    for config, items in GENERAL.items():
        rows = [
            {"id": f"{config}_{i}", "question": q, "golden_answers": [gold]}
            for i, (q, gold, _, _) in enumerate(items)
        ]
        for split in SPLITS.get(config, ("train", "dev", "test")):
            # the train split holds other ids: reading it instead of dev/test would show in the ids
            write_jsonl(root / "flashrag" / config / f"{split}.jsonl",
                        rows if split != "train" else [{**r, "id": "train-" + r["id"]} for r in rows])  # fmt: skip
        passages += [
            {"id": f"{config}-{i}", "contents": f'"{t}"\n{p}'} for i, (_, _, t, p) in enumerate(items)
        ]
    write_jsonl(root / "wiki.jsonl", passages)
    return root


@pytest.fixture(scope="module")
def mirage_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("mirage")
    bench = {
        name: {f"{i:04d}": {"question": q, "options": o, "answer": a} for i, (q, o, a) in enumerate(items)}
        for name, items in MIRAGE.items()
    }
    (root / "benchmark.json").write_text(json.dumps(bench, indent=1), encoding="utf-8")
    write_jsonl(
        root / "medcorp.jsonl",
        [{"id": i, "title": t, "content": c, "contents": f"{t}. {c}"} for i, t, c in MEDCORP],
    )
    return root


def run_script(script: str, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    full = {
        **os.environ,
        "PATH": str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""),
        **env,
    }
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / script), *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def run_table(script: str, files: dict, tiny_model_dir, out: Path) -> subprocess.CompletedProcess:
    """One table's command: naive RAG, direct answering and the tiny searcher, the offline reader."""
    env = {k: str(v) for k, v in files.items()}
    env.update({"METHODS": f"naive-rag,direct,s3:{tiny_model_dir}", "OUTPUT": str(out)})
    return run_script(script, env, "--set", "progress=false", "--set", "searcher_max_new_tokens=12")


def read_wide(path: Path) -> dict[str, dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as fh:
        return {row["method"]: row for row in csv.DictReader(fh)}


@pytest.mark.slow
def test_general_qa_table_one_command(general_files, tiny_model_dir, tmp_path):
    out = tmp_path / "t1"
    files = {"FLASHRAG_DIR": general_files / "flashrag", "CORPUS": general_files / "wiki.jsonl"}
    proc = run_table("evaluate-8-3-3.sh", files, tiny_model_dir, out)
    # the paper's defaults, stated in the saved config
    cfg = (out / "config.yaml").read_text()
    for line in ("sample: 3000", "max_context_docs: 20", "judge_same_as_generator: true", "table: general"):
        assert line in cfg, line
    # the split fallback: dev where there is no test split (never train)
    ids = [
        json.loads(x)["id"] for x in (out / "naive-rag" / "2wiki" / "answers.jsonl").read_text().splitlines()
    ]
    assert ids == ["2wikimultihopqa_0", "2wikimultihopqa_1"]
    # the table in the paper's layout, cells as worked out in the module docstring
    columns = ["nq", "triviaqa", "popqa", "hotpotqa", "2wiki", "musique"]
    wide = read_wide(out / "table-genacc.csv")
    assert list(wide) == ["naive-rag", "direct", "s3"]
    expected = {"naive-rag": 50.0, "direct": 0.0, "s3": 50.0}
    for method, value in expected.items():
        assert [float(wide[method][c]) for c in columns] == [value] * 6, method
        assert float(wide[method]["average"]) == value
    em = read_wide(out / "table-em.csv")
    assert float(em["naive-rag"]["average"]) == 50.0  # the reader's answers are the exact names
    table = (out / "table.md").read_text()
    assert "| Method | nq | triviaqa | popqa | hotpotqa | 2wiki | musique | Avg. |" in table
    assert "| naive-rag | 50.0 (50.0) | 50.0 (50.0) |" in table
    # deliberate differences are stated in the output
    assert "Differs here: no judge LLM, so GenAcc is the span check alone" in table
    assert "Differs here: the generator is the offline extractive reader" in table
    assert "Differs here: no judge LLM" in proc.stdout
    assert (out / "genacc.png").stat().st_size > 0


@pytest.mark.slow
def test_mirage_table_one_command(mirage_files, tiny_model_dir, tmp_path):
    out = tmp_path / "t2"
    files = {"MIRAGE_FILE": mirage_files / "benchmark.json", "CORPUS": mirage_files / "medcorp.jsonl"}
    run_table("evaluate-mirage.sh", files, tiny_model_dir, out)
    columns = ["medqa", "medmcqa", "pubmedqa", "bioasq", "mmlu-med"]
    wide = read_wide(out / "table-genacc.csv")
    # medqa, medmcqa, mmlu-med: 1 of 2 (the fact is in MedCorp); pubmedqa, bioasq: no passage says yes
    rag = [50.0, 50.0, 0.0, 0.0, 50.0]
    assert [float(wide["naive-rag"][c]) for c in columns] == rag
    assert float(wide["naive-rag"]["average"]) == pytest.approx(30.0)
    assert [float(wide["s3"][c]) for c in columns] == rag
    assert [float(wide["direct"][c]) for c in columns] == [0.0] * 5
    # the reader picked option B by letter and text; the gold is "letter: text"
    answers = [
        json.loads(x) for x in (out / "naive-rag" / "medqa" / "answers.jsonl").read_text().splitlines()
    ]
    assert answers[0]["prediction"] == "B. Aspirin" and answers[0]["golden_answers"] == ["B: Aspirin"]
    assert answers[0]["genacc"] == 1.0 and answers[1]["genacc"] == 0.0
    # the searcher and the generator see the options; the initial retrieval does not
    question = MIRAGE["medqa"][0][0]
    rag_ctx = json.loads((out / "naive-rag" / "medqa" / "contexts.jsonl").read_text().splitlines()[0])
    assert rag_ctx["trace"]["queries"] == [question]
    s3_ctx = json.loads((out / "s3" / "medqa" / "contexts.jsonl").read_text().splitlines()[0])
    assert s3_ctx["question"].startswith(question + "\nOptions:\nA. Heparin\nB. Aspirin")
    assert [d["id"] for d in s3_ctx["docs"][:3]] == [d["id"] for d in rag_ctx["docs"]]
    table = (out / "table.md").read_text()
    assert "| Method | medqa | medmcqa | pubmedqa | bioasq | mmlu-med | Avg. |" in table
    assert "Differs here: no judge LLM: answers the option rules cannot decide count as wrong" in table
    assert "every question" in table


def test_generator_context_is_capped(tmp_path):
    from evaluation.contexts import ContextRecord
    from evaluation.run import AnswerSettings, build_request, score_contexts
    from generators.offline import ExtractiveReader
    from retrievers.doc import Doc
    from s3.data import QAExample

    docs = [Doc(str(i), f"T{i}", f"Passage number {i}.") for i in range(25)]
    record = ContextRecord(id="q", question="Which passage?", docs=docs)
    text = "\n".join(m["content"] for m in build_request(record, 20))
    assert "Passage number 19." in text and "Passage number 20." not in text
    example = QAExample("q", "Which passage?", ["x"], "s", "test")
    rows = score_contexts(
        [record], [example], ExtractiveReader(), tmp_path / "a.jsonl", settings=AnswerSettings(max_context_docs=20),
        progress=False,
    )  # fmt: skip
    assert rows[0]["docs"] == 20


def test_judge_choice_is_reachable_from_the_config():
    from baselines.evaluate import EvalConfig, build_judges
    from evaluation.judge import LLMJudge, MultipleChoiceJudge
    from generators.factory import GeneratorConfig
    from s3.data import QAExample, format_options

    options = {"A": "Heparin", "B": "Aspirin"}
    mc = QAExample(
        "0",
        format_options("Which drug?", options),
        ["B: Aspirin"],
        "medqa",
        "test",
        meta={"options": options},
    )
    free = QAExample("0", "Who founded Zorbex?", ["Talen Morvik"], "nq", "test")
    data = {"medqa": [mc], "nq": [free]}

    # no judge LLM: the multiple-choice sets still get the option rules, the free-text sets nothing
    judge, judges = build_judges(EvalConfig(), data, generator=None)
    assert judge is None and list(judges) == ["medqa"]
    assert type(judges["medqa"]) is MultipleChoiceJudge and judges["medqa"].generator is None

    # a judge LLM: the multiple-choice judge for sets with options, the free-text judge otherwise
    cfg = EvalConfig(judge=GeneratorConfig(kind="offline"))
    judge, judges = build_judges(cfg, data, generator=None)
    assert type(judges["medqa"]) is MultipleChoiceJudge and judges["medqa"].generator is not None
    assert type(judges["nq"]) is LLMJudge and judge is judges["nq"]

    # judge_style forces one kind; judge_same_as_generator reuses a served generator, not the offline one
    cfg = EvalConfig(judge=GeneratorConfig(kind="offline"), judge_style="multiple-choice")
    assert type(build_judges(cfg, data, generator=None)[1]["nq"]) is MultipleChoiceJudge
    served = object()
    cfg = EvalConfig(generator=GeneratorConfig(kind="openai", model="m"), judge_same_as_generator=True)
    assert build_judges(cfg, data, generator=served)[1]["nq"].generator is served
    cfg = EvalConfig(judge_same_as_generator=True)  # the offline reader cannot judge
    assert build_judges(cfg, data, generator=object())[0] is None


def test_offline_reader_answers_multiple_choice_by_option():
    from generators.offline import ExtractiveReader, split_options
    from s3.data import format_options

    question = format_options(
        "Which drug inhibits platelet cyclooxygenase?", {"A": "Heparin", "B": "Aspirin"}
    )
    assert split_options(question) == (
        "Which drug inhibits platelet cyclooxygenase?",
        {"A": "Heparin", "B": "Aspirin"},
    )
    reader = ExtractiveReader()
    passages = ["Heparin is an anticoagulant.", "Aspirin inhibits cyclooxygenase in platelets."]
    assert reader.read(question, passages).answer == "B. Aspirin"
    assert reader.read(question, ["Heparin is an anticoagulant."]).answer == "unknown"
