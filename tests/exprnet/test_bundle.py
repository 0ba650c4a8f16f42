"""Bundles on a synthetic store: written, loaded, equal to the ensemble they were made from, and
refused, on one line naming the file, when anything in them was altered. Whoever edits a bundle can
recompute its manifest's sha256s and id (as the attacks below do): loading still never reads
outside the folder, and with trusted keys only an unchanged manifest signed by one of them loads."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from exprnet.cli import app
from exprnet.deploy.bundle import FORMAT_VERSION, Bundle
from exprnet.deploy.make import make_bundle
from exprnet.errors import BundleError, ConfigError
from exprnet.prediction.predict import read_submission
from exprnet.training import experiment
from typer.testing import CliRunner

from .conftest import config_for


@pytest.fixture(scope="module")
def runs(small, tmp_path_factory):
    root = tmp_path_factory.mktemp("bundle-runs")
    experiment.train(config_for(small, "lstm", train={"epochs": 1}), root / "lstm")
    r = CliRunner().invoke(app, ["baseline", "--store", str(small.store), "--labels", str(small.labels),
                                 "--features", ",".join(small.features), "--out", str(root / "baseline")])
    assert r.exit_code == 0, r.output
    return root


@pytest.fixture(scope="module")
def key(tmp_path_factory):
    """A signing key pair made by `exprnet keygen` (KEY, KEY.pub)."""
    k = tmp_path_factory.mktemp("keys") / "author"
    r = CliRunner().invoke(app, ["keygen", str(k)])
    assert r.exit_code == 0, r.output
    return k


@pytest.fixture(scope="module")
def made(small, runs, key, tmp_path_factory):
    """An ensemble and its bundle, signed with ``key``."""
    ens = tmp_path_factory.mktemp("ens")
    r = CliRunner().invoke(app, ["ensemble", str(runs / "lstm"), str(runs / "baseline"), "--method", "mean",
                                 "--smooth", "viterbi:auto", "--store", str(small.store), "--labels", str(small.labels),
                                 "--out", str(ens), "--tracks", ",".join(sorted(small.tracks)), "--device", "cpu",
                                 "--bundle", str(ens / "bundle"), "--sign", str(key)])
    assert r.exit_code == 0, r.output
    assert "signed by SHA256:" in r.output and (ens / "bundle" / "bundle.sig").is_file()
    return ens


def test_bundle_predicts_what_the_ensemble_wrote(small, made, tmp_path):
    moved = tmp_path / "elsewhere"
    shutil.move(made / "bundle", moved)
    b = Bundle.load(moved)
    assert [m.name for m in b.members] == ["lstm", "baseline"] and b.combiner.method == "mean"
    assert [p.to_dict()["kind"] for p in b.post] == ["calibration", "viterbi"]  # the combination calibrated, decoded once
    assert b.members[1].calibration is not None  # the baseline's out-of-fold temperature, before combining
    tracks = sorted(small.tracks)
    got = b.predict_store(str(small.store), tracks)
    sub = read_submission(made / "submission.txt")
    for t in tracks:
        ref = np.load(made / "probs" / f"{t}.npy")
        np.testing.assert_allclose(got[t].probs, ref, atol=1e-6)
        np.testing.assert_array_equal(got[t].labels, sub[t])  # the decoded path, not the posteriors' argmax
    shutil.move(moved, made / "bundle")


def test_make_bundle_equals_ensemble_bundle(small, runs, made, tmp_path):
    out = make_bundle([runs / "lstm", runs / "baseline"], "mean", str(small.store), str(small.labels),
                      tmp_path / "b", smooth="viterbi:auto", device="cpu")
    a, b = (json.loads((p / "bundle.json").read_text()) for p in (out, made / "bundle"))
    same = {k: v for k, v in a["files"].items() if k not in ("metrics.json", "MODEL_CARD.md")}  # name, test tracks
    assert len(same) >= 6 and same.items() <= b["files"].items()  # members, stats, recipe: byte for byte
    assert a["combination"] == b["combination"] and a["postprocess"] == b["postprocess"]


def _copy(made, tmp_path):
    dst = tmp_path / "b"
    shutil.copytree(made / "bundle", dst)
    return dst


def _refused(path, *words):
    with pytest.raises(BundleError) as e:
        Bundle.load(path)
    msg = str(e.value)
    assert "\n" not in msg
    for w in words:
        assert w in msg, msg
    return msg


def test_an_altered_file_is_refused(made, tmp_path):
    b = _copy(made, tmp_path)
    f = sorted(b.glob("members/*/stats.safetensors"))[0]
    raw = bytearray(f.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    f.write_bytes(bytes(raw))
    _refused(b, str(f.relative_to(b)), "sha256")


def test_a_missing_file_is_refused(made, tmp_path):
    b = _copy(made, tmp_path)
    (b / "recipe.json").unlink()
    _refused(b, "recipe.json", "missing")


def test_an_unknown_format_version_is_refused(made, tmp_path):
    b = _copy(made, tmp_path)
    m = json.loads((b / "bundle.json").read_text())
    m["format_version"] = FORMAT_VERSION + 1
    (b / "bundle.json").write_text(json.dumps(m))
    _refused(b, "bundle.json", f"format_version {FORMAT_VERSION + 1}")


def test_an_edited_manifest_is_refused(made, tmp_path):
    b = _copy(made, tmp_path)
    m = json.loads((b / "bundle.json").read_text())
    m["combination"]["weights"] = [0.9, 0.1]
    (b / "bundle.json").write_text(json.dumps(m))
    _refused(b, "bundle.json", "altered")


def test_a_member_whose_width_disagrees_with_the_recipe_is_refused(made, tmp_path):
    """A recipe edited (and re-hashed, as a careless rebuild would) to another feature width."""
    from exprnet.deploy.bundle import bundle_id, sha256_bytes

    b = _copy(made, tmp_path)
    recipe = json.loads((b / "recipe.json").read_text())
    feat = recipe["features"][0]
    feat["attrs"]["dim"] += 3
    (b / "recipe.json").write_text(json.dumps(recipe))
    m = json.loads((b / "bundle.json").read_text())
    m["files"]["recipe.json"] = sha256_bytes((b / "recipe.json").read_bytes())
    m["id"] = bundle_id(m)
    (b / "bundle.json").write_text(json.dumps(m))
    _refused(b, feat["name"], str(feat["attrs"]["dim"]))


def test_not_a_bundle(tmp_path):
    _refused(tmp_path, "not a bundle", "exprnet bundle")


# -- a bundle never reads outside its folder --------------------------------------------------------
def _rehash(b, files=None):
    """bundle.json with ``files`` (rel -> path whose bytes it lists; None drops the entry) and its
    id recomputed, as whoever edits a bundle can."""
    from exprnet.deploy.bundle import bundle_id, sha256_bytes

    m = json.loads((b / "bundle.json").read_text())
    for rel, path in (files or {}).items():
        if path is None:
            m["files"].pop(rel)
        else:
            m["files"][rel] = sha256_bytes(path.read_bytes())
    m["id"] = bundle_id(m)
    (b / "bundle.json").write_text(json.dumps(m))
    return m


@pytest.fixture
def secret(tmp_path):
    p = tmp_path / "outside" / "secret.txt"
    p.parent.mkdir()
    p.write_text("root:x:0:0:root:/root:/bin/bash\n")
    return p


def test_a_listed_file_that_is_a_link_outside_is_refused(made, tmp_path, secret):
    b = _copy(made, tmp_path)
    (b / "MODEL_CARD.md").unlink()
    (b / "MODEL_CARD.md").symlink_to(secret)
    _rehash(b, {"MODEL_CARD.md": secret})
    _refused(b, "MODEL_CARD.md", "symbolic link")


@pytest.mark.parametrize("entry", ["../outside/secret.txt", "members/../../outside/secret.txt", "ABSOLUTE"])
def test_a_manifest_entry_outside_the_folder_is_refused(made, tmp_path, secret, entry):
    b = _copy(made, tmp_path)
    entry = str(secret) if entry == "ABSOLUTE" else entry
    assert (b / entry).resolve() == secret.resolve()  # the attack: a listed file read from outside
    _rehash(b, {entry: secret})
    _refused(b, "bundle.json", repr(entry), "outside the bundle")


def test_a_member_folder_entry_outside_the_folder_is_refused(made, tmp_path):
    b = _copy(made, tmp_path)
    m = json.loads((b / "bundle.json").read_text())
    m["members"][0]["folder"] = "../elsewhere"
    (b / "bundle.json").write_text(json.dumps(m))
    _rehash(b)
    _refused(b, "member folder", "'../elsewhere'", "outside the bundle")


def test_a_link_the_manifest_does_not_list_is_refused(made, tmp_path, secret):
    b = _copy(made, tmp_path)
    (b / "members" / "notes.txt").symlink_to(secret)
    _refused(b, "notes.txt", "symbolic link")


def test_a_member_folder_that_is_a_link_is_refused(made, tmp_path):
    """The member's files, listed with their true sha256, but in a folder elsewhere."""
    b = _copy(made, tmp_path)
    member = sorted((b / "members").iterdir())[0]
    shutil.move(member, tmp_path / "moved-member")
    member.symlink_to(tmp_path / "moved-member", target_is_directory=True)
    _refused(b, member.name, "symbolic link")


