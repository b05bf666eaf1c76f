"""Builds the FaceDepth installer: PyInstaller bundle, self-test, versioned archive and Debian package.

    python packaging/build.py [--weights DIR] [--dist DIR] [--work DIR] [--measure-start] [--screenshot PNG]

Steps, each reported with its figures (seconds, MB):

1. PyInstaller with ``build.spec`` -> ``<dist>/FaceDepth/`` (one folder; the executable is ``FaceDepth``), then
   the symbol tables of its shared libraries are stripped (Linux);
2. ``FaceDepth --self-test`` run from a temporary folder outside the source tree, in a clean environment
   (only PATH, HOME and LANG), so it proves the bundle needs nothing from the checkout or the venv;
3. optionally (on a private Xvfb server): time from launch to the first window frame on screen
   (``--measure-start``) and a screenshot of the window after it processed the bundled sample (``--screenshot``);
4. ``<dist>/FaceDepth-<version>-<os>-<machine>.tar.gz`` holding ``FaceDepth-<version>/``;
5. on Linux with dpkg-deb: ``<dist>/facedepth_<version>_<arch>.deb`` installing the bundle in /opt/facedepth,
   the launcher /usr/bin/facedepth-app, a desktop entry and the icon.

The weights bundled are ``weights/generator.tflite`` and ``generator_fast.tflite`` (+ ``MODEL_CARD.md``), or
those in ``--weights DIR``;
``--allow-no-weights`` builds without them (trial builds: the self-test then fails). Exit status 0 when
every step passed.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from pathlib import Path

from facedepth.app import xvfb
from facedepth.model import resources
from facedepth.model.files import atomic_write

ROOT = Path(__file__).resolve().parent.parent
NAME = "FaceDepth"
PACKAGE = "facedepth"
INSTALL_DIR = Path("opt") / PACKAGE
LAUNCHER = "facedepth-app"
MAINTAINER = "FaceDepth maintainers <facedepth@localhost>"
SUMMARY = "one face photo to a depth map and a 3D face mesh"
DEB_DEPENDS = ("libc6 (>= 2.35), libgl1, libegl1, libx11-6, libxcb1, libxext6, libxrandr2, libxcursor1, libxi6, "
               "libgl1-mesa-dri")
"""System libraries the bundle loads but PyInstaller leaves out (GL/EGL/X11 belong to the system; SDL2
opens the X11 extension libraries at run time); libc 2.35 because the Open3D wheel is manylinux_2_35."""
ICON = ROOT / resources.ICON_FILE
SCREEN = xvfb.SCREEN
SIZE_BUDGET_MIB = 450
"""The unpacked bundle (with the bundled generator) may take at most this much; tests/test_installer.py
asserts it."""


class BuildError(RuntimeError):
    """A step failed; the message says which and why."""


def project_version() -> str:
    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10: the installed package's metadata
        from importlib.metadata import version

        return version(PACKAGE)
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]


def platform_tag() -> str:
    return f"{platform.system()}-{platform.machine()}".lower()


def executable(bundle: Path) -> Path:
    return bundle.resolve() / (NAME + ".exe" if sys.platform == "win32" else NAME)


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """Only PATH, HOME and LANG (+ ``extra``): nothing from the venv or the project leaks into the app."""
    return {"PATH": os.defpath, "HOME": str(home), "LANG": "C.UTF-8", **extra}


def tree_size(folder: Path) -> int:
    """Bytes of the regular files under ``folder`` (links counted as links, as an unpacked copy holds them)."""
    return sum(path.lstat().st_size for path in folder.rglob("*") if not path.is_dir() or path.is_symlink())


def mb(size: int) -> str:
    return f"{size / 1e6:.0f} MB"


def report(step: str, detail: str) -> None:
    print(f"[build] {step}: {detail}", flush=True)


# ---------------------------------------------------------------------------------------------- bundle
def run_pyinstaller(dist: Path, work: Path, weights: Path | None, allow_no_weights: bool) -> Path:
    env = dict(os.environ)
    if weights is not None:
        env["FACEDEPTH_BUNDLE_WEIGHTS"] = str(weights)
    if allow_no_weights:
        env["FACEDEPTH_ALLOW_NO_WEIGHTS"] = "1"
    command = [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
               "--distpath", str(dist), "--workpath", str(work), str(ROOT / "build.spec")]
    proc = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise BuildError(f"PyInstaller failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    bundle = dist / NAME
    if not executable(bundle).is_file():
        raise BuildError(f"PyInstaller finished but {executable(bundle)} is missing")
    link_duplicates(bundle)
    strip_symbols(bundle)
    normalise_permissions(bundle)
    return bundle


def link_duplicates(bundle: Path) -> int:
    """Replaces each top-level copy of a library that also lies, byte for byte, in a package folder by a
    relative symbolic link to it (what PyInstaller does itself when it can tell where a library came from;
    from a virtual environment that reaches its packages through a .pth file it copies Open3D's 218 MB
    library twice); returns the bytes saved."""
    internal = executable(bundle).parent / "_internal"
    if not internal.is_dir():
        return 0
    nested: dict[str, list[Path]] = {}
    for path in internal.rglob("*.so*"):
        if path.parent != internal and path.is_file() and not path.is_symlink():
            nested.setdefault(path.name, []).append(path)
    saved = 0
    for top in sorted(internal.glob("*.so*")):
        if top.is_symlink() or not top.is_file():
            continue
        twin = next((p for p in nested.get(top.name, []) if p.stat().st_size == top.stat().st_size
                     and p.read_bytes() == top.read_bytes()), None)
        if twin is not None:
            saved += top.stat().st_size
            top.unlink()
            top.symlink_to(twin.relative_to(internal))
    return saved


def strip_symbols(bundle: Path) -> int:
    """Drop the symbol tables of the bundle's shared libraries (about 90 MB, Kivy's Cython modules the most);
    returns the bytes saved. Libraries vendored by auditwheel (``*.libs`` folders) are left alone: they are
    patched with patchelf, and stripping them breaks their loading. Linux with binutils only."""
    strip = shutil.which("strip")
    if not sys.platform.startswith("linux") or strip is None:
        return 0
    before = tree_size(bundle)
    vendored = vendored_library_names()
    libraries = [path for path in bundle.rglob("*.so*") if path.is_file() and not path.is_symlink()
                 and not any(part.endswith(".libs") for part in path.relative_to(bundle).parts)
                 and path.name not in vendored]
    for library in libraries:
        proc = subprocess.run([strip, "--strip-unneeded", str(library)], capture_output=True, text=True)
        if proc.returncode != 0:
            raise BuildError(f"strip failed on {library}: {proc.stderr.strip()}")
    return before - tree_size(bundle)


def vendored_library_names() -> set[str]:
    """Names of the libraries in the ``*.libs`` folders of the installed wheels (auditwheel's), wherever
    PyInstaller put them in the bundle."""
    folders = {Path(entry) for entry in sys.path if entry and Path(entry).is_dir()}
    return {library.name for folder in folders for library in folder.glob("*.libs/*.so*")}


def normalise_permissions(folder: Path) -> None:
    """Everything readable by every user (an installed copy runs as any user): 0755 folders and
    executables, 0644 other files, whatever the permissions of the files PyInstaller copied."""
    for path in [folder, *folder.rglob("*")]:
        if path.is_symlink():
            continue
        mode = path.stat().st_mode
        path.chmod(0o755 if path.is_dir() or mode & 0o111 else 0o644)


def self_test(bundle: Path) -> float:
    """Runs ``FaceDepth --self-test`` outside the source tree in a clean environment; returns seconds."""
    with tempfile.TemporaryDirectory(prefix="facedepth-selftest-run-") as temp:
        start = time.perf_counter()
        proc = subprocess.run([str(executable(bundle)), "--self-test"], cwd=temp, env=clean_env(Path(temp)),
                              capture_output=True, text=True, timeout=600)
        elapsed = time.perf_counter() - start
    print(textwrap.indent(proc.stdout.rstrip(), "    "), flush=True)
    if proc.returncode != 0:
        raise BuildError(f"self-test failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed


# ---------------------------------------------------------------------------------------------- window
# On a private Xvfb server (facedepth.app.xvfb); with fbdir it keeps its screen in fbdir/Xvfb_screen0, which
# lets the start-up measurement see the first frame the app puts on screen.
def screen_drawn(framebuffer: Path) -> bool:
    """True when a window has drawn on at least a quarter of the (black) screen."""
    import numpy as np

    width, height, _depth = map(int, SCREEN.split("x"))
    pixels = np.fromfile(framebuffer, dtype=np.uint32)[-width * height:]  # XWD: header, then the pixels
    return np.count_nonzero(pixels & 0xFFFFFF) > width * height // 4


def wait_until(condition, timeout: float, proc: subprocess.Popen | None = None) -> bool:
    """Polls ``condition`` every 10 ms until it holds (True), ``timeout`` passes or ``proc`` exits (False)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if condition():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.01)
    return False


