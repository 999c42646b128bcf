"""Vendor the book's JavaScript (MathJax, the ipywidgets HTML manager, RequireJS) into book/_static/vendor/.

Usage:
    python scripts/vendor_web_assets.py           # fetch the pinned npm tarballs (needs npm), rewrite vendor/
    python scripts/vendor_web_assets.py --check   # offline: the committed files match MANIFEST.json

Why: a Jupyter Book page loads MathJax, RequireJS and the ipywidgets manager
from public CDNs at view time, so a reader behind a firewall (or where
cdn.jsdelivr.net is slow or blocked) sees raw TeX and no widgets. The book
serves its own copies from `_static/vendor/` instead (_config.yml points
`mathjax_path` and myst-nb's `nb_ipywidgets_js` there).

Why vendored and committed rather than `npm install` in `make book`: the
README promises that `make book` and `make test` need only Python and make,
on a machine with no network; a committed copy keeps that promise, builds the
same bytes every time and costs about 8 MB once in git. Only someone who
changes a pin needs Node/npm (for `npm pack`, the registry's own client).

What is kept of each tarball (the rest is source, maps and legacy formats):
- mathjax 3.2.2 (Apache-2.0; Sphinx 7's mathjax extension speaks MathJax 3):
  `tex-mml-svg.js`, the TeX input with MathML input (as Sphinx's default
  tex-mml-chtml.js) and SVG output: glyphs are drawn from paths inside the
  script, so no web fonts are fetched; `input/tex/extensions/` for macros that
  MathJax autoloads (\\boldsymbol, \\cancel, \\color, ...); `a11y/` and the
  English speech rules (`sre/mathmaps/{base,en}.json`) for the accessibility
  explorer in MathJax's right-click menu.
- @jupyter-widgets/html-manager 1.0.15 (BSD-3-Clause): `embed-amd.js`, the
  version that goes with ipywidgets 8.1.9 / jupyterlab_widgets 3.0.17
  (@jupyter-widgets/base 6.0.12, controls 5.0.13; it renders ipywidgets 7
  state too), and its Font Awesome fonts in woff2/woff (the formats every
  current browser takes first; eot/ttf/svg fonts are left out).
- requirejs 2.3.8 (MIT): `require.js`, which embed-amd.js needs.

MANIFEST.json records each package's version, the registry's sha512
integrity of its tarball (checked before extracting) and the sha256 of every
vendored file; `--check` (run by tests/test_browser.py) verifies the latter.
"""
import argparse
import base64
import fnmatch
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT / "book" / "_static" / "vendor"
MANIFEST = VENDOR / "MANIFEST.json"

# name, version, registry integrity of the tarball, target folder, kept files (globs inside package/)
PACKAGES = [
    {
        "name": "mathjax",
        "version": "3.2.2",
        "license": "Apache-2.0",
        "integrity": "sha512-Bt+SSVU8eBG27zChVewOicYs7Xsdt40qm4+UpHyX7k0/O9NliPc+x77k1/FEsPsjKPZGJvtRZM1vO+geW0OhGw==",
        "folder": "mathjax",
        "strip": "es5/",
        "keep": [
            "LICENSE",
            "es5/tex-mml-svg.js",
            "es5/input/tex/extensions/*.js",
            "es5/a11y/*.js",
            "es5/sre/mathmaps/base.json",
            "es5/sre/mathmaps/en.json",
        ],
    },
    {
        "name": "@jupyter-widgets/html-manager",
        "version": "1.0.15",
        "license": "BSD-3-Clause",
        "integrity": "sha512-5thBIV6ymNgmPVOHvzx+gGy8ZSKmSazhtGw4/c4xJDVzRhG9PTeQsRjF3FUTopvFi//SABeNz1yp47bCrJ3CQA==",
        "folder": "html-manager",
        "strip": "dist/",
        "keep": ["dist/embed-amd.js", "dist/*.woff2", "dist/*.woff"],
    },
    {
        "name": "requirejs",
        "version": "2.3.8",
        "license": "MIT",
        "integrity": "sha512-7/cTSLOdYkNBNJcDMWf+luFvMriVm7eYxp4BcFCsAX0wF421Vyce5SXP17c+Jd5otXKGNehIonFlyQXSowL6Mw==",
        "folder": "requirejs",
        "strip": "",
        "keep": ["require.js"],
    },
]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_integrity(tarball: Path, integrity: str) -> None:
    algorithm, _, expected = integrity.partition("-")
    actual = base64.b64encode(hashlib.new(algorithm, tarball.read_bytes()).digest()).decode()
    if actual != expected:
        sys.exit(f"{tarball.name}: {algorithm} is {actual}, the pin says {expected}; refusing to vendor it")