def test_a_manifest_that_is_a_link_is_refused(made, tmp_path):
    b = _copy(made, tmp_path)
    shutil.move(b / "bundle.json", tmp_path / "manifest.json")
    (b / "bundle.json").symlink_to(tmp_path / "manifest.json")
    _refused(b, "bundle.json", "symbolic link")


def test_a_file_the_manifest_does_not_list_is_refused(made, tmp_path):
    b = _copy(made, tmp_path)
    extra = sorted((b / "members").iterdir())[0] / "extra.safetensors"
    extra.write_bytes(b"\0" * 16)
    _refused(b, str(extra.relative_to(b)), "not listed")


def test_a_link_swapped_in_after_the_scan_is_not_followed(made, tmp_path, secret):
    """What is opened is opened one component at a time without following links."""
    from exprnet.deploy.contents import read_inside

    b = _copy(made, tmp_path)
    (b / "MODEL_CARD.md").unlink()
    (b / "MODEL_CARD.md").symlink_to(secret)
    with pytest.raises(BundleError, match="symbolic link"):
        read_inside(b, "MODEL_CARD.md")
    member = sorted((b / "members").iterdir())[0]
    shutil.move(member, tmp_path / "m")
    member.symlink_to(tmp_path / "m", target_is_directory=True)
    with pytest.raises(BundleError, match="symbolic link"):
        read_inside(b, f"members/{member.name}/config.yaml")
    assert read_inside(b, "recipe.json") == (b / "recipe.json").read_bytes()