def measure_start(bundle: Path, runs: int = 3, timeout: float = 60.0) -> list[float]:
    """Seconds from launch to the window's first frame on screen, ``runs`` times (the first with a fresh
    HOME, so Kivy also writes its configuration); the app is closed after each frame."""
    times = []
    with (tempfile.TemporaryDirectory(prefix="facedepth-start-") as temp,
          xvfb.running(SCREEN, fbdir=Path(temp)) as screen):
        framebuffer, home = Path(temp) / "Xvfb_screen0", Path(temp) / "home"
        home.mkdir()
        for _ in range(runs):
            with open(home / "stderr.txt", "w+") as stderr:
                launched = time.perf_counter()
                proc = subprocess.Popen([str(executable(bundle))], cwd=home, env=clean_env(home, DISPLAY=screen),
                                        stdout=subprocess.DEVNULL, stderr=stderr)
                try:
                    drawn = wait_until(lambda: screen_drawn(framebuffer), timeout, proc)
                    elapsed = time.perf_counter() - launched
                finally:
                    proc.terminate()
                    proc.wait(timeout=30)
                if not drawn:
                    stderr.seek(0)
                    raise BuildError(f"no window frame within {timeout:.0f} s (exit {proc.returncode}):\n"
                                     f"{stderr.read()[-3000:]}")
            times.append(elapsed)
            wait_until(lambda: not screen_drawn(framebuffer), 10.0)  # the closed window leaves the screen
    return times


