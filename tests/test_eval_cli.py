import json

from PIL import Image

from kinema.cli.main import main


def test_eval_rendered_is_the_ceiling(tmp_path, capsys):
    assert main(["eval", "--rendered", "--out", str(tmp_path), "--limit", "12", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 12 and result["overall"]["background"] == 1.0 and result["overall"]["all"] >= 0.9
    assert Image.open(tmp_path / "contact_sheet.png").size[1] > 12 * 64


def test_eval_of_a_model_writes_results_and_contact_sheet(tiny_model, tmp_path, capsys):
    captions = tmp_path / "captions.txt"
    captions.write_text("a red circle moving left on a black background\n"
                        "a large blue square falling and a yellow triangle standing still on a white background\n")
    out = tmp_path / "ev"
    assert main(["eval", "--model", str(tiny_model), "--captions", str(captions), "--out", str(out), "--steps", "2"]) == 0
    text = capsys.readouterr().out
    assert "canonical" in text and "contact sheet" in text
    saved = json.loads((out / "results.json").read_text())
    assert [c["caption"] for c in saved["clips"]][1].startswith("a large blue square")
    assert set(saved["overall"]) == {"background", "colour", "shape", "motion", "consistency", "all"}
    assert (out / "clips" / "0001.mp4").is_file() and (out / "contact_sheet.png").is_file()


def test_eval_refuses_a_bad_captions_file(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("a red circle moving left on a black background\na purple elephant dancing\n")
    assert main(["eval", "--captions", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.txt:2" in capsys.readouterr().err


def test_eval_rendered_keyframes_through_the_shipped_cascade(tmp_path, capsys):
    # the shapes world's keyframes at the default model's native size and rate, through its autoencoder and
    # refiner, then taken to 128x128 by its interpolator and upscaler: the cascade's own ceiling (objects must
    # survive it all)
    assert main(["eval", "--rendered-keyframes", "--out", str(tmp_path), "--limit", "8", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert "the autoencoder and the cascade stages (refiner first) of default" in result["source"]
    assert result["overall"]["background"] == 1.0 and result["overall"]["colour"] >= 0.75
    assert main(["eval", "--rendered", "--rendered-keyframes", "--out", str(tmp_path)]) == 2