def test_a_bundle_reached_through_a_link_loads(made, tmp_path):
    """The folder named on the command line is the user's choice: it may be a link."""
    (tmp_path / "latest").symlink_to(made / "bundle", target_is_directory=True)
    assert Bundle.load(tmp_path / "latest").id == json.loads((made / "bundle" / "bundle.json").read_text())["id"]


# -- signatures: who made the bundle ----------------------------------------------------------------
def _trusted(tmp_path, *pubs, name="trusted"):
    f = tmp_path / name
    f.write_text("# keys whose bundles we load\n" + "".join(p.read_text() for p in pubs))
    return f


def _other_key(tmp_path, name="other"):
    from exprnet.deploy.signing import generate_key

    return generate_key(tmp_path / name)


def test_keygen_writes_a_standard_key_pair(key):
    """The public key is one OpenSSH line whose fingerprint is the sha256 of its blob (what
    ssh-keygen -l prints); the private key is PKCS#8 PEM, readable by its owner only."""
    import base64
    import hashlib

    from exprnet.deploy.signing import fingerprint, load_private_key

    kind, blob, comment = Path(f"{key}.pub").read_text().split()
    assert kind == "ssh-ed25519" and comment == "exprnet"
    want = "SHA256:" + base64.b64encode(hashlib.sha256(base64.b64decode(blob)).digest()).decode().rstrip("=")
    assert fingerprint(load_private_key(key).public_key()) == want
    assert Path(key).read_text().startswith("-----BEGIN PRIVATE KEY-----")
    assert Path(key).stat().st_mode & 0o777 == 0o600
    r = CliRunner().invoke(app, ["keygen", str(key)])
    assert r.exit_code == 2 and "exists already" in r.output  # never overwritten


