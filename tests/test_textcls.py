"""`train textcls`: the corpus, the CSV/TSV reader, the vocabulary and padding, and tiny end-to-end runs of each arch."""
import re

import numpy as np
import pytest

from tinygrad_edu import cli
from tinygrad_edu.data.textcls import (
    TOPICS,
    WordVocabulary,
    pad_batch,
    read_labelled_text,
    stdlib_topic_sentences,
    stratified_split,
    tokenize,
)

CLASS_WORDS = {
    "sports": ["goal", "match", "team", "coach", "score"],
    "weather": ["rain", "storm", "sunny", "wind", "cloud"],
    "cooking": ["oven", "recipe", "flour", "bake", "spice"],
}
FILLER = ["the", "a", "today", "was", "very", "we", "saw", "some", "and", "then", "it", "big", "new", "old", "our"]


def easy_dataset(path, rows_per_class=40, seed=0, delimiter=",", header=True):
    """Sentences of two class words among four shared filler words: any model that reads words can learn it."""
    rng = np.random.default_rng(seed)
    lines = ["text,label" if delimiter == "," else "text\tlabel"] if header else []
    for _ in range(rows_per_class):
        for label, words in CLASS_WORDS.items():
            sentence = list(rng.choice(words, 2)) + list(rng.choice(FILLER, 4))
            rng.shuffle(sentence)
            lines.append(f"{' '.join(sentence)}{delimiter}{label}")
    path.write_text("\n".join(lines) + "\n")
    return path


