import subprocess
import sys

import pytest


def _run(code):
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()


def test_readme_api_imports_from_the_package():
    out = _run(
        "import netdiffus.synthesizer as s\n"
        "from netdiffus import TrafficSynthesizer, read_dataset, write_dataset\n"
        "print(TrafficSynthesizer is s.TrafficSynthesizer)"
    )
    assert out == "True"


def test_import_and_cli_parser_do_not_load_torch_or_dask():
    out = _run("import sys, netdiffus, netdiffus.cli.main as m; m.build_parser(); "
               "print([name in sys.modules for name in ('torch', 'dask', 'distributed')])")
    assert out == "[False, False, False]"


def test_unknown_attribute_is_an_attribute_error():
    import netdiffus

    with pytest.raises(AttributeError, match="module 'netdiffus' has no attribute 'nope'"):
        netdiffus.nope  # noqa: B018