def npm_pack(spec: str, dest: Path) -> Path:
    if shutil.which("npm") is None:
        sys.exit("npm not found: re-vendoring needs Node.js/npm (the book build itself does not)")
    result = subprocess.run(["npm", "pack", spec, "--json", "--pack-destination", str(dest)],
                            capture_output=True, text=True)
    if result.returncode != 0:
        sys.exit(f"npm pack {spec} failed:\n{result.stderr}")
    return dest / json.loads(result.stdout)[0]["filename"]


def vendor() -> None:
    manifest = {"about": "written by scripts/vendor_web_assets.py; do not edit by hand", "packages": []}
    if VENDOR.exists():
        shutil.rmtree(VENDOR)
    with tempfile.TemporaryDirectory() as tmp:
        for package in PACKAGES:
            spec = f"{package['name']}@{package['version']}"
            tarball = npm_pack(spec, Path(tmp))
            check_integrity(tarball, package["integrity"])
            files, unmatched = {}, set(package["keep"])
            with tarfile.open(tarball) as tar:
                for member in tar.getmembers():
                    inner = member.name.removeprefix("package/")
                    matched = {g for g in package["keep"] if fnmatch.fnmatch(inner, g)}
                    if not member.isfile() or not matched:
                        continue
                    unmatched -= matched
                    relative = inner.removeprefix(package["strip"])
                    target = VENDOR / package["folder"] / relative
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(tar.extractfile(member).read())
                    files[f"{package['folder']}/{relative}"] = sha256(target)
            if unmatched:
                sys.exit(f"{spec}: nothing in the tarball matches {sorted(unmatched)}")
            manifest["packages"].append({
                "name": package["name"], "version": package["version"], "license": package["license"],
                "integrity": package["integrity"], "files": dict(sorted(files.items())),
            })
            size = sum((VENDOR / f).stat().st_size for f in files)
            print(f"{spec}: {len(files)} files, {size / 1e6:.1f} MB -> {VENDOR.relative_to(ROOT)}/{package['folder']}/")
    MANIFEST.write_text(json.dumps(manifest, indent=1) + "\n")


def check() -> list[str]:
    """Problems with the vendored files (empty when they match MANIFEST.json and the pins here)."""
    if not MANIFEST.is_file():
        return [f"{MANIFEST.relative_to(ROOT)} is missing: run scripts/vendor_web_assets.py"]
    manifest = json.loads(MANIFEST.read_text())
    problems = []
    pinned = {(p["name"], p["version"], p["integrity"]) for p in PACKAGES}
    recorded = {(p["name"], p["version"], p["integrity"]) for p in manifest["packages"]}
    if pinned != recorded:
        problems.append(f"MANIFEST.json records {sorted(recorded)}, the script pins {sorted(pinned)}: re-run the script")
    listed = {}
    for package in manifest["packages"]:
        listed.update(package["files"])
    for name, digest in listed.items():
        path = VENDOR / name
        if not path.is_file():
            problems.append(f"{name} is missing")
        elif sha256(path) != digest:
            problems.append(f"{name} differs from the npm tarball (sha256 {sha256(path)}, expected {digest})")
    extra = {p.relative_to(VENDOR).as_posix() for p in VENDOR.rglob("*") if p.is_file()} - set(listed) - {"MANIFEST.json"}
    problems += [f"{name} is not from a pinned tarball" for name in sorted(extra)]
    return problems


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="verify the committed files, offline")
    if parser.parse_args().check:
        problems = check()
        print("\n".join(problems) or f"{VENDOR.relative_to(ROOT)}: every file matches MANIFEST.json")
        sys.exit(1 if problems else 0)
    vendor()