def run_window(bundle: Path, screen: str, home: Path, args: list[str]) -> subprocess.CompletedProcess:
    """Runs the app with ``args`` in a clean environment on ``screen``, to its end."""
    return subprocess.run([str(executable(bundle)), *args], cwd=home, env=clean_env(home, DISPLAY=screen),
                          capture_output=True, text=True, timeout=900)


def screenshot(bundle: Path, target: Path) -> None:
    """The window after processing the bundled sample photo, saved as ``target``."""
    sample = next(bundle.rglob("assets/sample_face.jpg"))
    target = target.resolve()
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="facedepth-shot-") as temp, xvfb.running(SCREEN) as screen:
        proc = run_window(bundle, screen, Path(temp), [str(sample), "--screenshot", str(target)])
    if proc.returncode != 0 or not target.is_file():
        raise BuildError(f"the window did not show a result (exit {proc.returncode}):\n{proc.stderr[-3000:]}")


# ---------------------------------------------------------------------------------------------- packages
def _as_root(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    return info


def pack_archive(bundle: Path, dist: Path, version: str) -> Path:
    target = dist / f"{NAME}-{version}-{platform_tag()}.tar.gz"

    def write(temp: Path) -> None:
        with tarfile.open(temp, "w:gz", compresslevel=6) as archive:
            archive.add(bundle, arcname=f"{NAME}-{version}", filter=_as_root)

    return atomic_write(target, write, overwrite=True)


def _copy_tree(source: Path, target: Path) -> None:
    """Hard links where the file system allows (fast, no extra space), else copies; links stay links."""
    try:
        shutil.copytree(source, target, symlinks=True, copy_function=os.link)
    except (OSError, shutil.Error):
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(source, target, symlinks=True)


def desktop_entry() -> str:
    return textwrap.dedent(f"""\
        [Desktop Entry]
        Type=Application
        Name={NAME}
        GenericName=3D face from a photo
        Comment=Turn a face photo into a depth map and a 3D face mesh
        Exec={LAUNCHER} %f
        Icon={PACKAGE}
        Terminal=false
        Categories=Graphics;3DGraphics;
        MimeType=image/jpeg;image/png;image/bmp;image/tiff;image/webp;
        """)


def launcher_script() -> str:
    # Resolves its own location, so the package also runs where it is unpacked (dpkg -x ROOT).
    return textwrap.dedent(f"""\
        #!/bin/sh
        # {NAME}: starts the bundle installed in /{INSTALL_DIR.as_posix()}.
        here=$(dirname "$(readlink -f "$0")")
        exec "$here/../../{INSTALL_DIR.as_posix()}/{NAME}" "$@"
        """)


def control_file(version: str, arch: str, installed_kib: int) -> str:
    return textwrap.dedent(f"""\
        Package: {PACKAGE}
        Version: {version}
        Architecture: {arch}
        Maintainer: {MAINTAINER}
        Installed-Size: {installed_kib}
        Depends: {DEB_DEPENDS}
        Recommends: xclip | xsel
        Section: graphics
        Priority: optional
        Description: {NAME}: {SUMMARY}
         A desktop tool that estimates the depth of a face from a single photo and reconstructs
         a coloured 3D face mesh (PLY, OBJ, STL, GLB). Start it from the menu or with {LAUNCHER};
         '{LAUNCHER} --self-test' checks the installation.
        """)


def pack_deb(bundle: Path, dist: Path, version: str) -> Path:
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True,
                          check=True).stdout.strip()
    target = dist / f"{PACKAGE}_{version}_{arch}.deb"
    with tempfile.TemporaryDirectory(prefix="facedepth-deb-", dir=dist) as temp:
        stage = Path(temp)
        _copy_tree(bundle, stage / INSTALL_DIR)
        files = {
            Path("usr/bin") / LAUNCHER: (launcher_script(), 0o755),
            Path("usr/share/applications") / f"{PACKAGE}.desktop": (desktop_entry(), 0o644),
        }
        for relative, (text, mode) in files.items():
            path = stage / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            path.chmod(mode)
        icon = stage / "usr/share/icons/hicolor/256x256/apps" / f"{PACKAGE}.png"
        icon.parent.mkdir(parents=True)
        write_icon(icon)
        installed_kib = (tree_size(stage) + 1023) // 1024
        (stage / "DEBIAN").mkdir()
        (stage / "DEBIAN" / "control").write_text(control_file(version, arch, installed_kib))
        for folder in [stage, *stage.rglob("*")]:
            if folder.is_dir() and not folder.is_symlink():
                folder.chmod(0o755)

        def write(temp: Path) -> None:
            proc = subprocess.run(["dpkg-deb", "--root-owner-group", "-Zgzip", "-z6", "--build", str(stage),
                                   str(temp)], capture_output=True, text=True)
            if proc.returncode != 0:
                raise BuildError(f"dpkg-deb failed: {proc.stderr.strip()}")

        return atomic_write(target, write, overwrite=True)


