"""The remote path: `translate run --server` and `translate generate --server` (serving/remote.py).

The library's commands load the remote processors through the ``translate.remote`` entry points;
these tests run them against a real server on port 0 and compare with the local processors
pixel for pixel, check typed errors, and TLS with a bearer token.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import PIL.Image
import pytest
from image_folders import make_folder
from image_folders import output_files as _outputs
from image_folders import pil_image as _pil
from image_folders import read_pixels as _pixels
from server_fixtures import make_repo, png_bytes, start_server

from translate.cli import main


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    """The serving tests' tiny ONNX models (conv3x3 + tanh translator, pixel-shuffle SR, generators)."""
    return make_repo(tmp_path_factory.mktemp("models"))


@pytest.fixture(scope="module")
def translator(repo):
    return repo / "photo2art" / "1" / "model.onnx"


@pytest.fixture(scope="module")
def server(repo):
    rs = start_server(repo)
    yield rs
    rs.server.drain(1)


def _run(*argv: str) -> int:
    return main(["run", *map(str, argv), "--no-progress"])


def _gen(*argv) -> int:
    return main(["generate", *map(str, argv)])


def _images(folder: Path) -> dict[str, np.ndarray]:
    out = {}
    for p in sorted(folder.glob("*.png")):
        with PIL.Image.open(p) as im:
            out[p.name] = np.asarray(im)
    return out


def test_remote_processors_are_found_through_entry_points():
    from serving.remote import RemoteGenerator, RemoteTranslate
    from translate.plugins import remote

    assert remote("translate") is RemoteTranslate and remote("generate") is RemoteGenerator


# ----------------------------------------------------------------------------- translate run --server
def test_local_and_server_give_identical_pixels(tmp_path, translator, server, capsys):
    src = make_folder(tmp_path / "in")
    big = _pil((70, 45), "RGB", seed=9)
    big.save(src / "big.png")
    for args in ([], ["--tile", "32", "--tile-overlap", "8"]):  # whole images, then tiled
        local, remote = tmp_path / f"local{len(args)}", tmp_path / f"remote{len(args)}"
        assert _run("--model", translator, "-i", src, "-o", local, "-r", *args) == 1
        assert _run("--server", server.address, "--model", "photo2art", "-i", src, "-o", remote, "-r", "-j", "3",
                    *args) == 1
        printed = capsys.readouterr().out
        assert printed.count("done 7, skipped 0, failed 2") == 2
        assert f"FAILED {src / 'corrupt.jpg'}: INVALID_ARGUMENT" in printed  # the server's verdict, collected
        assert _outputs(local) == _outputs(remote) and len(_outputs(local)) == 7
        for name in _outputs(local):
            assert np.array_equal(_pixels(local / name), _pixels(remote / name)), name


def test_server_errors_are_typed(tmp_path, server, capsys):
    (tmp_path / "a.png").write_bytes(png_bytes())
    assert _run("--server", server.address, "--model", "no-such-model", "-i", tmp_path / "a.png",
                "-o", tmp_path / "o") == 1
    assert "NOT_FOUND" in capsys.readouterr().err
    assert _run("--server", server.address, "--model", "faces", "-i", tmp_path / "a.png", "-o", tmp_path / "o") == 2


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed EC certificate for 127.0.0.1 (it is its own CA) and its key, as PEM files."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "server.pem", tmp_path / "server.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_server_with_tls_and_token(tmp_path, repo, translator, capsys):
    cert, key = _self_signed(tmp_path)
    tokens = tmp_path / "tokens.txt"
    tokens.write_text("# one token per line\ns3cret-token-for-tests-0123456789\n")
    rs = start_server(repo, tls_cert=str(cert), tls_key=str(key), auth_tokens=str(tokens))
    try:
        (tmp_path / "in").mkdir()
        (tmp_path / "in" / "a.png").write_bytes(png_bytes(19, 23, seed=4))
        remote = ["--server", rs.address, "--model", "photo2art", "-i", tmp_path / "in", "--tls-ca", cert]
        assert _run(*remote, "-o", tmp_path / "no-token") == 1
        assert "UNAUTHENTICATED" in capsys.readouterr().err
        assert _run(*remote, "--token-file", tokens, "-o", tmp_path / "remote") == 0
    finally:
        rs.server.drain(1)
    assert _run("--model", translator, "-i", tmp_path / "in", "-o", tmp_path / "local") == 0
    assert np.array_equal(_pixels(tmp_path / "remote" / "a.png"), _pixels(tmp_path / "local" / "a.png"))


# ----------------------------------------------------------------------------- translate generate --server
def test_server_gives_the_same_images(tmp_path, repo, server):
    for name, extra in (("faces", []), ("digits", ["--class", "2"])):
        model = repo / name / "1" / "model.onnx"
        assert _gen("--model", model, "--seeds", "3-5,11", "--truncation", "1.5", *extra, "-o", tmp_path / name) == 0
        assert _gen("--server", server.address, "--model", name, "--seeds", "3-5,11", "--truncation", "1.5", *extra,
                    "-o", tmp_path / f"{name}-remote") == 0
        local, remote = _images(tmp_path / name), _images(tmp_path / f"{name}-remote")
        assert list(local) == list(remote) and len(local) == 4
        assert all(np.array_equal(local[k], remote[k]) for k in local), name
    # and the latent walk, whose latents travel as explicit values
    faces = repo / "faces/1/model.onnx"
    assert _gen("--model", faces, "--interpolate", "1,2", "--steps", "4", "-o", tmp_path / "w") == 0
    assert _gen("--server", server.address, "--model", "faces", "--interpolate", "1,2", "--steps", "4",
                "-o", tmp_path / "w-remote") == 0
    local, remote = _images(tmp_path / "w"), _images(tmp_path / "w-remote")
    assert list(local) == list(remote) and all(np.array_equal(local[k], remote[k]) for k in local)