def test_a_signed_bundle_loads_with_its_key_trusted(made, key, tmp_path):
    from exprnet.deploy.signing import fingerprint, load_private_key

    other, other_pub = _other_key(tmp_path)
    b = Bundle.load(made / "bundle", trusted_keys=_trusted(tmp_path, other_pub, Path(f"{key}.pub")))
    assert b.signer == fingerprint(load_private_key(key).public_key())
    assert Bundle.load(made / "bundle").signer is None  # no key required: the signature is not read


def test_an_unsigned_bundle_is_refused_when_a_key_is_required(made, key, tmp_path):
    b = _copy(made, tmp_path)
    (b / "bundle.sig").unlink()
    with pytest.raises(BundleError) as e:
        Bundle.load(b, trusted_keys=Path(f"{key}.pub"))
    assert "bundle.sig" in str(e.value) and "not signed" in str(e.value) and "\n" not in str(e.value)
    Bundle.load(b)  # without --trusted-keys, the manifest's integrity alone


@pytest.mark.parametrize("garbage", [b"", b"not json", b'{"format": "exprnet-bundle-signature"}',
                                     b'{"format": "exprnet-bundle-signature", "algorithm": "ed25519", '
                                     b'"key": "SHA256:x", "signature": "AAAA"}'])
def test_a_malformed_signature_is_refused(made, key, tmp_path, garbage):
    b = _copy(made, tmp_path)
    (b / "bundle.sig").write_bytes(garbage)
    with pytest.raises(BundleError) as e:
        Bundle.load(b, trusted_keys=Path(f"{key}.pub"))
    assert "bundle.sig" in str(e.value) and "not a readable signature" in str(e.value) and "\n" not in str(e.value)


def test_a_bundle_signed_by_another_key_is_refused(made, key, tmp_path):
    from exprnet.deploy.signing import fingerprint, load_private_key

    _, other_pub = _other_key(tmp_path)
    with pytest.raises(BundleError) as e:
        Bundle.load(made / "bundle", trusted_keys=other_pub)
    signer = fingerprint(load_private_key(key).public_key())
    assert f"made by key {signer}" in str(e.value) and "not a trusted key" in str(e.value)


def test_a_manifest_changed_after_signing_is_refused(made, key, tmp_path):
    """The edit re-hashed and re-id'd, so that only the signature can tell."""
    b = _copy(made, tmp_path)
    m = json.loads((b / "bundle.json").read_text())
    m["combination"]["weights"] = [0.9, 0.1]
    (b / "bundle.json").write_text(json.dumps(m))
    _rehash(b)
    Bundle.load(b)  # its integrity holds ...
    with pytest.raises(BundleError) as e:  # ... its author's signature does not
        Bundle.load(b, trusted_keys=Path(f"{key}.pub"))
    assert "bundle.sig" in str(e.value) and "manifest changed after" in str(e.value)


