"""Static files from static_dir: MIME types, HEAD, directories, and no way out of the
directory (dot segments, encoded separators, NUL, dotfiles, symlinks)."""

import os

import pytest

from conftest import assert_json_error, make_static

SECRET = b"TOP-SECRET-4c1d0e9f-outside-static"
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256))

FILES = {
    "style.css": (b"body { color: black; }\n", "text/css"),
    "app.js": (b"console.log('hi');\n", "text/javascript"),
    "logo.svg": (b'<svg xmlns="http://www.w3.org/2000/svg"/>\n', "image/svg+xml"),
    "img.png": (PNG, "image/png"),
    "data.xyz": (b"\x00\x01\x02 opaque", "application/octet-stream"),
    "noext": (b"no extension", "application/octet-stream"),
    "with space.txt": (b"spaced", None),
    "sub/page.html": (b"<p>SUB-PAGE</p>\n", "text/html"),
}


@pytest.fixture(scope="module")
def site(tmp_path_factory, module_daemon_factory):
    work = tmp_path_factory.mktemp("site")
    static = make_static(work / "static")
    for name, (content, _) in FILES.items():
        (static / name).write_bytes(content)
    (static / ".hidden").write_bytes(SECRET)
    (static / ".git").mkdir()
    (static / ".git" / "config").write_bytes(SECRET)
    # outside static/: what traversal would reach
    (work / "secret").write_bytes(SECRET)
    (work / "secret.txt").write_bytes(SECRET)
    # symlinks: inside to inside (served), inside to outside (404)
    os.symlink("index.html", static / "alias.html")
    os.symlink("sub", static / "subalias")
    os.symlink("../secret.txt", static / "out.txt")
    os.symlink(str(work / "secret.txt"), static / "abs-out.txt")
    os.symlink("..", static / "updir")
    os.symlink("/etc", static / "etc")
    os.symlink("sub/../../secret.txt", static / "twisty.txt")
    return module_daemon_factory(workdir=work, static_dir=static)


@pytest.fixture(autouse=True)
def still_serving(site):
    yield
    site.assert_serving()


def media_type(resp):
    return resp.header("Content-Type", "").split(";")[0].strip().lower()


def test_root_serves_index_html(site):
    r = site.get("/")
    assert r.status == 200, r
    assert media_type(r) == "text/html"
    assert r.body == (site.static_dir / "index.html").read_bytes()
    assert int(r.header("Content-Length")) == len(r.body)


def test_index_html_by_name(site):
    r = site.get("/index.html")
    assert r.status == 200 and media_type(r) == "text/html"


@pytest.mark.parametrize("name", [n for n, (_, t) in FILES.items() if t is not None])
def test_mime_types(site, name):
    content, ctype = FILES[name]
    r = site.get("/" + name)
    assert r.status == 200, r
    assert media_type(r) == ctype, r.headers
    assert r.body == content


def test_percent_encoded_names(site):
    r = site.get("/with%20space.txt")
    assert r.status == 200 and r.body == b"spaced"
    r = site.get("/st%79le.css")
    assert r.status == 200 and r.body == FILES["style.css"][0]


def test_query_string_ignored(site):
    r = site.get("/style.css?v=123#frag")
    assert r.status == 200 and r.body == FILES["style.css"][0]


@pytest.mark.parametrize("path", ["/", "/img.png", "/sub/page.html"])
def test_head(site, path):
    full = site.get(path)
    r = site.request("HEAD", path)
    assert r.status == 200
    assert r.body == b""
    assert r.header("Content-Type") == full.header("Content-Type")
    assert int(r.header("Content-Length")) == len(full.body)


@pytest.mark.parametrize("path", ["/sub/", "/sub", "/subalias/"])
def test_directory_serves_its_index(site, path):
    r = site.get(path)
    assert r.status == 200, r
    assert b"SUB-INDEX" in r.body
    assert media_type(r) == "text/html"


def test_directory_without_index_404(site):
    (site.static_dir / "empty").mkdir(exist_ok=True)
    assert_json_error(site.get("/empty/"), 404)


def test_symlink_inside_static_is_served(site):
    r = site.get("/alias.html")
    assert r.status == 200, r
    assert r.body == (site.static_dir / "index.html").read_bytes()


TRAVERSALS = [
    "/../secret", "/../secret.txt", "/..", "/../", "/%2e%2e/secret", "/%2E%2E/secret",
    "/%2e%2e%2fsecret", "/%2E%2E%2Fsecret", "/..%2fsecret", "/..%2Fsecret.txt",
    "/sub%2f..%2f..%2fsecret", "/sub/..%2f..%2fsecret", "/sub/../../secret",
    "/sub/./../../secret.txt", "/./../secret", "/.%2e/secret", "/%2e./secret",
    "/..%5csecret", "/..\\secret", "/sub\\..\\..\\secret", "/%252e%252e/secret",
    "/%00", "/index.html%00", "/index.html%00.png", "/%00/../secret", "/sub%00/page.html",
    "/.hidden", "/%2ehidden", "/.git/config", "/sub/../.hidden",
    "/out.txt", "/abs-out.txt", "/updir/secret", "/updir/secret.txt",
    "/etc/passwd", "/etc/hostname", "/twisty.txt", "//secret", "/%2fsecret",
    "/%2f%2e%2e%2fsecret", "/%", "/%zz", "/%2", "/sub/%",
]


@pytest.mark.parametrize("path", TRAVERSALS)
def test_no_way_out_of_static(site, path):
    r = site.get(path)
    assert SECRET not in r.body
    assert_json_error(r, 404)


@pytest.mark.parametrize("target", [b"http://test/../secret", b"*", b"../secret", b"secret"])
def test_odd_request_targets(site, target):
    r = site.raw(b"GET " + target + b" HTTP/1.1\r\nHost: test\r\n\r\n")
    assert SECRET not in r.body
    assert r.status in (400, 404), r


@pytest.mark.parametrize("path", [b"/\x01", b"/a\x7fb", b"/a\x1bb", b"/\xff\xfe"])
def test_raw_control_and_high_bytes_in_path(site, path):
    r = site.raw(b"GET " + path + b" HTTP/1.1\r\nHost: test\r\n\r\n")
    assert r.status in (400, 404), r


def test_static_responses_carry_safety_headers(site):
    r = site.get("/")
    assert r.header("X-Content-Type-Options") == "nosniff"
