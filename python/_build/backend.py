"""An in-tree PEP 517 build backend for `pip install ./python`: configures reval's CMake build for the running
interpreter, builds the `reval_python` target and packs <build>/python/reval into a wheel. It needs no packages
from an index (build-system.requires is empty), so it works offline. The version is reval's project VERSION.

Environment: REVAL_PIP_BUILD_DIR (CMake build folder, default <checkout>/build-pip), REVAL_PIP_JOBS (parallel
build jobs, default the CPU count), REVAL_PIP_CMAKE_ARGS (extra -D... arguments, space-separated).
"""
import base64
import hashlib
import os
import re
import shlex
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # python/_build/backend.py -> the checkout


def _version():
    text = (ROOT / "CMakeLists.txt").read_text(encoding="utf-8")
    m = re.search(r"project\(\s*reval\s+VERSION\s+([0-9][0-9.]*)", text)
    if not m:
        raise RuntimeError(f"{ROOT / 'CMakeLists.txt'}: no 'project(reval VERSION x.y.z)'")
    return m.group(1)


def _tag():
    impl = f"cp{sys.version_info.major}{sys.version_info.minor}"
    plat = sysconfig.get_platform().replace("-", "_").replace(".", "_")
    return f"{impl}-{impl}-{plat}"


def _build_module():
    build = Path(os.environ.get("REVAL_PIP_BUILD_DIR", ROOT / "build-pip"))
    args = ["cmake", "-S", str(ROOT), "-B", str(build), "-DCMAKE_BUILD_TYPE=Release",
            f"-DPython3_EXECUTABLE={sys.executable}", "-DREVAL_BUILD_TESTS=OFF", "-DREVAL_BUILD_BENCH=OFF",
            "-DREVAL_BUILD_PYTHON=ON"]
    args += shlex.split(os.environ.get("REVAL_PIP_CMAKE_ARGS", ""))
    subprocess.run(args, check=True, stdout=sys.stderr)
    jobs = os.environ.get("REVAL_PIP_JOBS", str(os.cpu_count() or 1))
    subprocess.run(["cmake", "--build", str(build), "--target", "reval_python", "-j", jobs], check=True,
                   stdout=sys.stderr)
    package = build / "python" / "reval"
    if not any(package.glob("_reval*.so")):
        raise RuntimeError(f"{package}: the module was not built (are pybind11-dev and python3-dev installed?)")
    return package


def _record_line(name, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def _metadata(version):
    return (f"Metadata-Version: 2.1\nName: reval\nVersion: {version}\n"
            "Summary: reval's evaluation graders as RL reward functions (verl, TRL, batches)\n"
            "Requires-Python: >=3.8\n")


def get_requires_for_build_wheel(config_settings=None):
    return []


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    version = _version()
    info = Path(metadata_directory) / f"reval-{version}.dist-info"
    info.mkdir(parents=True, exist_ok=True)
    (info / "METADATA").write_text(_metadata(version), encoding="utf-8")
    return info.name


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    version = _version()
    package = _build_module()
    tag = _tag()
    name = f"reval-{version}-{tag}.whl"
    info = f"reval-{version}.dist-info"
    files = {}
    for path in sorted(package.iterdir()):
        if path.suffix == ".py" or (path.name.startswith("_reval") and path.suffix == ".so"):
            files[f"reval/{path.name}"] = path.read_bytes()
    files[f"{info}/METADATA"] = _metadata(version).encode()
    files[f"{info}/WHEEL"] = (f"Wheel-Version: 1.0\nGenerator: reval-backend\nRoot-Is-Purelib: false\n"
                              f"Tag: {tag}\n").encode()
    record = [_record_line(n, d) for n, d in files.items()] + [f"{info}/RECORD,,"]
    files[f"{info}/RECORD"] = ("\n".join(record) + "\n").encode()
    out = Path(wheel_directory) / name
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as z:
        for n, d in files.items():
            z.writestr(n, d)
    return name


def build_sdist(sdist_directory, config_settings=None):
    raise RuntimeError("reval's Python module is built from the reval checkout: pip install ./python")