def test_an_altered_signature_is_refused(made, key, tmp_path):
    import base64

    b = _copy(made, tmp_path)
    doc = json.loads((b / "bundle.sig").read_text())
    sig = bytearray(base64.b64decode(doc["signature"]))
    sig[0] ^= 1
    doc["signature"] = base64.b64encode(bytes(sig)).decode()
    (b / "bundle.sig").write_text(json.dumps(doc))
    with pytest.raises(BundleError, match="not a valid signature"):
        Bundle.load(b, trusted_keys=Path(f"{key}.pub"))


def test_keys_made_by_ssh_keygen_and_openssl_sign_and_verify(made, tmp_path):
    """Standard key files: OpenSSH (ssh-keygen) and PEM (openssl, also encrypted) private keys;
    .pub lines and PEM public keys in one trusted file."""
    import subprocess

    from exprnet.deploy.signing import load_private_key, signature_file
    from exprnet.errors import ConfigError

    tools = [t for t in ("ssh-keygen", "openssl") if shutil.which(t)]
    if len(tools) < 2:
        pytest.skip(f"needs ssh-keygen and openssl (found: {tools})")
    run = lambda *a: subprocess.run(a, check=True, capture_output=True, cwd=tmp_path)  # noqa: E731
    run("ssh-keygen", "-q", "-t", "ed25519", "-f", "ssh", "-N", "")
    run("openssl", "genpkey", "-algorithm", "ed25519", "-out", "ossl.pem")
    run("openssl", "pkey", "-in", "ossl.pem", "-pubout", "-out", "ossl.pub.pem")
    run("openssl", "genpkey", "-algorithm", "ed25519", "-aes256", "-pass", "pass:pass phrase", "-out", "enc.pem")
    run("openssl", "pkey", "-in", "enc.pem", "-passin", "pass:pass phrase", "-pubout", "-out", "enc.pub.pem")
    fp = run("ssh-keygen", "-lf", "ssh.pub").stdout.split()[1].decode()
    trusted = _trusted(tmp_path, tmp_path / "ossl.pub.pem", tmp_path / "ssh.pub", tmp_path / "enc.pub.pem")
    b = _copy(made, tmp_path)
    for private, env in (("ssh", None), ("ossl.pem", None), ("enc.pem", "pass phrase")):
        with pytest.MonkeyPatch.context() as mp:
            if env:
                mp.setenv("EXPRNET_KEY_PASSPHRASE", env)
            k = load_private_key(tmp_path / private)
        (b / "bundle.sig").write_bytes(signature_file((b / "bundle.json").read_bytes(), k))
        assert Bundle.load(b, trusted_keys=trusted).signer is not None
    with pytest.raises(ConfigError, match="EXPRNET_KEY_PASSPHRASE"):
        load_private_key(tmp_path / "enc.pem")  # encrypted, no passphrase given
    (b / "bundle.sig").write_bytes(signature_file((b / "bundle.json").read_bytes(), load_private_key(tmp_path / "ssh")))
    assert Bundle.load(b, trusted_keys=trusted).signer == fp  # named as ssh-keygen -l names it


@pytest.mark.parametrize("content,words", [
    ("", ["holds no public key"]),
    ("ssh-ed25519 AAAAbroken\n", [":1", "not an OpenSSH public key line"]),
    ("RSA", [":1", "RSA public key, not Ed25519"]),
])
def test_a_bad_trusted_keys_file_is_named(made, tmp_path, content, words):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from exprnet.errors import ConfigError

    if content == "RSA":
        pub = rsa.generate_private_key(65537, 2048).public_key()
        content = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    f = tmp_path / "trusted"
    f.write_text(content)
    with pytest.raises(ConfigError) as e:
        Bundle.load(made / "bundle", trusted_keys=f)
    assert str(f) in str(e.value) and "\n" not in str(e.value)
    for w in words:
        assert w in str(e.value), str(e.value)


