"""PLACEHOLDER: being written; replaced before anything lands."""
from secpipe.formats.interface import ReportFormat


def parse(data: bytes, source: str = "<report>"):
    raise NotImplementedError("semgrep parser not written yet")


FORMAT = ReportFormat(name="semgrep", title="semgrep", parse=parse, sniff=None)