def write_icon(target: Path) -> None:
    """The app's icon as a 256x256 PNG (resized when the source icon has another size)."""
    from PIL import Image

    with Image.open(ICON) as image:
        if image.size == (256, 256) and image.format == "PNG":
            shutil.copyfile(ICON, target)
        else:
            image.convert("RGBA").resize((256, 256), Image.LANCZOS).save(target)
    target.chmod(0o644)


# ---------------------------------------------------------------------------------------------- main
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--weights", type=Path, metavar="DIR",
                        help="folder holding generator.tflite and generator_fast.tflite (+ MODEL_CARD.md) to bundle "
                             "(default: weights/)")
    parser.add_argument("--allow-no-weights", action="store_true", help="trial build without weights")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    parser.add_argument("--work", type=Path, default=ROOT / "build" / "pyinstaller",
                        help="PyInstaller's work folder, reused between builds (default: build/pyinstaller)")
    parser.add_argument("--measure-start", action="store_true",
                        help="time launch -> first window frame on screen (needs Xvfb)")
    parser.add_argument("--screenshot", type=Path, metavar="PNG",
                        help="save the window after it processed the sample photo (needs Xvfb)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    dist, version = args.dist.resolve(), project_version()
    dist.mkdir(parents=True, exist_ok=True)
    try:
        start = time.perf_counter()
        bundle = run_pyinstaller(dist, args.work.resolve(), args.weights, args.allow_no_weights)
        size = tree_size(bundle)
        report("bundle", f"{bundle} in {time.perf_counter() - start:.0f} s, unpacked {mb(size)} "
                         f"({size / 2**20:.1f} MiB of the {SIZE_BUDGET_MIB} MiB budget)")
        report("self-test", f"passed in {self_test(bundle):.1f} s (clean environment, outside the source tree)")
        if args.measure_start:
            times = measure_start(bundle)
            report("start-up", f"launch -> first frame {times[0]:.2f} s on the first run, median "
                               f"{statistics.median(times):.2f} s of {len(times)}")
        if args.screenshot:
            screenshot(bundle, args.screenshot)
            report("screenshot", str(args.screenshot))
        start = time.perf_counter()
        archive = pack_archive(bundle, dist, version)
        report("archive", f"{archive} ({mb(archive.stat().st_size)}) in {time.perf_counter() - start:.0f} s")
        if sys.platform.startswith("linux") and shutil.which("dpkg-deb"):
            start = time.perf_counter()
            deb = pack_deb(bundle, dist, version)
            report("debian package", f"{deb} ({mb(deb.stat().st_size)}) in {time.perf_counter() - start:.0f} s")
        else:
            report("debian package", "skipped (needs Linux with dpkg-deb)")
    except xvfb.XvfbUnavailable as exc:
        print(f"build failed: measuring start-up and screenshots need Xvfb: {exc}", file=sys.stderr)
        return 1
    except BuildError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