def test_sign_takes_a_private_key_and_a_bundle(small, runs, key, tmp_path):
    r = CliRunner().invoke(app, ["ensemble", str(runs / "lstm"), "--store", str(small.store), "--labels",
                                 str(small.labels), "--out", str(tmp_path / "e"), "--sign", str(key)])
    assert r.exit_code == 2 and "--sign" in r.output and "--bundle" in r.output
    r = CliRunner().invoke(app, ["bundle", str(runs / "lstm"), "--store", str(small.store), "--labels",
                                 str(small.labels), "--out", str(tmp_path / "b"), "--sign", f"{key}.pub"])
    assert r.exit_code == 2 and "is a public key" in r.output and not (tmp_path / "b").exists()


def test_infer_and_serve_refuse_a_bundle_no_trusted_key_signed(made, tmp_path):
    """Before any model loads or any video is read."""
    from exprnet.deploy.serve import create_expressions_app

    _, other_pub = _other_key(tmp_path)
    (tmp_path / "in").mkdir()
    for cmd in (["infer", str(tmp_path / "in"), "--out", str(tmp_path / "o")], ["serve"]):
        r = CliRunner().invoke(app, [*cmd, "--bundle", str(made / "bundle"), "--trusted-keys", str(other_pub)])
        assert r.exit_code == 2 and "not a trusted key" in r.output, r.output
    assert not (tmp_path / "o").exists()
    with pytest.raises(BundleError, match="not a trusted key"):
        create_expressions_app(made / "bundle", trusted_keys=other_pub)


def test_weights_whose_sha256_differs_from_the_recipe_are_refused(made):
    from exprnet.deploy.recipe import FeatureRecipe, Recipe

    r = Recipe((FeatureRecipe("hubert", {"extractor": "hubert", "modality": "audio", "dim": 16,
                                         "weights_id": "/models/hubert", "weights_kind": "user",
                                         "weights_sha256": "a" * 64}),))

    class Loaded:
        name = "hubert"

        def provenance(self):
            return {"extractor": "hubert", "weights_id": "/elsewhere/hubert", "weights_sha256": "b" * 64,
                    "weights_kind": "user", "dim": 16}

    with pytest.raises(ConfigError) as e:
        r.check_extractor(Loaded(), {"hubert": "/elsewhere/hubert"})
    msg = str(e.value)
    assert "/elsewhere/hubert" in msg and "aaaaaaaaaaaa" in msg and "bbbbbbbbbbbb" in msg and "\n" not in msg


def test_a_dropped_feature_is_fed_as_whole_feature_dropout_fed_it(small, runs):
    """Standardised, the absent feature is zero (its training mean) and flagged absent; the others
    are untouched."""
    from exprnet.data.bank import load_bank
    from exprnet.deploy.members import dropped
    from exprnet.prediction.predict import load_run
    from featurizer.core.store import FeatureStore

    lr = load_run(runs / "lstm")
    tracks = sorted(small.tracks)[:2]
    bank = load_bank(FeatureStore(small.store, mode="r"), lr.cfg.data.features, tracks, None, "error")
    out = dropped(bank, lr.stats, {tracks[0]: {"aud"}})
    j = out.features.index("aud")
    cols = slice(sum(out.dims[:j]), sum(out.dims[:j + 1]))
    rows, other = out.rows(0), out.rows(1)
    raw = out.values[rows, cols].astype(np.float64) / out.scale[cols] + out.offset[cols]
    np.testing.assert_allclose((raw - lr.stats.mean[cols]) / lr.stats.std[cols], 0, atol=2e-3)
    assert not out.present[rows, j].any()
    np.testing.assert_array_equal(out.present[rows, 1 - j], bank.present[rows, 1 - j])
    np.testing.assert_array_equal(out.values[other], bank.values[other])
