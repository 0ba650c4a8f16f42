"""The registry: typed options (an undeclared option is an error), honest metadata, fast listing."""

import subprocess
import sys

import pytest
from featurizer.errors import UnknownModelError
from featurizer.pipeline import load_extractors
from featurizer.registry import create_extractor, get_spec, list_models


def test_listing_imports_no_model_library():
    code = ("import sys; from featurizer.registry import list_models; n = len(list_models()); "
            "heavy = ('torch', 'cv2', 'av', 'opensmile', 'transformers', 'timm', 'speechbrain', 'torchvggish');"
            "print(n, [m for m in heavy if m in sys.modules])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    n, loaded = out.split(" ", 1)
    assert int(n) >= 13 and loaded.strip() == "[]", out


def test_undeclared_option_is_an_error_naming_what_it_takes():
    with pytest.raises(UnknownModelError, match="egemaps takes no option 'batch_size'.*no options"):
        create_extractor("egemaps", batch_size=4)
    with pytest.raises(UnknownModelError, match="hubert takes no option 'dropout'.*weights, device, batch_size"):
        create_extractor("hubert", dropout=0.1)
    with pytest.raises(UnknownModelError, match="'x'.*not a valid int"):
        get_spec("hubert").option("batch_size").parse("x", "hubert")


def test_common_flags_go_where_they_are_taken():
    # --batch-size with only weight-free models is taken by none of them: an error, not swallowed
    with pytest.raises(UnknownModelError, match="--batch-size 8: none of egemaps, fbank takes it"):
        load_extractors(["egemaps", "fbank"], batch_size=8)
    with pytest.raises(UnknownModelError, match="--weights hubert=...: hubert is not among the selected"):
        load_extractors(["egemaps"], weights={"hubert": "/x"})
    assert [e.name for e in load_extractors(["egemaps", "hog"], device="cpu")] == ["egemaps", "hog"]


def test_metadata_marks_stand_ins_and_what_weights_were_trained_on():
    rows = {s.name: s.row() for s in list_models()}
    for name in ("densenet", "mae", "mobilenet"):
        assert rows[name]["trained_on"] == "imagenet" and rows[name]["standin"] is True
        assert rows[name]["paper_weights_public"] is False
    for name in ("egemaps", "compare", "fbank"):
        assert rows[name]["trained_on"] is None and rows[name]["paper_weights_public"] is True
    assert rows["hog"]["paper_weights_public"] is None  # not one of the paper's features
    assert rows["hubert"]["trained_on"] == "speech"
    assert {"name", "modality", "dim", "default_weights", "trained_on", "licence",
            "paper_weights_public"} <= set(rows["hubert"])