def run_cli(capsys, *argv):
    capsys.readouterr()
    code = cli.main(["train", "textcls", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def accuracy_in(out):
    return float(re.search(r"test accuracy (\d\.\d+)", out).group(1))


# ----- data ------------------------------------------------------------------------------------------------------
def test_stdlib_topic_corpus_is_deterministic_balanced_and_split_the_same_way_each_time():
    texts, labels, names = stdlib_topic_sentences()
    again_texts, again_labels, again_names = stdlib_topic_sentences()
    assert texts == again_texts and np.array_equal(labels, again_labels) and names == again_names == list(TOPICS)
    assert len(texts) == len(set(texts)) == 3000
    assert np.bincount(labels).tolist() == [600] * 5
    assert all(5 <= len(t.split()) <= 40 for t in texts)
    train, test = stratified_split(labels)
    again_train, again_test = stratified_split(labels)
    assert np.array_equal(train, again_train) and np.array_equal(test, again_test)
    assert not set(train) & set(test) and len(train) + len(test) == 3000
    assert np.bincount(labels[test]).tolist() == [120] * 5


def test_csv_with_header_quoted_commas_and_blank_lines(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text('Text,Label\n"hello, world",greeting\n\nbye now,farewell\nhi there,greeting\n')
    texts, labels, names = read_labelled_text(path)
    assert texts == ["hello, world", "bye now", "hi there"]
    assert names == ["farewell", "greeting"] and labels.tolist() == [1, 0, 1]


def test_csv_without_header_keeps_the_first_row_as_data(tmp_path):
    path = tmp_path / "data.csv"
    path.write_text("good film,pos\nbad film,neg\n")
    texts, labels, names = read_labelled_text(path)
    assert texts == ["good film", "bad film"] and names == ["neg", "pos"] and labels.tolist() == [1, 0]


def test_tsv_is_read_by_extension_or_by_a_tab_in_the_first_line(tmp_path):
    for name in ("data.tsv", "data.txt"):
        path = tmp_path / name
        path.write_text("sentence\tcategory\ncommas, are fine here\ta\nand here, too\tb\n")
        texts, labels, names = read_labelled_text(path)
        assert texts == ["commas, are fine here", "and here, too"] and names == ["a", "b"]


def test_malformed_row_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("text,label\nfine row,a\nanother,b\ntoo,many,fields\n")
    with pytest.raises(ValueError, match=r"bad\.csv, line 4: expected 2 non-empty columns .*found 3 field"):
        read_labelled_text(path)
    path.write_text("fine row,a\n\nno label here\n")
    with pytest.raises(ValueError, match=r"line 3: .*found 1 field"):
        read_labelled_text(path)
    path.write_text("fine row,a\n  ,b\n")
    with pytest.raises(ValueError, match=r"line 2"):
        read_labelled_text(path)


def test_a_file_with_one_label_is_refused(tmp_path):
    path = tmp_path / "one.csv"
    path.write_text("a,x\nb,x\n")
    with pytest.raises(ValueError, match="1 distinct label"):
        read_labelled_text(path)


def test_tokenize_lowercases_and_drops_punctuation():
    assert tokenize("Open the FILE (os.open), then close it!") == ["open", "the", "file", "os", "open", "then", "close", "it"]


def test_vocabulary_keeps_frequent_words_in_a_fixed_order_and_maps_the_rest_to_unk():
    vocabulary = WordVocabulary([["b", "a", "c"], ["a", "b", "d"], ["a"]], min_freq=2)
    assert vocabulary.words == ["<pad>", "<unk>", "a", "b"]  # by count, then alphabetically; c and d seen once
    assert vocabulary.encode(["a", "b", "c", "zzz"]).tolist() == [2, 3, 1, 1]
    assert WordVocabulary.from_words(vocabulary.words).index == vocabulary.index
    with pytest.raises(ValueError, match="must start with"):
        WordVocabulary.from_words(["a", "b"])


def test_pad_batch_pads_at_the_end_cuts_long_rows_and_marks_real_tokens():
    ids, mask = pad_batch([np.array([4, 5, 6, 7]), np.array([8]), np.array([], dtype=np.int64)], max_length=3)
    assert ids.tolist() == [[4, 5, 6], [8, 0, 0], [0, 0, 0]]
    assert mask.tolist() == [[True, True, True], [True, False, False], [True, False, False]]  # empty row: one slot


# ----- end to end --------------------------------------------------------------------------------------------------
SMALL = ["--embed", "16", "--hidden", "16", "--heads", "2", "--batch-size", "16", "--min-freq", "1", "--quiet"]


@pytest.mark.parametrize("arch", ["transformer", "lstm", "gru"])
def test_each_arch_learns_an_easy_data_file_and_reports_the_baseline(arch, tmp_path, capsys):
    data = easy_dataset(tmp_path / "easy.csv")
    code, out, err = run_cli(capsys, "--arch", arch, "--data", str(data), "--epochs", "6", "--lr", "0.02", *SMALL)
    assert code == 0, err
    assert accuracy_in(out) > 0.7  # chance is 1/3
    assert re.search(r"bag-of-words logistic regression \d\.\d{4}", out)


def test_save_resume_and_predict_round_trip(tmp_path, capsys):
    data = easy_dataset(tmp_path / "easy.tsv", delimiter="\t", header=False)
    common = ["--data", str(data), "--lr", "0.01", "--seed", "3", *SMALL]
    checkpoint = tmp_path / "half.npz"
    assert run_cli(capsys, *common, "--epochs", "3", "--log", str(tmp_path / "straight.jsonl"))[0] == 0
    straight = (tmp_path / "straight.jsonl").read_text()
    assert run_cli(capsys, *common, "--epochs", "2", "--save", str(checkpoint))[0] == 0
    code, out, err = run_cli(capsys, *common, "--epochs", "3", "--resume", str(checkpoint),
                             "--log", str(tmp_path / "resumed.jsonl"), "--save", str(tmp_path / "full.npz"))
    assert code == 0, err
    assert (tmp_path / "resumed.jsonl").read_text() == straight  # the resumed run continues exactly

    # Prediction needs only the checkpoint: no --data, no training.
    code, out, err = run_cli(capsys, "--resume", str(tmp_path / "full.npz"), "--predict", "the storm and rain today",
                             "--predict", "we bake with flour", "--quiet")
    assert code == 0, err
    assert "'the storm and rain today' -> weather" in out
    assert "'we bake with flour' -> cooking" in out


def test_resume_refuses_a_checkpoint_trained_on_other_data(tmp_path, capsys):
    first = easy_dataset(tmp_path / "a.csv", seed=0)
    second = easy_dataset(tmp_path / "b.csv", seed=1)
    checkpoint = tmp_path / "a.npz"
    assert run_cli(capsys, "--data", str(first), "--epochs", "1", "--save", str(checkpoint), *SMALL)[0] == 0
    code, _, err = run_cli(capsys, "--data", str(second), "--epochs", "2", "--resume", str(checkpoint), *SMALL)
    assert code == 2 and "--resume" in err and "data_digest" in err


def test_summary_flag_prints_the_layers_before_training_and_a_bad_file_gives_one_line(tmp_path, capsys):
    data = easy_dataset(tmp_path / "easy.csv", rows_per_class=10)
    code, out, err = run_cli(capsys, "--data", str(data), "--epochs", "1", "--summary", *SMALL)
    assert code == 0, err
    assert "token_embedding (Embedding)" in out and "Total params:" in out
    assert out.index("Total params:") < out.index("test accuracy")
    bad = tmp_path / "bad.csv"
    bad.write_text("text,label\nok,a\nnot ok\n")
    code, out, err = run_cli(capsys, "--data", str(bad), *SMALL)
    assert code == 2 and "line 3" in err and len(err.strip().splitlines()) == 1
